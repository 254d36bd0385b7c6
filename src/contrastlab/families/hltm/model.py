"""Tree-shaped ReLU network mirroring the HLTM, batched over seeds and over the nodes of a height.

Each latent node mu owns a ``Linear(#children * k -> hid)`` with bias (k = 1
for the parents of leaves, else ``hid``) applied to the ReLU of its children's
outputs (for leaves: the raw leaf values, no ReLU, as in the authors'
``Model.forward``). The network output is the root's pre-activation h_root,
normalised: f = h_root / (|h_root| + eps). No projection head.

Parameters. ``weight[h - 1]`` holds the weights of all nodes at height h,
Shape (seed, n_h, hid, in_h) -- each node's matrix in ``nn.Linear``'s
(out, in) layout -- and ``bias[h - 1]`` Shape (seed, n_h, hid).

Two equivalent ways to run a height, both one batched op:

* :meth:`TreeNet.forward` (training): the "flat" layout (seed, B, n_h * f) in
  which the children of a node are contiguous (breadth-first order), so
  ReLU(height h) *is* the input of height h + 1 without any copy. A height is
  one ``baddbmm`` with the block-diagonal matrix of its nodes' weights,
  (seed, n_h * in, n_h * hid). On CPU, with these tiny matrices, one GEMM
  per height beats a bmm over (seed, node) (per-matrix overhead dominates).
* :meth:`TreeNet.forward_nodes` (metrics, large chunks): the node-major layout
  (seed, n_h, C, f) and a bmm over (seed, node) with the exact FLOP count,
  which the Jacobians of the covariance operator need anyway.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, Sec. 6, https://arxiv.org/abs/2010.00578
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py (class Model,
      Model.computeJ)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from contrastlab.families.hltm.data import LatentTree
from contrastlab.optim import ManualSGD

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass
class TreeNetOutput:
    """Forward pass results.

    Attributes:
        f: normalised output. Shape: (seed, B, hid).
        pre: pre-activation of every height, index h - 1 for height h (index
            L - 1 = root). Each Shape: (seed, B, n_h, hid) from ``forward``,
            (seed, n_h, B, hid) from ``forward_nodes``.
        inputs: the layer input of every height (ReLU of the children's
            outputs; raw leaves for height 1). Each Shape: (seed, B, n_h, in_h)
            from ``forward``, (seed, n_h, B, in_h) from ``forward_nodes``.
    """

    f: torch.Tensor
    pre: list[torch.Tensor]
    inputs: list[torch.Tensor]


def block_diagonal(w: torch.Tensor) -> torch.Tensor:
    """Block-diagonal matrix of per-node weights, for ``input @ matrix`` (differentiable).

    Args:
        w: node weights in (out, in) layout. Shape: (seed, n, out, in).

    Returns:
        M with M[s, j*in + a, j*out + c] = w[s, j, c, a], zero off the blocks.
        Shape: (seed, n * in, n * out).
    """
    S, n, o, i = w.shape
    m = w.new_zeros(S, n, i, n, o)
    m.diagonal(dim1=1, dim2=3).copy_(w.permute(0, 3, 2, 1))  # diagonal view: (S, in, out, n)
    return m.view(S, n * i, n * o)


def block_diagonal_view(m: torch.Tensor, n: int) -> torch.Tensor:
    """The diagonal blocks of ``m`` as a (seed, n, out, in) view (inverse of ``block_diagonal``)."""
    S, ni, no = m.shape
    return m.view(S, n, ni // n, n, no // n).diagonal(dim1=1, dim2=3).permute(0, 3, 2, 1)


class TreeNet(nn.Module):
    """The HLTM network of Tian et al. 2020 for a batch of independent seeds.

    Args:
        tree: the latent tree the network mirrors.
        hid: units per latent node (|N^ch_mu|).
        n_seeds: number of independent networks (leading dim of every tensor).
        bn: BatchNorm1d on every node's pre-activation, root included (default
            False, as the authors' code). Statistics are per seed and node; in
            training mode they are batch statistics, computed separately for
            each of ``bn_groups`` equal parts of the batch (the anchors,
            positives and negatives are separate forward calls in the authors'
            code); running statistics (momentum 0.1, unbiased variance, as
            ``nn.BatchNorm1d``) are used in eval mode and by ``forward_nodes``.
        eps: epsilon of the output normalisation. Default 1e-4.

    Shape:
        - input x: (seed, B, n_leaves) float.
        - output f: (seed, B, hid).
    """

    def __init__(
        self, tree: LatentTree, hid: int, n_seeds: int, bn: bool = False, eps: float = 1e-4
    ) -> None:
        super().__init__()
        self.tree = tree
        self.hid = int(hid)
        self.n_seeds = int(n_seeds)
        self.bn = bool(bn)
        self.eps = float(eps)
        b, L = tree.num_children, tree.depth
        self.in_dims = [b * (1 if h == 1 else hid) for h in range(1, L + 1)]
        self.n_nodes = [tree.height_size(h) for h in range(1, L + 1)]
        S = self.n_seeds
        self.weight = nn.ParameterList(
            [
                nn.Parameter(torch.zeros(S, n, hid, i))
                for n, i in zip(self.n_nodes, self.in_dims, strict=True)
            ]
        )
        self.bias = nn.ParameterList([nn.Parameter(torch.zeros(S, n, hid)) for n in self.n_nodes])
        if self.bn:
            self.bn_weight = nn.ParameterList(
                [nn.Parameter(torch.ones(S, n, hid)) for n in self.n_nodes]
            )
            self.bn_bias = nn.ParameterList(
                [nn.Parameter(torch.zeros(S, n, hid)) for n in self.n_nodes]
            )
            for h, n in enumerate(self.n_nodes):
                self.register_buffer(f"running_mean_{h}", torch.zeros(S, n, hid))
                self.register_buffer(f"running_var_{h}", torch.ones(S, n, hid))

    # -- init -------------------------------------------------------------------
    @torch.no_grad()
    def reset_parameters(self, generators: Sequence[torch.Generator]) -> None:
        """PyTorch's default ``nn.Linear`` init, per seed from that seed's generator.

        For each seed, nodes are visited bottom-up (height 1 first, left to
        right; the order of the authors' ``nets`` ModuleDict) and each draws
        its weight with ``kaiming_uniform_(a=sqrt(5))`` -- i.e. U(-1/sqrt(fan_in),
        1/sqrt(fan_in)) -- then its bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        exactly as ``nn.Linear.reset_parameters`` does with the global generator.
        """
        if len(generators) != self.n_seeds:
            raise ValueError(f"need {self.n_seeds} generators, got {len(generators)}")
        for s, g in enumerate(generators):
            for h, (n, fan_in) in enumerate(zip(self.n_nodes, self.in_dims, strict=True)):
                bound = 1 / math.sqrt(fan_in)
                for j in range(n):
                    w = torch.empty(self.hid, fan_in)
                    nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
                    bias = torch.empty(self.hid)
                    nn.init.uniform_(bias, -bound, bound, generator=g)
                    self.weight[h][s, j].copy_(w)
                    self.bias[h][s, j].copy_(bias)

    # -- BatchNorm -----------------------------------------------------------------
    def _bn_eval_scale_shift(self, h: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode BN as y = pre * scale + shift. Each Shape: (seed, n_h, hid)."""
        scale = self.bn_weight[h] / torch.sqrt(getattr(self, f"running_var_{h}") + BN_EPS)
        shift = self.bn_bias[h] - getattr(self, f"running_mean_{h}") * scale
        return scale, shift

    def _batch_norm(self, pre: torch.Tensor, h: int, groups: int) -> torch.Tensor:
        """BatchNorm over the batch dim, per seed and node. pre: (seed, B, n, hid)."""
        if not self.training:
            scale, shift = self._bn_eval_scale_shift(h)
            return pre * scale[:, None] + shift[:, None]
        gamma = self.bn_weight[h][:, None]  # (seed, 1, n, hid)
        beta = self.bn_bias[h][:, None]
        rmean = getattr(self, f"running_mean_{h}")
        rvar = getattr(self, f"running_var_{h}")
        S, B, n, o = pre.shape
        if B % groups:
            raise ValueError(f"batch {B} not divisible into {groups} BN groups")
        x = pre.view(S, groups, B // groups, n, o)
        mean = x.mean(2, keepdim=True)
        var = x.var(2, unbiased=False, keepdim=True)
        with torch.no_grad():
            m = B // groups
            for gi in range(groups):  # one running-stat update per group, in order
                rmean.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean[:, gi, 0])
                unbiased = var[:, gi, 0] * (m / max(m - 1, 1))
                rvar.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * unbiased)
        y = (x - mean) / torch.sqrt(var + BN_EPS)
        return y.view(S, B, n, o) * gamma + beta

    # -- forward -----------------------------------------------------------------
    def normalise(self, root: torch.Tensor) -> torch.Tensor:
        """f = h / (|h| + eps) over the last dim."""
        return root / (root.norm(dim=-1, keepdim=True) + self.eps)

    def forward(
        self, x: torch.Tensor, bn_groups: int = 1, return_all: bool = False
    ) -> torch.Tensor | TreeNetOutput:
        """Run the tree bottom-up, one block-diagonal GEMM per height (flat layout).

        Args:
            x: leaf values. Shape: (seed, B, n_leaves).
            bn_groups: with ``bn``, number of equal batch parts with separate
                batch statistics (3 when anchors, positives and negatives are
                concatenated).
            return_all: also return every height's pre-activations and inputs.

        Returns:
            f (Shape: (seed, B, hid)), or a :class:`TreeNetOutput` (flat layout,
            viewed as (seed, B, n_h, f)).
        """
        S, B, _ = x.shape
        inp = x  # (seed, B, n_1 * in_1): leaf pairs are contiguous
        pre_all, inp_all = [], []
        for h in range(self.tree.depth):
            n = self.n_nodes[h]
            # (seed, B, n*in) @ (seed, n*in, n*hid) + bias -> (seed, B, n*hid)
            pre = torch.baddbmm(
                self.bias[h].reshape(S, 1, n * self.hid), inp, block_diagonal(self.weight[h])
            )
            if self.bn:
                pre = self._batch_norm(pre.view(S, B, n, self.hid), h, bn_groups).reshape(S, B, -1)
            if return_all:
                pre_all.append(pre.view(S, B, n, self.hid))
                inp_all.append(inp.view(S, B, n, self.in_dims[h]))
            if h + 1 < self.tree.depth:
                inp = F.relu(pre)  # = input of height h + 1, children concatenated
        f = self.normalise(pre)  # root: n = 1, (seed, B, hid)
        if return_all:
            return TreeNetOutput(f, pre_all, inp_all)
        return f

    @torch.no_grad()
    def forward_nodes(self, x: torch.Tensor) -> TreeNetOutput:
        """Node-major forward pass for the metrics (no grad; BN in eval mode).

        Args:
            x: leaf values. Shape: (seed, C, n_leaves).

        Returns:
            :class:`TreeNetOutput` with node-major ``pre`` (seed, n_h, C, hid)
            and ``inputs`` (seed, n_h, C, in_h).
        """
        S, C, _ = x.shape
        b, o = self.tree.num_children, self.hid
        inp = x.view(S, C, self.n_nodes[0], b).transpose(1, 2).contiguous()  # (S, n_1, C, b)
        pre_all, inp_all = [], []
        for h in range(self.tree.depth):
            n, i = self.n_nodes[h], self.in_dims[h]
            # bmm over (seed, node): (C, in) @ (in, hid)
            pre = torch.baddbmm(
                self.bias[h].reshape(S * n, 1, o),
                inp.reshape(S * n, C, i),
                self.weight[h].reshape(S * n, o, i).transpose(1, 2),
            ).view(S, n, C, o)
            if self.bn:
                scale, shift = self._bn_eval_scale_shift(h)
                pre = pre * scale[:, :, None] + shift[:, :, None]
            pre_all.append(pre)
            inp_all.append(inp)
            if h + 1 < self.tree.depth:
                # (S, n, C, o) -> (S, n/b, b, C, o) -> (S, n/b, C, b*o): children concatenated
                r = F.relu(pre).view(S, n // b, b, C, o).transpose(2, 3)
                inp = r.reshape(S, n // b, C, b * o)
        return TreeNetOutput(self.normalise(pre[:, 0]), pre_all, inp_all)

    # -- Jacobians ---------------------------------------------------------------
    @torch.no_grad()
    def child_jacobian(
        self,
        h: int,
        J: torch.Tensor | None,
        pre_child: torch.Tensor,
        parents: slice = slice(None),
    ) -> torch.Tensor:
        """Jacobians of the children of height ``h + 1``'s nodes (top-down step, node-major).

        J_c = J_p diag(s_p) W_p[:, block c] diag(1[h_c > 0]) for each child c of
        node p: the chain rule through c's ReLU gate (the authors'
        ``Model.computeJ``), with s_p = 1 without BN or the eval-mode BN scale
        of p.

        Args:
            h: 0-based index of the parents' height (parents at height h + 1).
            J: Jacobians of the parents, d h_root / d h_p; None for the root
                (identity). Shape: (seed, n_p, C, hid_root, hid).
            pre_child: the children's pre-activations (``forward_nodes``).
                Shape: (seed, n_p * b, C, hid).
            parents: the parents (of height h + 1) that ``J`` and ``pre_child``
                cover (default all; a sub-range keeps the working set small).

        Returns:
            d h_root / d h_c. Shape: (seed, n_p * b, C, hid_root, hid).
        """
        S, nc, C, o = pre_child.shape
        b = self.tree.num_children
        n = nc // b
        W = self.weight[h].detach()[:, parents]  # (S, n, out, b*hid)
        if self.bn:
            W = W * self._bn_eval_scale_shift(h)[0][:, parents, :, None]
        gate = (pre_child > 0).to(pre_child.dtype).view(S, n, b, C, 1, o)
        out = torch.empty(S, n, b, C, o, o, dtype=pre_child.dtype, device=pre_child.device)
        if J is None:  # parent is the root: J_c[r, c] = W[r, (k, c)] gate_c
            Wk = W.view(S, n, o, b, o).permute(0, 1, 3, 2, 4)  # (S, n, k, r, c)
            torch.mul(Wk[:, :, :, None], gate, out=out)
        else:
            # one bmm for all children (N = b * hid; N = hid alone is a slow MKL shape):
            # (S*n, C*r, out) @ (S*n, out, b*c) -> (S, n, C, r, k, c)
            Jc = torch.bmm(J.reshape(S * n, C * o, o), W.reshape(S * n, o, b * o))
            Jc = Jc.view(S, n, C, o, b, o).permute(0, 1, 4, 2, 3, 5)  # (S, n, k, C, r, c)
            torch.mul(Jc, gate, out=out)  # gate and reorder in one pass
        return out.view(S, nc, C, o, o)

    @torch.no_grad()
    def jacobians(self, pre: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """All node Jacobians d h_root / d h_mu (node-major), the root's = identity.

        Args:
            pre: per-height pre-activations from :meth:`forward_nodes`.

        Returns:
            J per height (index h - 1 for height h). Each Shape:
            (seed, n_h, C, hid_root, hid).
        """
        L, o = self.tree.depth, self.hid
        S, _, C, _ = pre[0].shape
        J: list[torch.Tensor | None] = [None] * L
        for h in range(L - 1, 0, -1):
            J[h - 1] = self.child_jacobian(h, J[h], pre[h - 1])
        eye = torch.eye(o, dtype=pre[0].dtype, device=pre[0].device)
        J[L - 1] = eye.expand(S, 1, C, o, o)
        return J

    # -- bookkeeping -------------------------------------------------------------
    @torch.no_grad()
    def weight_norms(self) -> torch.Tensor:
        """Frobenius norm of each node's weight matrix (bias excluded, as the code).

        Returns:
            Shape: (seed, n_latent), breadth-first node order (root first).
        """
        per_height = [w.detach().flatten(2).norm(dim=-1) for w in self.weight]  # (seed, n_h)
        return torch.cat(per_height[::-1], dim=1)


class TreeBackward:
    """The hand-written backward pass of a :class:`TreeNet` without BN.

    Computes the gradients that ``TreeNet.forward`` + ``loss.sum().backward()``
    give (the tests check them, and SGD steps on them, against autograd) with far fewer tensor
    operations: at hid 10 every op is tiny and CPU time goes to per-op
    overhead. Autograd is only used for d loss / d f.

    Each height runs either as one GEMM with the block-diagonal matrix of its
    nodes (flat layout, no copies; wasteful in FLOPs when a height has many
    nodes with many inputs) or as a bmm over (seed, node) after a permute
    (exact FLOPs; per-matrix overhead and two copies). :func:`use_bmm` picks
    the cheaper one; the block-diagonal matrices are kept in sync with
    ``model.weight``.

    Args:
        model: the network (``bn=False``).
    """

    def __init__(self, model: TreeNet) -> None:
        if model.bn:
            raise ValueError("TreeBackward supports bn=False only")
        self.model = model
        self.bmm = [
            use_bmm(n, i, model.hid) for n, i in zip(model.n_nodes, model.in_dims, strict=True)
        ]
        self.W = [
            None if nm else block_diagonal(w.detach())
            for nm, w in zip(self.bmm, model.weight, strict=True)
        ]

    def _linear(self, h: int, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pre-activation of height h (flat layout) and the node-major input, if used."""
        m = self.model
        S, B, _ = inp.shape
        n, i, o = m.n_nodes[h], m.in_dims[h], m.hid
        if not self.bmm[h]:
            return torch.baddbmm(m.bias[h].reshape(S, 1, -1), inp, self.W[h]), None
        x = inp.view(S, B, n, i).transpose(1, 2).reshape(S * n, B, i)  # node-major copy
        w = m.weight[h].detach().reshape(S * n, o, i).transpose(1, 2)
        pre = torch.baddbmm(m.bias[h].reshape(S * n, 1, o), x, w)  # (S*n, B, o)
        return pre.view(S, n, B, o).transpose(1, 2).reshape(S, B, n * o), x

    @torch.no_grad()
    def gradients(self, xb: torch.Tensor, loss_fn) -> tuple[torch.Tensor, list, list]:
        """Loss and parameter gradients for one batch (no update).

        Args:
            xb: inputs. Shape: (seed, B, n_leaves).
            loss_fn: maps the network output f (seed, B, hid) to a loss per seed.

        Returns:
            loss (seed,), weight grads (seed, n_h, hid, in_h) and bias grads
            (seed, n_h, hid) per height.
        """
        m = self.model
        S, B, _ = xb.shape
        L, o = m.tree.depth, m.hid
        inps, inps_nm, pres = [], [], []
        inp = xb
        for h in range(L):
            pre, x_nm = self._linear(h, inp)  # (S, B, n*hid)
            inps.append(inp)
            inps_nm.append(x_nm)
            pres.append(pre)
            if h + 1 < L:
                inp = torch.relu(pre)
        r = pres[-1]  # root pre-activation, (S, B, hid)
        nrm = r.norm(dim=-1, keepdim=True)
        den = nrm + m.eps
        f = r / den
        with torch.enable_grad():
            fl = f.detach().requires_grad_(True)
            loss = loss_fn(fl)
            (g,) = torch.autograd.grad(loss.sum(), fl)
        # f = r / (|r| + eps): dL/dr = g / den - r (g . r) / (|r| den^2)
        dot = (g * r).sum(-1, keepdim=True)
        coef = torch.where(nrm > 0, dot / (nrm * den * den), 0.0)
        g = g / den - r * coef
        gW, gb = [None] * L, [None] * L
        for h in range(L - 1, -1, -1):
            n, i = m.n_nodes[h], m.in_dims[h]
            gb[h] = g.sum(1).view(S, n, o)
            if self.bmm[h]:
                g_nm = g.view(S, B, n, o).transpose(1, 2).reshape(S * n, B, o)
                gW[h] = torch.bmm(g_nm.transpose(1, 2), inps_nm[h]).view(S, n, o, i)
            else:
                gWbd = torch.bmm(inps[h].transpose(1, 2), g)  # (S, n*in, n*hid)
                gW[h] = block_diagonal_view(gWbd, n)  # (S, n, hid, in) view
            if h > 0:  # d/d input of height h, then the ReLU gate of height h - 1
                if self.bmm[h]:
                    w = m.weight[h].detach().reshape(S * n, o, i)
                    g = torch.bmm(g_nm, w).view(S, n, B, i).transpose(1, 2).reshape(S, B, n * i)
                else:
                    g = torch.bmm(g, self.W[h].transpose(1, 2))
                g = torch.ops.aten.threshold_backward(g, pres[h - 1], 0)
        return loss.detach(), gW, gb

    @torch.no_grad()
    def refresh(self) -> None:
        """Copy ``model.weight`` into the block-diagonal matrices (after an update)."""
        m = self.model
        for h in range(m.tree.depth):
            if self.W[h] is not None:
                block_diagonal_view(self.W[h], m.n_nodes[h]).copy_(m.weight[h])

    def optimizer(self, lr: float, loss_fn) -> ManualSGD:
        """Plain SGD on these gradients (the engine's :class:`~contrastlab.optim.ManualSGD`).

        Args:
            lr: learning rate.
            loss_fn: maps the network output f (seed, B, hid) to a loss per seed.
        """
        m = self.model

        def gradients(xb: torch.Tensor):
            loss, gW, gb = self.gradients(xb, loss_fn)
            return loss, [*gW, *gb]

        return ManualSGD([*m.weight, *m.bias], lr, gradients, after_step=self.refresh)


def use_bmm(n: int, n_in: int, hid: int) -> bool:
    """Whether a height of ``n`` nodes (n_in inputs, hid outputs each) runs as a bmm.

    The block-diagonal GEMM costs n^2 * n_in * hid multiply-adds per sample,
    the bmm n * n_in * hid plus a per-matrix overhead and two copies. Measured
    on a 2-core CPU at batch 3 * 128 the bmm only pays from about 8 nodes with
    >= 100 weights each (height 2 at hid 10, L = 5: 5-15% faster with 3-8
    seeds per batch, 5% slower with one).
    """
    return n >= 8 and n_in * hid >= 100
