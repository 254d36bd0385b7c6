"""Tests of the HLTM metrics: best correlation and covariance operator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlab.engine import streams
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler, LatentTree
from contrastlab.families.hltm.metrics import evaluate_epoch, pearson_best_corr
from contrastlab.families.hltm.model import TreeNet

from hltm.hltm_naive import naive_forward, naive_root_jacobian, pre_activations


def depth1_net(weights, biases) -> TreeNet:
    """One seed, depth 1: the root's units are given linear maps of its leaves."""
    w = torch.tensor(weights, dtype=torch.float32)  # (hid, n_leaves)
    net = TreeNet(LatentTree(1, w.shape[1]), w.shape[0], 1)
    with torch.no_grad():
        net.weight[0][0, 0] = w
        net.bias[0][0, 0] = torch.tensor(biases, dtype=torch.float32)
    return net


N_CORR = 40000


@pytest.fixture(scope="module")
def nodes():
    """Root z, then leaves: z, z with 20% flips, two independent bits (seed, node, N)."""
    g = torch.Generator().manual_seed(0)
    z = torch.rand(N_CORR, generator=g) < 0.5
    noisy = z ^ (torch.rand(N_CORR, generator=g) < 0.2)
    other = torch.rand(2, N_CORR, generator=g) < 0.5
    return torch.stack([z, z, noisy, *other])[None]


