"""Tests of HLTM training: gradients, seed batching, determinism, checkpoints, claims, plots."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from contrastlab.families.hltm.claims import claims as hltm_claims
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import LatentTree
from contrastlab.families.hltm.model import TreeBackward, TreeNet
from contrastlab.families.hltm.task import hltm_loss
from contrastlab.params import to_sections
from contrastlab.pipeline import run_point

SMALL = HLTMConfig(depth=3, hid=4, epochs=2, samples_per_epoch=640, batch_size=64)


def quiet(_msg: str) -> None:
    pass


def train(cfg: HLTMConfig, seeds, **kw) -> xr.Dataset:
    kw.setdefault("log", quiet)
    return run_point({"family": "hltm", **to_sections(cfg)}, seeds, **kw)


class TestTreeBackward:
    @pytest.mark.parametrize(
        "loss,depth,b,hid",
        [("nce", 3, 2, 4), ("subtract", 3, 2, 4), ("infonce", 3, 2, 4), ("soft_triplet", 3, 2, 4)]
        + [("nce", 5, 2, 10), ("nce", 2, 2, 3)]  # leaf patterns: height 2 inside / the root
        + [("nce", 1, 2, 3), ("nce", 2, 3, 3)],  # no leaf patterns
    )
    def test_gradients_equal_autograd(self, loss, depth, b, hid):
        net = TreeNet(LatentTree(depth, b), hid, 2)
        net.reset_parameters([torch.Generator().manual_seed(s) for s in (0, 1)])
        gen = torch.Generator().manual_seed(2)
        xb = torch.randint(0, 2, (2, b**depth, 3 * 16), generator=gen).float()
        backward = TreeBackward(net)
        assert (backward.patterns is not None) == (b == 2 and depth >= 2)
        cfg = dataclasses.replace(SMALL, loss=loss)

        def loss_fn(f):
            return hltm_loss(cfg, f)

        lval, gW, gb = backward.gradients(xb, loss_fn)
        ref = loss_fn(net(xb))
        ref.sum().backward()
        torch.testing.assert_close(lval, ref.detach())
        for h in range(depth):
            torch.testing.assert_close(gW[h], net.weight[h].grad, rtol=1e-5, atol=1e-7)
            torch.testing.assert_close(gb[h], net.bias[h].grad, rtol=1e-5, atol=1e-7)

    def test_manual_sgd_step_equals_torch_sgd(self):
        net_a = TreeNet(LatentTree(2, 2), 3, 1)
        net_a.reset_parameters([torch.Generator().manual_seed(0)])
        net_b = TreeNet(LatentTree(2, 2), 3, 1)
        net_b.load_state_dict(net_a.state_dict())
        xb = torch.randint(0, 2, (1, 4, 30), generator=torch.Generator().manual_seed(1)).float()

        def loss_fn(f):
            return hltm_loss(SMALL, f)

        backward = TreeBackward(net_a)
        manual = backward.optimizer(0.1, loss_fn)
        opt = torch.optim.SGD(net_b.parameters(), lr=0.1)
        for _ in range(3):
            manual.train_step(xb)
            opt.zero_grad()
            loss_fn(net_b(xb)).sum().backward()
            opt.step()
        for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
            torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7)
        # the pattern tables follow the weights (they are rebuilt every step)
        torch.testing.assert_close(backward.gradients(xb, loss_fn)[0], loss_fn(net_a(xb)))

    def test_seed_gradients_do_not_depend_on_the_batch(self):
        """Bit for bit: a seed's gradients alone equal its gradients in a batch."""
        net = TreeNet(LatentTree(5, 2), 10, 3)
        net.reset_parameters([torch.Generator().manual_seed(s) for s in (0, 1, 2)])
        one = TreeNet(LatentTree(5, 2), 10, 1)
        one.load_state_dict({k: v[2:3] for k, v in net.state_dict().items()})
        xb = torch.randint(0, 2, (3, 32, 3 * 64), generator=torch.Generator().manual_seed(3))
        xb = xb.float()

        def loss_fn(f):
            return hltm_loss(SMALL, f)

        both = TreeBackward(net).gradients(xb, loss_fn)
        alone = TreeBackward(one).gradients(xb[2:3], loss_fn)
        assert torch.equal(both[0][2:3], alone[0])
        for a, b in zip(both[1] + both[2], alone[1] + alone[2], strict=True):
            assert torch.equal(a[2:3], b)


