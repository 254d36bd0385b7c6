"""Tree-shaped ReLU network mirroring the HLTM, batched over seeds and over the nodes of a height.

Each latent node mu owns a ``Linear(#children * k -> hid)`` with bias (k = 1
for the parents of leaves, else ``hid``) applied to the ReLU of its children's
outputs (for leaves: the raw leaf values, no ReLU, as in the authors'
``Model.forward``). The network output is the root's pre-activation h_root,
normalised: f = h_root / (|h_root| + eps). No projection head.

Parameters. ``weight[h - 1]`` holds the weights of all nodes at height h,
Shape (seed, n_h, hid, in_h) -- each node's matrix in ``nn.Linear``'s
(out, in) layout -- and ``bias[h - 1]`` Shape (seed, n_h, hid).

Layout: feature-major. Every activation is stored as (seed, node, unit,
sample), the samples last and contiguous, nodes in breadth-first order. The
``b`` children of a node are then adjacent, so the output of height h viewed
as (seed, n_{h+1}, b * hid, sample) *is* the input of height h + 1, and the
leaves (seed, n_leaves, sample) are the input of height 1: no copy between
heights. A height is one ``baddbmm`` over (seed, node) with the exact FLOP
count, W (hid, in) @ input (in, samples). The hand-written backward pass
(:class:`TreeBackward`), the Jacobians of the covariance operator and the
correlation sums (:mod:`.metrics`) are bmm's and contiguous element-wise ops
in the same layout. At hid 10 every op is small: on CPU the time goes to the
number of ops and to memory traffic, not to FLOPs, so nothing is re-laid out
(a sample-major layout needs block-diagonal GEMMs or copies per height).

Binary trees: heights 1 and 2 only ever see 16 leaf patterns per height-2
node, so they are evaluated once per pattern and looked up per sample
(:class:`LeafPatterns`), in training and in the metrics.

Every op treats the seeds independently (bmm over (seed, node), element-wise
ops, reductions within a seed), so a seed's numbers do not depend on the
other seeds of the batch (checked bit for bit by the tests).

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, Sec. 6, https://arxiv.org/abs/2010.00578
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py (class Model,
      Model.computeJ)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from contrastlab.families.hltm.data import LatentTree
from contrastlab.optim import ManualSGD

BN_EPS = 1e-5
BN_MOMENTUM = 0.1

PreHook = Callable[[int, torch.Tensor], None]
ALL = slice(None)


def _rows(t: torch.Tensor, seeds: slice) -> torch.Tensor:
    """``t[seeds]`` (the leading dim), without a view op when all seeds are meant."""
    return t if seeds == ALL else t[seeds]


MAX_PATTERNS = 16
"""Most leaf patterns per height-2 node for which :class:`LeafPatterns` is used."""


class LeafPatterns:
    """The leaves below each height-2 node as one categorical input, its *pattern*.

    A height-2 node sees m = b**2 binary leaves (its b children b each), so its
    pre-activation and those of its children take at most 2**m values, one
    per pattern. Heights 1 and 2 are then evaluated once per pattern (a
    table: the network run on the 2**m patterns as a batch) and a sample's
    height-2 output is its pattern's column of the table (a gather; the table
    is the per-sample computation, up to the summation order of the GEMMs).
    Backwards, the per-sample gradients of height 2 summed per pattern (a
    scatter-add) are all heights 1 and 2 need, as everything below them is
    linear in those gradients. Per sample this costs a gather and a
    scatter-add of hid-unit columns instead of the two heights' forward and
    backward passes over (b + 1) * hid units. Used when 2**m <=
    :data:`MAX_PATTERNS` (binary trees) and the tree has a height 2.

    Pattern c of a node sets its leaf j (in breadth-first order) to bit
    m - 1 - j of c.

    Args:
        tree: the latent tree.
    """

    def __init__(self, tree: LatentTree) -> None:
        b = tree.num_children
        self.m = b * b
        self.n_patterns = 2**self.m
        self.n_nodes = tree.height_size(2)
        place = 2 ** torch.arange(self.m - 1, -1, -1)
        self._place = place.float()  # (m,): pattern code = sum_j leaf_j * place_j
        bits = (torch.arange(self.n_patterns)[:, None] // place % 2).float()  # (pattern, m)
        self._leaves = bits.T.repeat(self.n_nodes, 1)  # (n_leaves, pattern)

    @staticmethod
    def applies(tree: LatentTree) -> bool:
        """Whether the tree has a height 2 with few enough leaf patterns."""
        return tree.depth >= 2 and 2 ** (tree.num_children**2) <= MAX_PATTERNS

    def leaves(self, n_seeds: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The leaves of every pattern of every height-2 node, as a network input.

        Returns:
            Shape: (seed, n_leaves, n_patterns).
        """
        return self._leaves.to(device).expand(n_seeds, -1, -1)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Each sample's pattern code (an index for :meth:`select`, :meth:`sum_by_pattern`).

        Args:
            x: leaf values (0/1). Shape: (seed, n_leaves, C).

        Returns:
            int64. Shape: (seed, n_nodes_2, 1, C).
        """
        S, _, C = x.shape
        place = self._place.to(x.device).view(1, 1, self.m).expand(S * self.n_nodes, 1, self.m)
        codes = torch.bmm(place, x.reshape(S * self.n_nodes, self.m, C))  # exact integers
        return codes.long().view(S, self.n_nodes, 1, C)

    @staticmethod
    def select(table: torch.Tensor, codes: torch.Tensor, out: torch.Tensor | None = None):
        """Every sample's column of a per-pattern table.

        Args:
            table: Shape (seed, n_nodes_2, rows, n_patterns).
            codes: :meth:`codes`.
            out: optional buffer of the result.

        Returns:
            Shape: (seed, n_nodes_2, rows, C).
        """
        S, n, rows, _ = table.shape
        return torch.gather(table, 3, codes.expand(S, n, rows, -1), out=out)

    def sum_by_pattern(self, v: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Per-pattern sums of per-sample columns (the adjoint of :meth:`select`).

        A scatter-add on CPU; elsewhere a GEMM with the one-hot patterns (GPU
        scatter-adds use atomics, whose summation order varies from run to run).

        Args:
            v: Shape (seed, n_nodes_2, rows, C).
            codes: :meth:`codes`.

        Returns:
            Shape: (seed, n_nodes_2, rows, n_patterns).
        """
        S, n, rows, C = v.shape
        if v.device.type != "cpu":
            return torch.bmm(
                v.view(S * n, rows, C), self.onehot(codes, v.dtype).transpose(1, 2)
            ).view(S, n, rows, -1)
        out = torch.zeros(S, n, rows, self.n_patterns, dtype=v.dtype, device=v.device)
        return out.scatter_add_(3, codes.expand_as(v), v)

    def onehot(self, codes: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """The patterns one-hot. Shape: (seed * n_nodes_2, n_patterns, C)."""
        S, n, _, C = codes.shape
        out = torch.zeros(S * n, self.n_patterns, C, dtype=dtype, device=codes.device)
        return out.scatter_(1, codes.view(S * n, 1, C), 1.0)


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
            ``nn.BatchNorm1d``) are used in eval mode and by the metrics.
        eps: epsilon of the output normalisation. Default 1e-4.

    Shape:
        - input x: (seed, n_leaves, B) float (feature-major, see the module doc).
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
    def _bn_eval_scale_shift(
        self, h: int, seeds: slice = slice(None)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode BN as y = pre * scale + shift. Each Shape: (seed, n_h, hid)."""
        rvar = getattr(self, f"running_var_{h}")[seeds]
        scale = self.bn_weight[h][seeds] / torch.sqrt(rvar + BN_EPS)
        shift = self.bn_bias[h][seeds] - getattr(self, f"running_mean_{h}")[seeds] * scale
        return scale, shift

    def _batch_norm(
        self, pre: torch.Tensor, h: int, groups: int | None, seeds: slice, inplace: bool = False
    ) -> torch.Tensor:
        """BatchNorm over the samples, per seed, node and unit. pre: (seed, n, hid, B).

        ``groups`` None: eval mode (running statistics; in place if ``inplace``);
        else batch statistics of each of ``groups`` equal parts of the batch,
        and the running statistics are updated once per group, in order.
        """
        if groups is None:
            scale, shift = self._bn_eval_scale_shift(h, seeds)
            if inplace:
                return pre.mul_(scale[..., None]).add_(shift[..., None])
            return pre * scale[..., None] + shift[..., None]
        S, n, o, B = pre.shape
        if B % groups:
            raise ValueError(f"batch {B} not divisible into {groups} BN groups")
        x = pre.view(S, n, o, groups, B // groups)
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        with torch.no_grad():
            rmean = getattr(self, f"running_mean_{h}")[seeds]
            rvar = getattr(self, f"running_var_{h}")[seeds]
            m = B // groups
            for gi in range(groups):
                rmean.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean[..., gi, 0])
                unbiased = var[..., gi, 0] * (m / max(m - 1, 1))
                rvar.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * unbiased)
        y = ((x - mean) / torch.sqrt(var + BN_EPS)).view(S, n, o, B)
        return y * self.bn_weight[h][seeds][..., None] + self.bn_bias[h][seeds][..., None]

    # -- forward -----------------------------------------------------------------
    def forward_features(
        self,
        x: torch.Tensor,
        seeds: slice = ALL,
        bn_groups: int | None = None,
        pre_hook: PreHook | None = None,
        out: Sequence[torch.Tensor] | None = None,
        heights: range | None = None,
    ) -> list[torch.Tensor]:
        """Run the tree bottom-up, one ``baddbmm`` per height (feature-major).

        Differentiable (the BN path trains through it with autograd); under
        ``torch.no_grad`` it serves the hand-written backward pass and the
        metrics, which pass ``out`` buffers (no fresh multi-MB tensors per
        call: on CPU they cost page faults).

        Args:
            x: input of the first height run: the leaf values for height 1.
                Shape: (seed, n_leaves, C), or (seed, n, hid, C) for a higher one.
            seeds: the seeds of ``x`` among the model's (a slice of them).
            bn_groups: with ``bn``: batch statistics in this many groups
                (training), or None for the running statistics (eval).
            pre_hook: ``pre_hook(h, pre)`` for every height index h (height
                h + 1), with its (post-BN) pre-activation, Shape (seed, n_h,
                hid, C), before the in-place ReLU: copy what you keep.
            out: optional contiguous buffers for the outputs, one per height
                run (no autograd; with ``bn`` only in eval mode).
            heights: the height indices to run (consecutive; default all).

        Returns:
            The output of every height run (index h for height h + 1): ReLU
            of the pre-activation, except the root's (index L - 1), which is
            h_root itself. Each Shape: (seed, n_h, hid, C).
        """
        S, C = x.shape[0], x.shape[-1]
        o, L = self.hid, self.tree.depth
        inp = x
        outs = []
        for k, h in enumerate(range(L) if heights is None else heights):
            n, i = self.n_nodes[h], self.in_dims[h]
            # (seed*n, hid, in) @ (seed*n, in, C) + bias -> (seed*n, hid, C)
            args = (
                _rows(self.bias[h], seeds).reshape(S * n, o, 1),
                _rows(self.weight[h], seeds).reshape(S * n, o, i),
                inp.reshape(S * n, i, C),
            )
            if out is None:
                pre = torch.baddbmm(*args).view(S, n, o, C)
            else:
                pre = torch.baddbmm(*args, out=out[k].view(S * n, o, C)).view(S, n, o, C)
            if self.bn:
                pre = self._batch_norm(pre, h, bn_groups, seeds, inplace=out is not None)
            if pre_hook is not None:
                pre_hook(h, pre)
            if h + 1 < L:
                pre = torch.relu_(pre)  # children of a node are adjacent rows: next input
            outs.append(pre)
            inp = pre
        return outs

    def normalise(self, root: torch.Tensor) -> torch.Tensor:
        """f = h / (|h| + eps) over the last dim."""
        return root / (root.norm(dim=-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor, bn_groups: int = 1) -> torch.Tensor:
        """The normalised output (autograd path; BN uses batch statistics in training mode).

        Args:
            x: leaf values. Shape: (seed, n_leaves, B).
            bn_groups: with ``bn`` in training mode, number of equal batch parts
                with separate batch statistics (3 when anchors, positives and
                negatives are concatenated).

        Returns:
            f. Shape: (seed, B, hid).
        """
        groups = bn_groups if self.training else None
        root = self.forward_features(x, bn_groups=groups)[-1]
        return self.normalise(root[:, 0].transpose(1, 2))

    # -- Jacobians ---------------------------------------------------------------
    def effective_weight(self, h: int, seeds: slice = slice(None)) -> torch.Tensor:
        """Weights of height ``h + 1`` times their eval-mode BN scale (d pre / d input).

        Returns:
            Shape: (seed, n_h, hid, in_h), detached.
        """
        W = self.weight[h].detach()[seeds]
        if self.bn:
            W = W * self._bn_eval_scale_shift(h, seeds)[0].detach()[..., None]
        return W

    @torch.no_grad()
    def child_jacobian(
        self,
        h: int,
        J: torch.Tensor | None,
        child_out: torch.Tensor,
        seeds: slice = slice(None),
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Jacobians of the children of height ``h + 1``'s nodes (top-down step).

        J_c = J_p diag(s_p) W_p[:, block k] diag(1[h_c > 0]) for child k of node
        p: the chain rule through c's ReLU gate (the authors'
        ``Model.computeJ``), with s_p = 1 without BN or the eval-mode BN scale
        of p. Layout J[c, r, i]: node unit c, root unit r, sample i, so that
        one bmm per parent, W_p^T (b * hid, hid) @ J_p (hid, hid_root * C),
        gives all its children, child-major, and the gate is an in-place product.

        Args:
            h: 0-based index of the parents' height (parents at height h + 1).
            J: Jacobians of the parents, d h_root / d h_p; None for the root
                (identity). Shape: (seed, n_p, hid, hid_root, C).
            child_out: the children's outputs (ReLU'd, ``forward_features``).
                Shape: (seed, n_p * b, hid, C).
            seeds: the seeds the tensors hold.
            out: optional buffer for the result.

        Returns:
            d h_root / d h_c. Shape: (seed, n_p * b, hid, hid_root, C).
        """
        S, nc, o, C = child_out.shape
        n = nc // self.tree.num_children
        Wt = self.effective_weight(h, seeds).transpose(2, 3)  # (S, n, b*hid, hid_root)
        gate = (child_out > 0).view(S, nc, o, 1, C)
        if out is None:
            out = torch.empty(S, nc, o, o, C, dtype=child_out.dtype, device=child_out.device)
        if J is None:  # parent is the root: J_c[c, r] = W[r, (k, c)] gate_c
            torch.mul(Wt.reshape(S, nc, o, o, 1), gate, out=out)
        else:
            Wt = Wt.reshape(S * n, Wt.shape[2], o)
            torch.bmm(Wt, J.reshape(S * n, o, o * C), out=out.view(S * n, -1, o * C))
            out.mul_(gate)
        return out

    @torch.no_grad()
    def jacobians(self, outs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """All node Jacobians d h_root / d h_mu, the root's = identity (all seeds).

        Args:
            outs: per-height outputs from :meth:`forward_features`.

        Returns:
            J per height (index h - 1 for height h), as :meth:`child_jacobian`.
            Each Shape: (seed, n_h, hid, hid_root, C).
        """
        L, o = self.tree.depth, self.hid
        S, _, _, C = outs[0].shape
        J: list[torch.Tensor | None] = [None] * L
        for h in range(L - 1, 0, -1):
            J[h - 1] = self.child_jacobian(h, J[h], outs[h - 1])
        eye = torch.eye(o, dtype=outs[0].dtype, device=outs[0].device)
        J[L - 1] = eye[:, :, None].expand(S, 1, o, o, C)
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
    give (the tests check them, and SGD steps on them, against autograd) with far
    fewer tensor operations: at hid 10 every op is tiny and CPU time goes to
    per-op overhead. Autograd is only used for d loss / d f. Per height, in the
    feature-major layout: the bias gradient is a sum over the samples, the
    weight gradient g (hid, B) @ input^T (B, in), the gradient of the
    children's outputs W^T (in, hid) @ g (hid, B), gated by their ReLU. In a
    binary tree heights 1 and 2 run on the leaf patterns (:class:`LeafPatterns`).
    All per-sample activations and gradients live in buffers reused from step
    to step (fresh multi-MB tensors would cost page faults every step).

    Args:
        model: the network (``bn=False``).
    """

    def __init__(self, model: TreeNet) -> None:
        if model.bn:
            raise ValueError("TreeBackward supports bn=False only")
        self.model = model
        self.patterns = LeafPatterns(model.tree) if LeafPatterns.applies(model.tree) else None
        self._work: dict[int, dict] = {}

    def _buffers(self, B: int) -> dict:
        """Per-sample outputs and output gradients of the heights run per sample, for
        batches of B samples, and the parameter gradients."""
        if B not in self._work:
            m, pat = self.model, self.patterns
            S, o = m.n_seeds, m.hid
            lo = 0 if pat is None else 1  # with patterns, height 1 is never run per sample
            kw = {"dtype": m.weight[0].dtype, "device": m.weight[0].device}
            self._work[B] = {
                "out": [torch.empty(S, n, o, B, **kw) for n in m.n_nodes[lo:]],
                # d loss / d output per height index (none for height 1 with patterns)
                "grad": [None] * lo + [torch.empty(S, n, o, B, **kw) for n in m.n_nodes[lo:-1]],
                "gW": [torch.empty_like(w) for w in m.weight],
                "gb": [torch.empty_like(b) for b in m.bias],
            }
        return self._work[B]

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, loss_fn) -> tuple[torch.Tensor, list, list]:
        """Loss and parameter gradients for one batch (no update).

        Args:
            x: inputs. Shape: (seed, n_leaves, B).
            loss_fn: maps the network output f (seed, B, hid) to a loss per seed.

        Returns:
            loss (seed,), weight grads (seed, n_h, hid, in_h) and bias grads
            (seed, n_h, hid) per height; the grads are overwritten by the next call.
        """
        m, pat = self.model, self.patterns
        S, _, B = x.shape
        L, o = m.tree.depth, m.hid
        buf = self._buffers(B)
        if pat is None:
            outs = m.forward_features(x, out=buf["out"])
            inputs = [x, *outs[:-1]]  # of every height
        else:  # heights 1, 2 on the patterns, then a sample's column of height 2
            codes = pat.codes(x)
            x_pat = pat.leaves(S, x.device)
            table = m.forward_features(x_pat, heights=range(2))
            out2 = pat.select(table[1], codes, out=buf["out"][0])
            outs = [None, out2, *m.forward_features(out2, out=buf["out"][1:], heights=range(2, L))]
            inputs = [x_pat, table[0], *outs[1:-1]]
        r = outs[-1][:, 0].transpose(1, 2).contiguous()  # root pre-activation, (S, B, hid)
        nrm = r.norm(dim=-1, keepdim=True)
        den = nrm + m.eps
        f = r / den
        with torch.enable_grad():
            f.requires_grad_(True)
            loss = loss_fn(f)
            (g,) = torch.autograd.grad(loss.sum(), f)
        # f = r / (|r| + eps): dL/dr = g / den - r (g . r) / (|r| den^2)
        dot = (g * r).sum(-1, keepdim=True)
        coef = torch.where(nrm > 0, dot / (nrm * den * den), 0.0)
        g = (g / den - r * coef).transpose(1, 2).contiguous()  # (S, hid, B): feature-major
        if pat is None:
            self._backward(range(L - 1, -1, -1), inputs, g, buf, buf["grad"])
        else:  # per sample down to height 2, then summed per pattern for heights 2, 1
            g = self._backward(range(L - 1, 1, -1), inputs, g, buf, buf["grad"])
            g = pat.sum_by_pattern(g.view(S, pat.n_nodes, o, B), codes)
            self._backward(range(1, -1, -1), inputs, g, buf)
        return loss.detach(), buf["gW"], buf["gb"]

    def _backward(
        self,
        heights: range,
        inputs: Sequence[torch.Tensor],
        g: torch.Tensor,
        buf: dict,
        grad_out: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Parameter gradients of ``heights`` (top-down) into ``buf``.

        Args:
            heights: consecutive height indices, descending.
            inputs: the input of every height index (per sample or per pattern).
            g: d loss / d pre-activation of ``heights[0]`` (ReLU-gated).
                Shape: (seed, [n,] hid, C).
            buf: :meth:`_buffers` (gradients go to its ``gW``, ``gb``).
            grad_out: optional buffers for the output gradients, by height index.

        Returns:
            The last gradient computed, Shape (seed * n, in, C): if the last
            height is above height 1, the gated gradient of its children's outputs.
        """
        m = self.model
        S, C = g.shape[0], g.shape[-1]
        o = m.hid
        for h in heights:
            n, i = m.n_nodes[h], m.in_dims[h]
            g = g.reshape(S * n, o, C)
            inp = inputs[h].reshape(S * n, i, C)
            torch.sum(g, -1, out=buf["gb"][h].view(S * n, o))
            torch.bmm(g, inp.transpose(1, 2), out=buf["gW"][h].view(S * n, o, i))
            if h > 0:  # d/d children's outputs, then their ReLU gate (in place)
                Wt = m.weight[h].detach().reshape(S * n, o, i).transpose(1, 2)
                if grad_out is None:
                    g = torch.bmm(Wt, g)
                else:
                    g = torch.bmm(Wt, g, out=grad_out[h - 1].view(S * n, i, C))
                g = torch.ops.aten.threshold_backward.grad_input(g, inp, 0, grad_input=g)
        return g

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

        return ManualSGD([*m.weight, *m.bias], lr, gradients)
