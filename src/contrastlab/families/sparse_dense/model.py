"""One-layer symmetric ReLU network with bias, and the masking augmentations.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from contrastlab.families.sparse_dense.config import MASKINGS
from contrastlab.losses.infonce import infonce_in_batch_grad_stacked, seed_chunk


def sym_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_i(x) = ReLU(<w_i, x> - b_i) - ReLU(-<w_i, x> - b_i), batched over seeds.

    Without autograd and with no negative bias, computed as a - clamp(a, -b, b) (the
    same values; see :func:`_loss_and_grads`).

    Args:
        x: inputs. Shape: (seed, batch, d1).
        W: weights, one row w_i per neuron. Shape: (seed, m, d1).
        b: biases. Shape: (seed, m).

    Returns:
        Shape: (seed, batch, m).
    """
    u = torch.bmm(x, W.transpose(1, 2))  # (seed, batch, m)
    b = b.unsqueeze(1)
    if not (torch.is_grad_enabled() and (W.requires_grad or b.requires_grad)) and bool(
        (b >= 0).all()
    ):  # no gradient wanted, no negative bias: the same values in two passes
        return u.sub_(torch.clamp(u, min=-b, max=b))
    return torch.relu(u - b) - torch.relu(-u - b)


def _loss_and_grads(X, W, b, temperature, need_grad):
    """One chunk of seeds: InfoNCE of the network on the two views stacked in ``X``, and
    its gradient w.r.t. W and b (by hand: h = r1 - r2 with r1 = ReLU(a - b),
    r2 = ReLU(-a - b), so dh/da = 1[r1 > 0] + 1[r2 > 0] and dh/db = 1[r2 > 0] - 1[r1 > 0]).

    When no bias of the chunk is negative, at most one of r1, r2 is active, and the
    same numbers come from fewer passes: h = a - clamp(a, -b, b) (a - b where a > b,
    a + b where a < -b, 0 between: the floats of r1 - r2), dh/db = -sign(h) and
    dh/da = sign(h)^2. Only the sign of a zero can differ between the two paths, so a
    seed's numbers do not depend on which path its chunk takes."""
    a = torch.bmm(X, W.transpose(1, 2))  # (chunk, 2B, m): one GEMM for both views
    if bool((b >= 0).all()):
        bb = b.unsqueeze(1)
        h = a.sub_(torch.clamp(a, min=-bb, max=bb))
        loss, dh = infonce_in_batch_grad_stacked(h, temperature, need_grad=need_grad)
        if not need_grad:
            return loss, None, None
        s = h.sign_()
        q = dh.mul_(s)  # dh * sign(h)
        db = q.sum(1).neg_()
        dW = torch.bmm(q.mul_(s).transpose(1, 2), X)  # dh * sign(h)^2
        return loss, dW, db
    nb = b.neg().unsqueeze(1)
    r1 = torch.add(a, nb).relu_()  # ReLU(a - b)
    r2 = torch.sub(nb, a).relu_()  # ReLU(-a - b)
    loss, dh = infonce_in_batch_grad_stacked(r1 - r2, temperature, need_grad=need_grad)
    if not need_grad:
        return loss, None, None
    gp = torch.ops.aten.threshold_backward(dh, r1, 0)
    gq = torch.ops.aten.threshold_backward(dh, r2, 0)
    dW = torch.bmm((gp + gq).transpose(1, 2), X)
    db = gq.sub_(gp).sum(1)
    return loss, dW, db


