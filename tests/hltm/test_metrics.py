"""Tests of the HLTM metrics: best correlation and covariance operator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlab.engine import streams
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler, LatentTree
from contrastlab.families.hltm.metrics import EpochMetrics, evaluate_epoch, pearson_best_corr
from contrastlab.families.hltm.model import TreeNet

from hltm.hltm_naive import naive_root_jacobian


class TestBestCorr:
    def _metrics_for(self, z, pre, chunk):
        """Feed one height of constructed activations through EpochMetrics in chunks."""
        S, n, N, hid = pre.shape
        net = TreeNet(LatentTree(1, 2), hid, S)  # depth 1: one height of one node
        counts = torch.stack([(~z[:, 0]).sum(1), z[:, 0].sum(1)], 1)
        acc = EpochMetrics(net, counts)
        for i in range(0, N, chunk):
            acc.add_correlation(0, z[:, :, i : i + chunk], pre[:, :, i : i + chunk])
            acc.n += min(chunk, N - i)
        return acc.result()["best_corr"]

    def test_known_correlations(self):
        g = torch.Generator().manual_seed(0)
        N = 40000
        z = torch.rand(1, 1, N, generator=g) < 0.5  # (seed, node, N)
        zf = z.float()
        sigma = 0.8
        noisy = zf + sigma * torch.randn(1, 1, N, generator=g)
        const = torch.full((1, 1, N), 3.25)
        anti = -2.0 * zf + 5.0  # perfectly anti-correlated: |corr| = 1
        # node with an exact unit -> 1; without it -> the noisy unit's correlation
        pre_exact = torch.stack([noisy, zf, const], dim=-1)
        pre_noisy = torch.stack([noisy, const, const], dim=-1)
        best_exact = self._metrics_for(z, pre_exact, chunk=7000)
        best_noisy = self._metrics_for(z, pre_noisy, chunk=7000)
        best_anti = self._metrics_for(z, torch.stack([anti, const], -1), chunk=5000)
        assert best_exact.item() == pytest.approx(1.0, abs=1e-9)
        assert best_anti.item() == pytest.approx(1.0, abs=1e-9)
        expected = 0.5 / math.sqrt(0.25 + sigma**2)  # sd(z) / sd(z + noise)
        se = (1 - expected**2) / math.sqrt(N)
        assert best_noisy.item() == pytest.approx(expected, abs=5 * se)
        direct = pearson_best_corr(z[0, 0], pre_noisy[0, 0])
        assert best_noisy.item() == pytest.approx(direct.item(), abs=1e-6)

    def test_constant_units_give_zero_not_nan(self):
        z = torch.rand(2, 1, 1000, generator=torch.Generator().manual_seed(1)) < 0.5
        pre = torch.full((2, 1, 1000, 3), 0.1234567)
        best = self._metrics_for(z, pre, chunk=300)
        assert torch.equal(best, torch.zeros_like(best))
        assert torch.equal(pearson_best_corr(z[0, 0], pre[0, 0]), torch.tensor(0.0).double())


def naive_cov_op(net: TreeNet, x: torch.Tensor, z: torch.Tensor, node: int):
    """Explicit per-sample covariance operator of one node (seed 0), both unfoldings.

    K_i = a_i (x) J_i with J_i = d h_root / d h_node by autograd on a per-node
    loop, a_i = the node's layer input; class means over the root latent; Cov =
    sum_k p_k (Kbar_k - Kbar)(Kbar_k - Kbar)^T with explicit outer products.
    """
    t = net.tree
    level = int(t.node_level[node])
    h = t.depth - level
    j = node - t.level_offset(level)
    b = t.num_children
    K_code, K_paper, labels = [], [], []
    for i in range(x.shape[1]):
        xi = x[0, i : i + 1]
        pres = naive_forward(net, xi, 0)
        kids = t.level_offset(level + 1) + j * b + np.arange(b)
        a = torch.cat([pres[k] if h == 1 else torch.relu(pres[k]) for k in kids], 1)[0]
        J = autograd_jacobian(net, xi, node)  # (root unit r, node unit c)
        conn = a[:, None, None] * J[None]  # (a, r, c), the code's einsum "ia,ibc->iabc"
        K_code.append(conn.reshape(-1, conn.shape[-1]))  # rows (a, r), cols c
        K_paper.append(conn.permute(0, 2, 1).reshape(-1, conn.shape[1]))  # rows (a, c), cols r
        labels.append(int(z[0, i, 0]))
    labels = torch.tensor(labels)
    out = []
    for K in (torch.stack(K_code).double(), torch.stack(K_paper).double()):
        Kbar = K.mean(0)
        cov = torch.zeros(K.shape[1], K.shape[1], dtype=torch.float64)
        for k in (0, 1):
            sel = labels == k
            p = sel.double().mean()
            diff = K[sel].mean(0) - Kbar
            for col in range(diff.shape[1]):  # explicit outer products
                cov += p * torch.outer(diff[:, col], diff[:, col])
        out.append(torch.linalg.matrix_norm(cov).item())
    return out


def naive_forward(net: TreeNet, x: torch.Tensor, s: int):
    """Per-node loop of the network (seed s). Returns {breadth-first node: pre-activation}."""
    t = net.tree
    outs = {leaf: x[:, leaf - t.n_latent].unsqueeze(1) for leaf in range(t.n_latent, t.n_nodes)}
    for level in range(t.depth - 1, -1, -1):
        h = t.depth - level
        for j in range(t.level_size(level)):
            kids = t.level_offset(level + 1) + j * t.num_children + np.arange(t.num_children)
            inp = torch.cat([outs[k] if h == 1 else torch.relu(outs[k]) for k in kids], dim=1)
            outs[t.level_offset(level) + j] = (
                inp @ net.weight[h - 1][s, j].T + net.bias[h - 1][s, j]
            )
    return outs


def autograd_jacobian(net: TreeNet, x: torch.Tensor, node: int) -> torch.Tensor:
    """d h_root / d h_node (seed 0, one sample) by autograd, h_node made an input."""
    h0 = naive_forward(net, x, 0)[node].detach()
    return naive_root_jacobian(net, x, node, h0)  # (root unit, node unit)


class TestCovarianceOperator:
    @pytest.mark.parametrize("depth", [1, 2, 3])
    def test_tiny_tree_against_per_sample_computation(self, depth):
        cfg = HLTMConfig(depth=depth, hid=3, delta_lower=0.5)
        sampler = HLTMSampler.from_config(cfg, [0])
        trip = sampler.sample_triplets(24, streams([0], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 1)
        net.reset_parameters([torch.Generator().manual_seed(5)])
        net.eval()
        x = trip.x
        res = evaluate_epoch(net, trip.z, x, chunk=10)  # several chunks
        for node in range(sampler.tree.n_latent):
            code, paper = naive_cov_op(net, x, trip.z, node)
            assert res["cov_op_norm"][0, node].item() == pytest.approx(code, rel=1e-4, abs=1e-9)
            assert res["cov_op_norm_paper"][0, node].item() == pytest.approx(
                paper, rel=1e-4, abs=1e-9
            )
        # the two unfoldings coincide at the root (J = I), not in general below
        assert res["cov_op_norm"][0, 0] == pytest.approx(res["cov_op_norm_paper"][0, 0].item())
        if depth > 2:
            assert not torch.allclose(res["cov_op_norm"][0, 1:], res["cov_op_norm_paper"][0, 1:])

    def test_epoch_metrics_shapes_and_chunk_invariance(self):
        cfg = HLTMConfig(depth=4, hid=5)
        sampler = HLTMSampler.from_config(cfg, [1, 2])
        trip = sampler.sample_triplets(3000, streams([1, 2], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 2)
        net.reset_parameters([torch.Generator().manual_seed(s) for s in (1, 2)])
        a = evaluate_epoch(net, trip.z, trip.x, chunk=3000)
        b = evaluate_epoch(net, trip.z, trip.x, chunk=128)
        assert a["best_corr"].shape == (2, 15) and a["best_corr_height"].shape == (2, 4)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-9, msg=k)
        # best corr of the height mean is the mean of its nodes
        torch.testing.assert_close(a["best_corr_height"][:, -1], a["best_corr"][:, 0])
        torch.testing.assert_close(a["best_corr_height"][:, 0], a["best_corr"][:, 7:].mean(1))
        assert ((a["best_corr"] >= 0) & (a["best_corr"] <= 1)).all()
        w = net.weight[0][1, 3].norm().item()  # height 1, node 3 = breadth-first 7 + 3
        assert a["weight_norm"][1, 10].item() == pytest.approx(w, rel=1e-6)


def test_cov_samples_uses_first_anchors_only():
    cfg = HLTMConfig(depth=3, hid=3)
    sampler = HLTMSampler.from_config(cfg, [0, 1])
    trip = sampler.sample_triplets(1000, streams([0, 1], "hltm", "data"))
    net = TreeNet(sampler.tree, cfg.hid, 2)
    net.reset_parameters([torch.Generator().manual_seed(s) for s in (0, 1)])
    full = evaluate_epoch(net, trip.z, trip.x, chunk=100)
    part = evaluate_epoch(net, trip.z, trip.x, chunk=100, cov_samples=250)  # -> 300 anchors
    head = evaluate_epoch(net, trip.z[:, :300], trip.x[:, :300], chunk=100)
    torch.testing.assert_close(part["best_corr"], full["best_corr"])
    torch.testing.assert_close(part["cov_op_norm"], head["cov_op_norm"])
    torch.testing.assert_close(part["cov_op_norm_paper"], head["cov_op_norm_paper"])
