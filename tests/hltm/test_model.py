"""Tests of the batched HLTM tree network against naive per-node computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from contrastlab.families.hltm.data import LatentTree
from contrastlab.families.hltm.model import LeafPatterns, TreeNet

from hltm.hltm_naive import feature_major, naive_forward, naive_root_jacobian, pre_activations


def make_net(depth=3, b=2, hid=4, seeds=2, bn=False, seed=0) -> TreeNet:
    net = TreeNet(LatentTree(depth, b), hid, seeds, bn=bn)
    gens = [torch.Generator().manual_seed(seed + s) for s in range(seeds)]
    net.reset_parameters(gens)
    return net


class TestInit:
    def test_matches_nn_linear_default_init(self):
        """Same generator state -> bit-identical to nn.Linear's own init, node by node."""
        depth, b, hid = 3, 2, 5
        net = TreeNet(LatentTree(depth, b), hid, 1)
        net.reset_parameters([torch.Generator().manual_seed(123)])
        torch.manual_seed(123)  # nn.Linear draws from the global generator
        for h in range(1, depth + 1):  # bottom-up, left to right
            fan_in = b * (1 if h == 1 else hid)
            for j in range(net.tree.height_size(h)):
                lin = nn.Linear(fan_in, hid)
                assert torch.equal(net.weight[h - 1][0, j], lin.weight.data)
                assert torch.equal(net.bias[h - 1][0, j], lin.bias.data)
        bound = 1 / math.sqrt(b * hid)
        assert net.weight[-1].abs().max() <= bound


