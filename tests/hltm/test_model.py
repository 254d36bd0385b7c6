"""Tests of the batched HLTM tree network against naive per-node computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from contrastlab.families.hltm.data import LatentTree
from contrastlab.families.hltm.model import TreeNet, block_diagonal, block_diagonal_view

from hltm.hltm_naive import naive_root_jacobian


def make_net(depth=3, b=2, hid=4, seeds=2, bn=False, seed=0) -> TreeNet:
    net = TreeNet(LatentTree(depth, b), hid, seeds, bn=bn)
    gens = [torch.Generator().manual_seed(seed + s) for s in range(seeds)]
    net.reset_parameters(gens)
    return net


def naive_forward(net: TreeNet, x: torch.Tensor, s: int, eval_bn: bool = False):
    """Per-node loop (the authors' Model.forward), seed s. Returns f and {node: pre}."""
    t = net.tree
    outs = {}  # breadth-first node index -> output (pre-activation), (B, k)
    for leaf in range(t.n_latent, t.n_nodes):
        outs[leaf] = x[:, leaf - t.n_latent].unsqueeze(1)
    for level in range(t.depth - 1, -1, -1):
        h = t.depth - level  # height
        for j in range(t.level_size(level)):
            node = t.level_offset(level) + j
            kids = t.level_offset(level + 1) + j * t.num_children + torch.arange(t.num_children)
            inp = torch.cat(
                [outs[int(k)] if h == 1 else torch.relu(outs[int(k)]) for k in kids], dim=1
            )
            pre = inp @ net.weight[h - 1][s, j].T + net.bias[h - 1][s, j]
            if net.bn and eval_bn:
                rm = getattr(net, f"running_mean_{h - 1}")[s, j]
                rv = getattr(net, f"running_var_{h - 1}")[s, j]
                pre = (pre - rm) / torch.sqrt(rv + 1e-5) * net.bn_weight[h - 1][s, j]
                pre = pre + net.bn_bias[h - 1][s, j]
            outs[node] = pre
    root = outs[0]
    return root / (root.norm(dim=1, keepdim=True) + net.eps), outs


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
        out = net(x, return_all=True)
        out_nodes = net.forward_nodes(x)
        t = net.tree
        for s in range(2):
            f, pres = naive_forward(net, x[s], s)
            torch.testing.assert_close(out.f[s], f, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(out_nodes.f[s], f, rtol=1e-5, atol=1e-6)
            for h in range(1, depth + 1):
                sl = t.height_slice(h)
                naive = torch.stack([pres[node] for node in range(sl.start, sl.stop)], dim=1)
                torch.testing.assert_close(out.pre[h - 1][s], naive, rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(
                    out_nodes.pre[h - 1][s].transpose(0, 1), naive, rtol=1e-5, atol=1e-6
                )

    def test_seeds_are_independent(self):
        net = make_net(seeds=3)
        x = torch.rand(3, 5, 8)
        f = net(x)
        single = TreeNet(net.tree, net.hid, 1)
        with torch.no_grad():
            for h in range(net.tree.depth):
                single.weight[h].copy_(net.weight[h][1:2])
                single.bias[h].copy_(net.bias[h][1:2])
        torch.testing.assert_close(single(x[1:2])[0], f[1], rtol=0, atol=0)

    def test_block_diagonal_roundtrip(self):
        w = torch.randn(2, 3, 4, 5)
        m = block_diagonal(w)
        assert m.shape == (2, 15, 12)
        assert torch.equal(block_diagonal_view(m, 3), w)
        # off-diagonal blocks are zero
        mask = torch.block_diag(*[torch.ones(5, 4)] * 3).bool()
        assert (m[:, ~mask] == 0).all()

    def test_batchnorm_train_groups_and_eval(self):
        net = make_net(depth=2, hid=3, seeds=2, bn=True)
        x = torch.randint(0, 2, (2, 12, 4)).float()
        net.train()
        out = net(x, bn_groups=3, return_all=True)
        # each third of the batch is normalised on its own statistics
        pre = out.pre[0].view(2, 3, 4, -1, 3)
        torch.testing.assert_close(pre.mean(2), torch.zeros_like(pre.mean(2)), atol=1e-5, rtol=0)
        # eval mode and forward_nodes both use the running statistics
        net.eval()
        f_eval = net(x)
        f_nodes = net.forward_nodes(x).f
        for s in range(2):
            f, _ = naive_forward(net, x[s], s, eval_bn=True)
            torch.testing.assert_close(f_eval[s], f, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(f_nodes[s], f, rtol=1e-5, atol=1e-6)


class TestJacobians:
    @pytest.mark.parametrize("bn", [False, True])
    def test_equal_autograd_jacobian_of_root(self, bn):
        """J_mu = d h_root / d h_mu (pre-activation) matches autograd on the naive loop."""
        depth, b, hid = 3, 2, 3
        net = make_net(depth, b, hid, seeds=1, bn=bn)
        if bn:  # non-trivial running statistics
            with torch.no_grad():
                for h in range(depth):
                    getattr(net, f"running_var_{h}").uniform_(0.5, 2.0)
                    getattr(net, f"running_mean_{h}").uniform_(-0.3, 0.3)
                    net.bn_weight[h].uniform_(0.5, 1.5)
        net.eval()
        x = torch.randint(0, 2, (1, 6, b**depth)).float()
        J = net.jacobians(net.forward_nodes(x).pre)
        t = net.tree
        for i in range(6):
            _, pres = naive_forward(net, x[0, i : i + 1], 0, eval_bn=bn)
            for h in range(1, depth + 1):
                sl = t.height_slice(h)
                for j, node in enumerate(range(sl.start, sl.stop)):
                    Jn = naive_root_jacobian(net, x[0, i : i + 1], node, pres[node], bn)
                    torch.testing.assert_close(J[h - 1][0, j, i], Jn, rtol=1e-5, atol=1e-6)