class TestBestCorr:
    def test_known_correlations(self, nodes):
        z = nodes[0, 0]
        const = [0.0, 0.0, 0.0, 0.0]
        cases = {  # units (rows: weights over the 4 leaves) -> expected best |corr|
            "exact": ([[0, 1, 0, 0], [1, 0, 0, 0], const], [0, 0, 3.25], 1.0),
            "anti": ([[-2, 0, 0, 0], const, [0, 0, 1, 0]], [5, 3.25, 0], 1.0),
            "noisy": ([[0, 1, 0, 0], const, [0, 0, 1, 1]], [0, 3.25, 0], 0.6),  # 1 - 2 * 0.2
        }
        for name, (w, b, expected) in cases.items():
            net = depth1_net(w, b)
            best = evaluate_epoch(net, nodes, chunk=7000)["best_corr"][0, 0].item()
            pre = pre_activations(net, nodes[:, 1:].float())[0][0, 0].T  # (N, hid)
            direct = pearson_best_corr(z, pre).item()
            assert best == pytest.approx(direct, abs=1e-7), name
            se = (1 - expected**2) / math.sqrt(N_CORR)
            assert best == pytest.approx(expected, abs=5 * se + 1e-9), name

    def test_constant_units_give_zero_not_nan(self, nodes):
        net = depth1_net([[0.0] * 4] * 3, [0.1234567, -2.5, 1e6])
        best = evaluate_epoch(net, nodes, chunk=3000)["best_corr"]
        assert torch.equal(best, torch.zeros_like(best))
        pre = torch.full((1000, 3), 0.1234567)
        assert torch.equal(pearson_best_corr(nodes[0, 0, :1000], pre), torch.tensor(0.0).double())

    def test_dead_units_below_patterns_give_zero(self):
        """A binary tree's lowest heights go through the leaf patterns: same guarantee."""
        cfg = HLTMConfig(depth=3, hid=3)
        sampler = HLTMSampler.from_config(cfg, [0])
        trip = sampler.sample_triplets(2000, streams([0], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 1)
        net.reset_parameters([torch.Generator().manual_seed(1)])
        with torch.no_grad():
            net.weight[0].zero_()  # height 1 = its biases: constant, and so is height 2
        best = evaluate_epoch(net, trip.anchors, chunk=300)["best_corr"]
        t = sampler.tree
        for h in (1, 2):
            assert torch.equal(best[0, t.height_slice(h)], torch.zeros(t.height_size(h))), h


def naive_cov_op(net: TreeNet, x: torch.Tensor, z: torch.Tensor, node: int, bn: bool = False):
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
        _, pres = naive_forward(net, xi, 0, eval_bn=bn)
        kids = t.level_offset(level + 1) + j * b + np.arange(b)
        a = torch.cat([pres[k] if h == 1 else torch.relu(pres[k]) for k in kids], 1)[0]
        J = naive_root_jacobian(net, xi, node, pres[node], bn)  # (root unit r, node unit c)
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


class TestCovarianceOperator:
    @pytest.mark.parametrize("depth,b", [(1, 2), (2, 2), (3, 2), (4, 2), (2, 3)])
    def test_tiny_tree_against_per_sample_computation(self, depth, b):
        """Both metrics of every node against per-sample references, with and without
        leaf patterns (binary trees of depth >= 2 use them)."""
        cfg = HLTMConfig(depth=depth, num_children=b, hid=3, delta_lower=0.5)
        sampler = HLTMSampler.from_config(cfg, [0])
        trip = sampler.sample_triplets(24, streams([0], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 1)
        net.reset_parameters([torch.Generator().manual_seed(5)])
        net.eval()
        x = trip.x
        res = evaluate_epoch(net, trip.anchors, chunk=10)  # several chunks
        _, pres = naive_forward(net, x[0], 0)
        for node in range(sampler.tree.n_latent):
            code, paper = naive_cov_op(net, x, trip.z, node)
            assert res["cov_op_norm"][0, node].item() == pytest.approx(code, rel=1e-4, abs=1e-9)
            assert res["cov_op_norm_paper"][0, node].item() == pytest.approx(
                paper, rel=1e-4, abs=1e-9
            )
            direct = pearson_best_corr(trip.z[0, :, node], pres[node]).item()
            assert res["best_corr"][0, node].item() == pytest.approx(direct, abs=1e-6)
        # the two unfoldings coincide at the root (J = I), not in general below
        assert res["cov_op_norm"][0, 0] == pytest.approx(res["cov_op_norm_paper"][0, 0].item())
        if depth > 2:
            assert not torch.allclose(res["cov_op_norm"][0, 1:], res["cov_op_norm_paper"][0, 1:])

    def test_with_batchnorm_equals_per_sample_computation(self):
        """Eval-mode BN: the effective weights and gates of the pattern heights too."""
        cfg = HLTMConfig(depth=3, hid=3, bn=True)
        sampler = HLTMSampler.from_config(cfg, [0])
        trip = sampler.sample_triplets(20, streams([0], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 1, bn=True)
        net.reset_parameters([torch.Generator().manual_seed(5)])
        with torch.no_grad():
            for h in range(cfg.depth):
                getattr(net, f"running_var_{h}").uniform_(0.5, 2.0)
                getattr(net, f"running_mean_{h}").uniform_(-0.3, 0.3)
                net.bn_weight[h].uniform_(0.5, 1.5)
        net.eval()
        res = evaluate_epoch(net, trip.anchors, chunk=8)
        for node in range(sampler.tree.n_latent):
            code, paper = naive_cov_op(net, trip.x, trip.z, node, bn=True)
            assert res["cov_op_norm"][0, node].item() == pytest.approx(code, rel=1e-4, abs=1e-9)
            assert res["cov_op_norm_paper"][0, node].item() == pytest.approx(
                paper, rel=1e-4, abs=1e-9
            )

    def test_epoch_metrics_shapes_and_chunk_invariance(self):
        cfg = HLTMConfig(depth=4, hid=5)
        sampler = HLTMSampler.from_config(cfg, [1, 2])
        trip = sampler.sample_triplets(3000, streams([1, 2], "hltm", "data"))
        net = TreeNet(sampler.tree, cfg.hid, 2)
        net.reset_parameters([torch.Generator().manual_seed(s) for s in (1, 2)])
        a = evaluate_epoch(net, trip.anchors, chunk=3000)
        b = evaluate_epoch(net, trip.anchors, chunk=128)
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
    full = evaluate_epoch(net, trip.anchors, chunk=100)
    part = evaluate_epoch(net, trip.anchors, chunk=100, cov_samples=250)  # -> 300 anchors
    head = evaluate_epoch(net, trip.anchors[..., :300], chunk=100)
    torch.testing.assert_close(part["best_corr"], full["best_corr"])
    torch.testing.assert_close(part["cov_op_norm"], head["cov_op_norm"])
    torch.testing.assert_close(part["cov_op_norm_paper"], head["cov_op_norm_paper"])


def test_metrics_of_a_seed_do_not_depend_on_the_batch():
    """Bit for bit: each seed's metrics alone equal its metrics in a batch."""
    cfg = HLTMConfig(depth=4, hid=4)
    seeds = [3, 4, 5]
    sampler = HLTMSampler.from_config(cfg, seeds)
    trip = sampler.sample_triplets(700, streams(seeds, "hltm", "data"))
    net = TreeNet(sampler.tree, cfg.hid, 3)
    net.reset_parameters(streams(seeds, "hltm", "init"))
    both = evaluate_epoch(net, trip.anchors, chunk=256, cov_samples=300)
    one = TreeNet(sampler.tree, cfg.hid, 1)
    one.load_state_dict({k: v[1:2] for k, v in net.state_dict().items()})
    alone = evaluate_epoch(one, trip.anchors[1:2], chunk=256, cov_samples=300)
    for k in both:
        assert torch.equal(both[k][1:2], alone[k]), k