@pytest.fixture(scope="module")
def run():
    """A small two-seed run shared by the tests below."""
    return train(SMALL, [3, 5])


class TestTrainHLTM:
    def test_layout_and_attrs(self, run):
        ds = run
        assert dict(ds.sizes) == {"seed": 2, "epoch": 3, "node": 7, "height": 3}
        assert ds["best_corr"].dims == ("seed", "epoch", "node")
        assert ds["best_corr_height"].dims == ("seed", "epoch", "height")
        assert ds["loss"].dims == ("seed", "epoch")
        for name in ("cov_op_norm", "cov_op_norm_paper", "weight_norm"):
            assert ds[name].dims == ("seed", "epoch", "node")
        assert list(ds["node_height"].values) == [3, 2, 2, 1, 1, 1, 1]
        assert list(ds["node_level"].values) == [0, 1, 1, 2, 2, 2, 2]
        assert np.isnan(ds["loss"].sel(epoch=0)).all()
        assert np.isfinite(ds["loss"].sel(epoch=[1, 2])).all()
        for name in ("best_corr", "cov_op_norm", "weight_norm", "best_corr_height"):
            assert np.isfinite(ds[name]).all(), name

    def test_batched_equals_alone_at_paper_size(self):
        """Depth 5, hid 10 (leaf patterns, per-anchor heights 3..5): bit for bit."""
        cfg = HLTMConfig(epochs=1, samples_per_epoch=384, batch_size=64, cov_samples=128)
        both = train(cfg, [1, 2])
        alone = train(cfg, [2])
        for name in both.data_vars:
            np.testing.assert_array_equal(
                both[name].isel(seed=[1]).values, alone[name].values, err_msg=name
            )

    def test_progress_lines(self):
        lines = []
        train(dataclasses.replace(SMALL, epochs=2), [0], log=lines.append)
        epochs = [line for line in lines if line.startswith("hltm epoch")]
        assert len(epochs) == 2 and "root_corr" in epochs[0] and "eta" in epochs[1]

    @pytest.mark.parametrize("loss,bn", [("subtract", False), ("infonce", False), ("nce", True)])
    def test_other_losses_and_bn_run(self, loss, bn):
        cfg = dataclasses.replace(SMALL, loss=loss, bn=bn, epochs=1)
        ds = train(cfg, [1])
        assert np.isfinite(ds["best_corr"]).all() and np.isfinite(ds["loss"][:, 1]).all()

    def test_bn_resume_equals_uninterrupted(self, tmp_path):
        """BN keeps running statistics (buffers): they must be checkpointed too."""
        cfg = dataclasses.replace(SMALL, bn=True, epochs=2, checkpoint_every=1)
        straight = train(cfg, [1])
        ckpt = tmp_path / "bn.pt"
        train(dataclasses.replace(cfg, epochs=1), [1], checkpoint_path=ckpt)
        # a different epoch count is another config: start afresh, same numbers
        lines = []
        again = train(cfg, [1], checkpoint_path=ckpt, log=lines.append)
        assert any("another config" in line for line in lines)
        xr.testing.assert_equal(again, straight)


def fake_agg(
    seeds=(0, 1, 2),
    hids=(2, 5, 10),
    deltas=(0.7, 0.8, 0.9),
    sign=+1.0,
    noise=0.01,
) -> xr.Dataset:
    """An aggregated dataset whose numbers follow (sign=+1) or contradict (-1) the claims."""
    rng = np.random.default_rng(0)
    epochs, L = np.arange(4), 3
    nodes = np.arange(7)
    node_height = np.array([3, 2, 2, 1, 1, 1, 1])
    H, D, S, E = len(hids), len(deltas), len(seeds), len(epochs)
    hid_term = np.asarray(hids, float)[:, None, None, None, None] / 100
    delta_term = np.asarray(deltas, float)[None, :, None, None, None] / 2
    epoch_term = epochs[None, None, None, :, None] / 20
    height_term = -node_height[None, None, None, None, :] / 50  # root lowest
    corr = 0.6 + sign * (hid_term + delta_term + epoch_term + height_term)
    corr = corr + noise * rng.standard_normal((H, D, S, E, len(nodes)))
    corr_h = np.stack([corr[..., node_height == h].mean(-1) for h in range(1, L + 1)], -1)
    cov = 1e-3 * 10.0 ** (sign * epochs)[None, None, None, :, None] * np.ones_like(corr)
    dims = ("hid", "delta_lower", "seed", "epoch", "node")
    attrs = {"long_name": "x", "units": "1"}
    return xr.Dataset(
        {
            "best_corr": (dims, corr, attrs),
            "best_corr_height": (dims[:-1] + ("height",), corr_h, attrs),
            "cov_op_norm": (dims, cov, attrs),
            "loss": (dims[:-1], np.zeros((H, D, S, E)), attrs),
        },
        coords={
            "hid": ("hid", list(hids), attrs),
            "delta_lower": ("delta_lower", list(deltas), attrs),
            "seed": ("seed", list(seeds), attrs),
            "epoch": ("epoch", epochs, attrs),
            "node": ("node", nodes, attrs),
            "height": ("height", np.arange(1, L + 1), attrs),
            "node_height": ("node", node_height, attrs),
        },
    )


