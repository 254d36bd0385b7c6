"""Tests of the HLTM tree, polarities and sampler (contrastlab.families.hltm.data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contrastlab.config import check_experiment
from contrastlab.engine import streams
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import (
    DRAW_BLOCK,
    HLTMSampler,
    LatentTree,
    Triplets,
    sample_polarities,
)


class TestConfig:
    def test_defaults_are_the_papers(self):
        cfg = HLTMConfig()
        assert (cfg.depth, cfg.num_children, cfg.hid, cfg.batch_size) == (5, 2, 10, 128)
        assert (cfg.delta_lower, cfg.delta_upper, cfg.lr, cfg.loss) == (0.7, 1.0, 0.1, "nce")
        assert check_experiment({"family": "hltm"}) == cfg

    @pytest.mark.parametrize(
        "section,key,value",
        [
            ("data", "depth", 0),
            ("data", "num_children", 1),
            ("model", "hid", 0),
            ("data", "delta_lower", -0.1),
            ("data", "delta_upper", 0.5),  # below delta_lower: a cross-field rule
            ("loss", "temperature", 0.0),
            ("loss", "kind", "bogus"),
            ("train", "batch_size", 1.5),
            ("model", "bn", "yes"),
        ],
    )
    def test_invalid_key_named(self, section, key, value):
        with pytest.raises(ValueError, match=rf"{section}\.{key}"):
            check_experiment({"family": "hltm", section: {key: value}})

    def test_unknown_key_rejected(self):
        with pytest.raises(ValueError, match="typo"):
            check_experiment({"family": "hltm", "data": {"typo": 1}})


class TestTree:
    @pytest.mark.parametrize("depth,b", [(1, 2), (3, 2), (5, 2), (2, 3)])
    def test_layout(self, depth, b):
        t = LatentTree(depth, b)
        assert t.n_leaves == b**depth
        assert t.n_nodes == t.n_latent + t.n_leaves
        assert t.n_edges == t.n_nodes - 1
        # children of node p are contiguous and have p as parent
        for node in range(t.n_latent):
            lv = t.node_level[node]
            pos = node - t.level_offset(lv)
            kids = t.level_offset(lv + 1) + pos * b + np.arange(b)
            assert (t.node_parent[kids] == node).all()
        assert t.node_name[0] == "s" and len(set(t.node_name)) == t.n_nodes
        assert sum(t.height_size(h) for h in range(1, depth + 1)) == t.n_latent


class TestPolarities:
    def test_range_and_signs(self):
        t = LatentTree(5, 2)
        rho = sample_polarities(t, list(range(20)), 0.7, 1.0)
        assert rho.shape == (20, t.n_edges)
        assert (rho.abs() >= 0.7).all() and (rho.abs() <= 1.0).all()
        frac_pos = (rho > 0).double().mean().item()
        assert 0.4 < frac_pos < 0.6

    def test_batched_equals_alone_and_coupled_across_delta(self):
        t = LatentTree(4, 2)
        both = sample_polarities(t, [3, 7], 0.8)
        assert torch.equal(both[1], sample_polarities(t, [7], 0.8)[0])
        # same seed, other delta_lower: same signs, monotone magnitudes
        other = sample_polarities(t, [3, 7], 0.9)
        assert torch.equal(torch.sign(both), torch.sign(other))
        assert (other.abs() >= both.abs()).all()


@pytest.fixture(scope="module")
def sampled():
    """Two trees of depth 3 with weak polarities and 40000 triplets each."""
    cfg = HLTMConfig(depth=3, delta_lower=0.3)
    sampler = HLTMSampler.from_config(cfg, [11, 12])
    trip = sampler.sample_triplets(40000, streams([11, 12], "hltm", "data"))
    return sampler, trip


class TestSampler:
    def test_edge_agreement_rate(self, sampled):
        sampler, trip = sampled
        t = sampler.tree
        child = np.arange(1, t.n_nodes)
        parent = t.node_parent[child]
        for z in (trip.z, trip.z_neg):
            agree = (z[:, :, child] == z[:, :, parent]).double().mean(1)  # (seed, edge)
            p = (1 + sampler.rho) / 2
            se = torch.sqrt(p * (1 - p) / z.shape[1]).clamp(min=1e-3)
            assert ((agree - p).abs() <= 5 * se).all()

    def test_root_balance(self, sampled):
        _, trip = sampled
        n = trip.z.shape[1]
        frac = trip.z[:, :, 0].double().mean(1)
        assert ((frac - 0.5).abs() < 5 * 0.5 / np.sqrt(n)).all()

    def test_positive_shares_root_and_resamples_below(self, sampled):
        sampler, trip = sampled
        t = sampler.tree
        assert torch.equal(trip.z[:, :, 0], trip.z_pos[:, :, 0])
        # given the root, x and x+ are independent draws: P(leaf agrees) =
        # (1 + m^2) / 2 with m = product of the rho on the root-to-leaf path
        n = trip.z.shape[1]
        for leaf in range(t.n_latent, t.n_nodes):
            m = torch.ones(len(sampler.seeds), dtype=torch.float64)
            node = leaf
            while node > 0:
                m = m * sampler.rho[:, node - 1]
                node = t.node_parent[node]
            expected = (1 + m**2) / 2
            agree = (trip.z[:, :, leaf] == trip.z_pos[:, :, leaf]).double().mean(1)
            se = torch.sqrt(expected * (1 - expected) / n).clamp(min=1e-3)
            assert ((agree - expected).abs() <= 5 * se).all()
            assert (agree < 0.999).all()  # not a copy
        # negatives are independent of the anchor, root included
        agree_root = (trip.z[:, :, 0] == trip.z_neg[:, :, 0]).double().mean(1)
        assert ((agree_root - 0.5).abs() < 5 * 0.5 / np.sqrt(n)).all()

    def test_inputs_are_leaves(self, sampled):
        sampler, trip = sampled
        x = trip.x
        assert x.dtype == torch.float32 and x.is_contiguous()
        assert x.shape == (2, trip.z.shape[1], sampler.tree.n_leaves)
        assert torch.equal(x, trip.z[..., sampler.tree.n_latent :].float())

    def test_batched_seeds_equal_each_seed_alone(self):
        cfg = HLTMConfig(depth=4)
        both = HLTMSampler.from_config(cfg, [5, 9])
        t2 = both.sample_triplets(1000, streams([5, 9], "hltm", "data"))
        alone = HLTMSampler.from_config(cfg, [9])
        t1 = alone.sample_triplets(1000, streams([9], "hltm", "data"))
        for a, b in ((t2.z, t1.z), (t2.z_pos, t1.z_pos), (t2.z_neg, t1.z_neg)):
            assert torch.equal(a[1], b[0])

    def test_pieces_give_the_numbers_of_one_draw_per_seed(self):
        """The CPU sampler draws its uniforms in cache-sized pieces: the bits are those of
        one torch.rand((n_nodes, 3, n)) per seed compared with the thresholds."""
        sampler = HLTMSampler.from_config(HLTMConfig(depth=3), [4, 5])
        n = 50000  # 3 n uniforms per node: several pieces, the last one partial
        assert 3 * n > DRAW_BLOCK and (3 * n) % DRAW_BLOCK
        trip = sampler.sample_triplets(n, streams([4, 5], "hltm", "data"))
        for s, g in enumerate(streams([4, 5], "hltm", "data")):
            u = torch.rand((sampler.tree.n_nodes, 3, n), generator=g)
            bits = u < sampler._threshold[s][:, None, None]
            bits[0, 1] = bits[0, 0]
            assert torch.equal(trip.nodes[s], sampler._propagate(bits[None])[0])

    @pytest.mark.parametrize("n,batch", [(640, 64), (1000, 128)])
    def test_batches_are_the_inputs_in_order(self, sampled, n, batch):
        """Triplets.batches (re-laid out per epoch, one buffer) = inputs() batch by batch,
        [anchors | positives | negatives] of the leaves, feature-major."""
        _, trip = sampled
        trip = Triplets(trip.nodes[..., :n], trip.n_latent)
        starts = list(range(0, n, batch))
        for i, x in zip(starts, trip.batches(batch), strict=True):
            stop = min(i + batch, n)
            expected = torch.cat(
                [trip.x[:, i:stop], trip.x_pos[:, i:stop], trip.x_neg[:, i:stop]], 1
            )
            assert torch.equal(x, expected.transpose(1, 2))
            assert torch.equal(x, trip.inputs(i, stop))

    def test_conditioned_sample(self):
        sampler = HLTMSampler.from_config(HLTMConfig(depth=3), [1])
        root = torch.ones(1, 500, dtype=torch.bool)
        z = sampler.sample(500, streams([1], "hltm", "data"), root=root)
        assert z.shape == (1, 500, sampler.tree.n_nodes)
        assert z[:, :, 0].all()

    def test_epoch_sampling_is_fast(self):
        import time

        sampler = HLTMSampler.from_config(HLTMConfig(), [0, 1, 2])
        gens = streams([0, 1, 2], "hltm", "data")
        t0 = time.perf_counter()
        trip = sampler.sample_triplets(64000, gens)
        _ = trip.x, trip.x_pos, trip.x_neg
        assert time.perf_counter() - t0 < 5.0  # ~0.2 s here; no per-sample Python loop


class TestTreeDataset:
    def test_roundtrip_and_attrs(self, tmp_path):
        cfg = HLTMConfig(depth=3, delta_lower=0.8)
        ds = HLTMSampler.from_config(cfg, [4, 2]).to_dataset()
        assert dict(ds.sizes) == {"seed": 2, "edge": 14}
        for name in list(ds.data_vars) + list(ds.coords):
            assert {"long_name", "units"} <= set(ds[name].attrs), name
        path = tmp_path / "tree.nc"
        ds.to_netcdf(path)
        import xarray as xr

        with xr.open_dataset(path) as back:
            sampler = HLTMSampler.from_dataset(back.load())
        orig = HLTMSampler.from_config(cfg, [4, 2])
        assert sampler.seeds == [4, 2] and sampler.tree == orig.tree
        assert torch.equal(sampler.rho, orig.rho)
        gens_a = streams([4, 2], "hltm", "data")
        gens_b = streams([4, 2], "hltm", "data")
        assert torch.equal(sampler.sample(100, gens_a), orig.sample(100, gens_b))