class _SymReluInfoNCE(torch.autograd.Function):
    """Per-seed loss; the gradients are formed in the forward pass, a chunk of seeds at
    a time (everything of a chunk stays in cache); backward only scales them."""

    @staticmethod
    def forward(ctx, X, W, b, temperature, chunk):
        need = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        n = W.shape[0]
        step = chunk if chunk and chunk > 0 else n
        parts = [
            _loss_and_grads(X[s : s + step], W[s : s + step], b[s : s + step], temperature, need)
            for s in range(0, n, step)
        ]

        def joined(i):
            return parts[0][i] if len(parts) == 1 else torch.cat([p[i] for p in parts])

        if need:
            ctx.save_for_backward(joined(1), joined(2))
        return joined(0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        dW, db = ctx.saved_tensors
        if bool((g == 1).all()):  # loss.sum().backward(): the gradients as they are
            return None, dW, db, None, None
        return None, dW * g[:, None, None], db * g[:, None], None, None


def sym_relu_infonce_stacked(
    X: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    temperature: float,
    chunk: int | None = None,
) -> torch.Tensor:
    """:func:`sym_relu_infonce` on the two views stacked along the batch,
    ``X = [x1; x2]`` (what :meth:`RoundMasks.views` returns), without the copy that
    stacking costs.

    Args:
        X: Shape: (seed, 2 batch, d1).
        W, b, temperature, chunk: as :func:`sym_relu_infonce`.

    Returns:
        Loss per seed. Shape: (seed,).
    """
    if chunk is None:
        chunk = seed_chunk(X.shape[1] // 2, X.device)
    return _SymReluInfoNCE.apply(X, W, b, temperature, chunk)


def sym_relu_infonce(
    x1: torch.Tensor,
    x2: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    temperature: float,
    chunk: int | None = None,
) -> torch.Tensor:
    """Per-seed symmetric InfoNCE (:func:`~contrastlab.losses.infonce.infonce_in_batch`) of
    :func:`sym_relu` on two views, for training: the same loss as
    ``infonce_in_batch(sym_relu(x1, W, b), sym_relu(x2, W, b), temperature)`` up to float
    rounding, with the gradient w.r.t. ``W`` and ``b`` formed in the forward pass
    (:func:`~contrastlab.losses.infonce.infonce_in_batch_grad_stacked`), ``chunk`` seeds
    at a time (default: :func:`~contrastlab.losses.infonce.seed_chunk`, whose logits fit
    in the CPU's L2 caches). Every op works on each seed's slice alone, and every seed
    takes the same path (identical views too), so a seed's numbers do not depend on the
    other seeds of the batch. Differentiable once, in W and b.

    Args:
        x1, x2: the two views. Shape: (seed, batch, d1).
        W: Shape: (seed, m, d1).  b: Shape: (seed, m).
        temperature: tau > 0.
        chunk: seeds per chunk (0: all at once).

    Returns:
        Loss per seed. Shape: (seed,).
    """
    return sym_relu_infonce_stacked(torch.cat([x1, x2], 1), W, b, temperature, chunk)


def init_weights(m: int, d1: int, seeds, gens, bias_init: float, dtype=torch.float32):
    """W_i ~ N(0, I/d1) per seed from that seed's generator; b = bias_init."""
    W = torch.stack([torch.randn(m, d1, generator=g) / d1**0.5 for g in gens]).to(dtype)
    b = torch.full((len(seeds), m), float(bias_init), dtype=dtype)
    return W, b


def member_maskings(masking: str | Sequence[str], n: int) -> list[str]:
    """The masking of each of ``n`` members: one string for all, or one per member."""
    ms = [masking] * n if isinstance(masking, str) else [str(m) for m in masking]
    if len(ms) != n:
        raise ValueError(f"augmentation.masking: {len(ms)} values for {n} members")
    for m in ms:
        if m not in MASKINGS:
            raise ValueError(f"augmentation.masking must be one of {MASKINGS}, got {m!r}")
    return ms


_DRAWS = {"none": 0, "independent": 2, "complementary": 1}
"""Masks per member and step: D1 then D2 for independent masks."""

_SHIFTS = torch.arange(8, dtype=torch.uint8)


def uses_bits(masking: str, keep_prob: float) -> bool:
    """Whether the masks of ``masking`` keep each coordinate with probability exactly
    1/2 (complementary masks; independent ones with ``keep_prob`` 0.5): then they are
    random bits, 64 from each random word drawn, instead of one uniform per coordinate."""
    return masking == "complementary" or (masking == "independent" and keep_prob == 0.5)


def _fill_uniform(u: torch.Tensor, gens) -> None:
    """``u[i, j] = torch.rand(..., generator=gens[i])`` for every member i, draws j in
    order: what each member alone draws, one call after the other."""
    for i, g in enumerate(gens):
        for j in range(u.shape[1]):
            torch.rand(u.shape[2:], generator=g, out=u[i, j])


def _random_words(size, g: torch.Generator) -> torch.Tensor:
    """Random 64-bit words (int64, every bit a fair coin: one full-range draw each)."""
    return torch.empty(size, dtype=torch.int64).random_(-(2**63), None, generator=g)


class RoundMasks:
    """Every member's masks for one round of ``steps`` steps, and the views they make.

    Masks with keep probability 1/2 (:func:`uses_bits`) are drawn for the whole round
    at once: each member draws ``(steps, draws, ceil(B d1 / 64))`` full-range int64
    words (one call per member and round, ``random_(-2**63, None, generator=g)``), and
    coordinate e of a mask is bit e % 8 of byte e // 8 of the words read as bytes
    (little-endian), a fair coin. Other keep probabilities draw
    ``torch.rand((B, d1), generator=g) < keep_prob`` per member and step (D1 before
    D2). Either way a member's masks come from its own generator alone, so its views
    do not depend on the other members.

    Args:
        masking: one value for all members, or one per member (see :func:`views`).
        keep_prob: keep probability of the independent masks.
        gens: one generator per member (CPU).
        steps: steps of the round.
        shape: the shape of one member's batch, (batch, d1).
    """

    def __init__(self, masking, keep_prob: float, gens, steps: int, shape) -> None:
        gens = list(gens)
        ms = member_maskings(masking, len(gens))
        self.keep_prob = float(keep_prob)
        self.shape = tuple(int(v) for v in shape)
        self.numel = numel = math.prod(self.shape)
        self.groups = []  # (masking, member positions, generators, the round's bytes)
        for kind in dict.fromkeys(ms):
            idx = [i for i, m in enumerate(ms) if m == kind]
            g = [gens[i] for i in idx]
            words = None
            if kind != "none" and uses_bits(kind, self.keep_prob):
                size = (int(steps), _DRAWS[kind], -(-numel // 64))
                words = torch.stack([_random_words(size, gi) for gi in g]).view(torch.uint8)
            self.groups.append((kind, idx, g, words))

    def _masks(self, kind, gens, words, t: int, x: torch.Tensor) -> torch.Tensor:
        """Step ``t``'s masks of one group, 0/1 in ``x``'s dtype. Shape: (k, draws, B, d1)."""
        shape = (len(gens), _DRAWS[kind], *self.shape)
        if words is not None:  # bits, unpacked where x lives
            w = words[:, t].to(x.device)
            bits = (w.unsqueeze(-1) >> _SHIFTS.to(x.device)).bitwise_and_(1)
            return bits.flatten(-2)[..., : self.numel].reshape(shape).to(x.dtype)
        u = torch.empty(shape)  # CPU, default dtype, like torch.rand
        _fill_uniform(u, gens)
        return (u < self.keep_prob).view(torch.uint8).to(x.device).to(x.dtype)

    def _write(self, kind, gens, words, t: int, x: torch.Tensor, out: torch.Tensor) -> None:
        B = x.shape[1]
        if kind == "none":
            out[:, :B].copy_(x)
            out[:, B:].copy_(x)
            return
        m = self._masks(kind, gens, words, t, x)
        if kind == "independent":  # x D / p, as (x * D) / p
            torch.mul(x, m[:, 0], out=out[:, :B]).div_(self.keep_prob)
            torch.mul(x, m[:, 1], out=out[:, B:]).div_(self.keep_prob)
            return
        x2 = 2 * x  # complementary: 2 D x and 2 (I - D) x
        torch.mul(x2, m[:, 0], out=out[:, :B])
        torch.mul(x2, 1 - m[:, 0], out=out[:, B:])

    def views(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The two views of batch ``x`` at step ``t`` of the round, stacked along the batch.

        Args:
            x: Shape: (member, batch, d1).
            t: the step within the round, 0 <= t < steps.

        Returns:
            ``[x+; x++]``. Shape: (member, 2 batch, d1).
        """
        K, B = x.shape[:2]
        out = x.new_empty((K, 2 * B, *x.shape[2:]))
        if len(self.groups) == 1:
            kind, _, g, words = self.groups[0]
            self._write(kind, g, words, t, x, out)
            return out
        for kind, idx, g, words in self.groups:
            sel = torch.tensor(idx, device=x.device)
            part = x.new_empty((len(idx), 2 * B, *x.shape[2:]))
            self._write(kind, g, words, t, x.index_select(0, sel), part)
            out.index_copy_(0, sel, part)
        return out


def views(x: torch.Tensor, masking: str | Sequence[str], keep_prob: float, gens) -> tuple:
    """Two augmented views of a batch (one step of :class:`RoundMasks`).

    * ``none``: identical views, x+ = x++ = x (the control);
    * ``independent``: x+ = D1 x / p, x++ = D2 x / p with independent
      D ~ diag(Bernoulli(p)) (p = ``keep_prob``);
    * ``complementary``: x+ = 2 D x, x++ = 2 (I - D) x, D ~ diag(Bernoulli(1/2))
      (Wen & Li's feature decoupling: the dense parts of the views become
      independent while every sparse atom survives in both, in expectation).

    ``masking`` is one value for all members (seeds) or one per member (a job that
    trains several sweep points at once). Each member's masks are drawn on the CPU
    from its own generator (``gens[i]``, by position), as :class:`RoundMasks` says;
    every view is computed from that member's slice alone, so a member's numbers
    never depend on the others.

    Args:
        x: Shape: (seed, batch, d1).
        masking: ``none | independent | complementary``, or a sequence of those,
            one per member.
        keep_prob: keep probability of the independent masks.
        gens: one generator per member.

    Returns:
        ``(x1, x2)``, each Shape: (seed, batch, d1).
    """
    B = x.shape[1]
    out = RoundMasks(masking, keep_prob, gens, 1, x.shape[1:]).views(x, 0)
    return out[:, :B], out[:, B:]