class TestClaims:
    def test_all_supported(self):
        table = hltm_claims(fake_agg(sign=+1))
        assert isinstance(table, pd.DataFrame) and len(table) == 5
        assert (table["verdict"] == "supported").all(), table
        assert (table["paper"] == "Tian et al. 2020").all()
        assert (table["n_seeds"] == 3).all()
        cov_row = table[table["claim"].str.contains("covariance")].iloc[0]
        assert cov_row["effect"] == pytest.approx(3.0)  # three orders of magnitude
        assert (table["source"].str.startswith("Sec. 6")).all() and (
            table["setting"] == "paper"
        ).all()
        assert not table["degenerate"].any()

    def test_collapsed_seeds_are_flagged(self):
        agg = fake_agg()
        root = 0
        dead = agg["best_corr"].loc[dict(hid=2, seed=1, node=root)].copy()
        agg["best_corr"].loc[dict(hid=2, seed=1, node=root)] = dead * 0  # root units died
        table = hltm_claims(agg)
        assert (table["degenerate"] == "1 of 3 seeds collapsed (root units died; hid 2; "
                "delta_lower 0.7, 0.8, 0.9)").all()  # fmt: skip

    def test_all_contradicted(self):
        table = hltm_claims(fake_agg(sign=-1))
        assert (table["verdict"] == "contradicted").all(), table

    def test_single_value_sweep_axis_is_inconclusive(self):
        table = hltm_claims(fake_agg(hids=(10,)))
        row = table[table["claim"].str.contains("over-parameterisation")].iloc[0]
        assert row["verdict"] == "inconclusive" and row["n_seeds"] == 0
        other = table[~table["claim"].str.contains("over-parameterisation")]
        assert (other["verdict"] == "supported").all()
        # a sweep dim missing altogether behaves the same
        table = hltm_claims(fake_agg(deltas=(0.9,)).squeeze("delta_lower", drop=True))
        row = table[table["claim"].str.contains("polarity")].iloc[0]
        assert row["verdict"] == "inconclusive" and row["n_seeds"] == 0

    def test_on_real_run(self):
        ds = train(dataclasses.replace(SMALL, epochs=1), [0, 1])
        agg = ds.expand_dims(hid=[4], delta_lower=[0.7])
        table = hltm_claims(agg)
        assert len(table) == 5 and set(table["verdict"]) <= {
            "supported",
            "contradicted",
            "inconclusive",
        }


class TestPlots:
    @pytest.mark.parametrize("ext,hids,deltas", [("svg", (2, 10), (0.9,)), ("png", (10,), (0.9,))])
    def test_figures_written(self, tmp_path, ext, hids, deltas):
        from contrastlab.families.hltm import plots

        agg = fake_agg(hids=hids, deltas=deltas)
        for name, fn in (
            ("corr", plots.plot_corr_by_height),
            ("root", plots.plot_root_corr),
            ("cov", plots.plot_cov_op),
        ):
            path = tmp_path / f"{name}.{ext}"
            fn(agg, path)
            assert path.stat().st_size > 1000
        import matplotlib.pyplot as plt

        assert not plt.get_fignums()  # every figure closed


@pytest.mark.slow
def test_training_raises_root_correlation():
    """Science check at a reduced size: the root correlation rises with training."""
    cfg = HLTMConfig(hid=10, delta_lower=0.9, epochs=2, samples_per_epoch=16000)
    ds = train(cfg, [0, 1, 2])
    gain = ds["best_corr"].sel(node=0, epoch=2) - ds["best_corr"].sel(node=0, epoch=0)
    assert (gain > 0).all()
    growth = ds["cov_op_norm"].sel(node=0, epoch=2) / ds["cov_op_norm"].sel(node=0, epoch=0)
    assert (growth > 10).all()