class TestForward:
    @pytest.mark.parametrize("depth,b,hid", [(1, 2, 3), (3, 2, 4), (2, 3, 2), (5, 2, 10)])
    def test_batched_equals_naive_per_node_loop(self, depth, b, hid):
        net = make_net(depth, b, hid, seeds=2)
        x = torch.randint(0, 2, (2, 7, b**depth)).float()
        f_all = net(feature_major(x))
        pre = pre_activations(net, feature_major(x))
        t = net.tree
        for s in range(2):
            f, pres = naive_forward(net, x[s], s)
            torch.testing.assert_close(f_all[s], f, rtol=1e-5, atol=1e-6)
            for h in range(1, depth + 1):
                sl = t.height_slice(h)
                naive = torch.stack([pres[node] for node in range(sl.start, sl.stop)], dim=1)
                got = pre[h - 1][s].permute(2, 0, 1)  # (node, unit, sample) -> (sample, node, unit)
                torch.testing.assert_close(got, naive, rtol=1e-5, atol=1e-6)

    def test_seeds_are_independent(self):
        net = make_net(seeds=3)
        x = torch.rand(3, 8, 5)
        f = net(x)
        single = TreeNet(net.tree, net.hid, 1)
        with torch.no_grad():
            for h in range(net.tree.depth):
                single.weight[h].copy_(net.weight[h][1:2])
                single.bias[h].copy_(net.bias[h][1:2])
        torch.testing.assert_close(single(x[1:2])[0], f[1], rtol=0, atol=0)

    def test_batchnorm_train_groups_and_eval(self):
        net = make_net(depth=2, hid=3, seeds=2, bn=True)
        x = torch.randint(0, 2, (2, 12, 4)).float()
        net.train()
        pre = pre_activations(net, feature_major(x), bn_groups=3)
        # each third of the batch is normalised on its own statistics
        mean = pre[0].view(2, 2, 3, 3, 4).mean(-1)
        torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
        # eval mode and the metrics' pass (bn_groups None) use the running statistics
        net.eval()
        f_eval = net(feature_major(x))
        with torch.no_grad():
            root = net.forward_features(feature_major(x))[-1]
        f_nodes = net.normalise(root[:, 0].transpose(1, 2))
        for s in range(2):
            f, _ = naive_forward(net, x[s], s, eval_bn=True)
            torch.testing.assert_close(f_eval[s], f, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(f_nodes[s], f, rtol=1e-5, atol=1e-6)


class TestLeafPatterns:
    @pytest.mark.parametrize(
        "depth,b,expected", [(1, 2, False), (2, 2, True), (5, 2, True), (3, 3, False)]
    )
    def test_applies(self, depth, b, expected):
        assert LeafPatterns.applies(LatentTree(depth, b)) == expected

    @pytest.mark.parametrize("depth,bn", [(2, False), (4, False), (3, True)])
    def test_table_columns_are_the_per_sample_pass(self, depth, bn):
        """Heights 1, 2 of every sample = its pattern's column of the table (BN in eval)."""
        net = make_net(depth, 2, 5, seeds=2, bn=bn)
        if bn:
            with torch.no_grad():
                for h in range(depth):
                    getattr(net, f"running_var_{h}").uniform_(0.5, 2.0)
                    getattr(net, f"running_mean_{h}").uniform_(-0.3, 0.3)
        net.eval()
        pat = LeafPatterns(net.tree)
        x = feature_major(torch.randint(0, 2, (2, 40, 2**depth)).float())
        pre = pre_activations(net, x)
        table = pre_activations(net, pat.leaves(2), heights=range(2))
        codes = pat.codes(x)
        assert codes.shape == (2, 2 ** (depth - 2), 1, 40)
        for h in (0, 1):
            node_codes = codes.repeat_interleave(2 ** (1 - h), 1)
            got = pat.select(table[h].contiguous(), node_codes)
            torch.testing.assert_close(got, pre[h], rtol=1e-6, atol=1e-6)
        # sum_by_pattern is the adjoint of select: <select(T), v> = <T, sum_by_pattern(v)>
        v = torch.randn(2, 2 ** (depth - 2), 3, 40, dtype=torch.float64)
        T = torch.randn(2, 2 ** (depth - 2), 3, 16, dtype=torch.float64)
        lhs = (pat.select(T, codes) * v).sum()
        torch.testing.assert_close(lhs, (T * pat.sum_by_pattern(v, codes)).sum())
        # the one-hot GEMM (used off the CPU) gives the same sums
        by_gemm = torch.bmm(v.flatten(0, 1), pat.onehot(codes, v.dtype).transpose(1, 2))
        torch.testing.assert_close(by_gemm.view_as(T), pat.sum_by_pattern(v, codes))


class TestJacobians:
    @pytest.mark.parametrize("bn,b", [(False, 2), (True, 2), (False, 3)])
    def test_equal_autograd_jacobian_of_root(self, bn, b):
        """J_mu = d h_root / d h_mu (pre-activation) matches autograd on the naive loop."""
        depth, hid = (3, 3) if b == 2 else (2, 2)
        net = make_net(depth, b, hid, seeds=1, bn=bn)
        if bn:  # non-trivial running statistics
            with torch.no_grad():
                for h in range(depth):
                    getattr(net, f"running_var_{h}").uniform_(0.5, 2.0)
                    getattr(net, f"running_mean_{h}").uniform_(-0.3, 0.3)
                    net.bn_weight[h].uniform_(0.5, 1.5)
        net.eval()
        x = torch.randint(0, 2, (1, 6, b**depth)).float()
        with torch.no_grad():
            J = net.jacobians(net.forward_features(feature_major(x)))
        t = net.tree
        for i in range(6):
            _, pres = naive_forward(net, x[0, i : i + 1], 0, eval_bn=bn)
            for h in range(1, depth + 1):
                sl = t.height_slice(h)
                for j, node in enumerate(range(sl.start, sl.stop)):
                    Jn = naive_root_jacobian(net, x[0, i : i + 1], node, pres[node], bn)
                    got = J[h - 1][0, j, :, :, i].T  # (node unit, root unit) -> (root, node)
                    torch.testing.assert_close(got, Jn, rtol=1e-5, atol=1e-6)
