"""One-layer symmetric ReLU network with bias, and the masking augmentations.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from contrastlab.families.sparse_dense.config import MASKINGS
from contrastlab.losses.infonce import infonce_in_batch_grad_stacked, seed_chunk


def sym_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_i(x) = ReLU(<w_i, x> - b_i) - ReLU(-<w_i, x> - b_i), batched over seeds.

    Args:
        x: inputs. Shape: (seed, batch, d1).
        W: weights, one row w_i per neuron. Shape: (seed, m, d1).
        b: biases. Shape: (seed, m).

    Returns:
        Shape: (seed, batch, m).
    """
    u = torch.bmm(x, W.transpose(1, 2))  # (seed, batch, m)
    b = b.unsqueeze(1)
    return torch.relu(u - b) - torch.relu(-u - b)


def _loss_and_grads(x1, x2, W, b, temperature, need_grad):
    """One chunk of seeds: InfoNCE of the network on the two views, and its gradient
    w.r.t. W and b (by hand: h = r1 - r2 with r1 = ReLU(a - b), r2 = ReLU(-a - b), so
    dh/da = 1[r1 > 0] + 1[r2 > 0] and dh/db = 1[r2 > 0] - 1[r1 > 0])."""
    X = torch.cat([x1, x2], 1)  # (chunk, 2B, d1): one GEMM for both views
    a = torch.bmm(X, W.transpose(1, 2))
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
    def forward(ctx, x1, x2, W, b, temperature, chunk):
        need = ctx.needs_input_grad[2] or ctx.needs_input_grad[3]
        n = W.shape[0]
        step = chunk if chunk and chunk > 0 else n
        parts = [
            _loss_and_grads(
                x1[s : s + step], x2[s : s + step], W[s : s + step], b[s : s + step],
                temperature, need,
            )
            for s in range(0, n, step)
        ]  # fmt: skip
        if need:
            ctx.save_for_backward(*(torch.cat([p[i] for p in parts]) for i in (1, 2)))
        return torch.cat([p[0] for p in parts])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        dW, db = ctx.saved_tensors
        return None, None, dW * g[:, None, None], db * g[:, None], None, None


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
    if chunk is None:
        chunk = seed_chunk(x1.shape[1], x1.device)
    return _SymReluInfoNCE.apply(x1, x2, W, b, temperature, chunk)


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
"""Uniform (batch, d1) draws per member and step: D1 then D2 for independent masks."""


def _fill_uniform(u: torch.Tensor, gens) -> None:
    """``u[i, j] = torch.rand(..., generator=gens[i])`` for every member i, draws j in
    order: what each member alone draws, one call after the other."""
    for i, g in enumerate(gens):
        for j in range(u.shape[1]):
            torch.rand(u.shape[2:], generator=g, out=u[i, j])


def _member_views(x: torch.Tensor, masking: str, keep_prob: float, gens) -> tuple:
    """The two views of ``x`` for members that all have ``masking``, one generator each.

    Each member draws exactly what ``views`` always drew for it alone
    (``torch.rand(shape, generator=g) < p``, D1 before D2); ``x * mask`` is written
    ``x * float(mask)`` (the same products) and ``~mask`` as ``1 - float(mask)``.
    """
    if masking == "none":
        return x, x
    shape = x.shape[1:]
    u = torch.empty((len(gens), _DRAWS[masking], *shape))  # CPU, default dtype, like torch.rand
    _fill_uniform(u, gens)
    p = keep_prob if masking == "independent" else 0.5
    m = (u < p).view(torch.uint8).to(x.device).to(x.dtype)  # via uint8: a fast conversion
    if masking == "independent":
        return x * m[:, 0] / keep_prob, x * m[:, 1] / keep_prob
    x2 = 2 * x
    return x2 * m[:, 0], x2 * (1 - m[:, 0])


def views(x: torch.Tensor, masking: str | Sequence[str], keep_prob: float, gens) -> tuple:
    """Two augmented views of a batch.

    * ``none``: identical views, x+ = x++ = x (the control);
    * ``independent``: x+ = D1 x / p, x++ = D2 x / p with independent
      D ~ diag(Bernoulli(p)) (p = ``keep_prob``);
    * ``complementary``: x+ = 2 D x, x++ = 2 (I - D) x, D ~ diag(Bernoulli(1/2))
      (Wen & Li's feature decoupling: the dense parts of the views become
      independent while every sparse atom survives in both, in expectation).

    ``masking`` is one value for all members (seeds) or one per member (a job that
    trains several sweep points at once). Each member's masks are drawn on the CPU
    from its own generator (``gens[i]``, by position), exactly what a run of that
    member alone draws, then moved to ``x``'s device; every view is computed from
    that member's slice alone, so a member's numbers never depend on the others.

    Args:
        x: Shape: (seed, batch, d1).
        masking: ``none | independent | complementary``, or a sequence of those,
            one per member.
        keep_prob: keep probability of the independent masks.
        gens: one generator per member.

    Returns:
        ``(x1, x2)``, each Shape: (seed, batch, d1) (both ``x`` itself when every
        member has ``none``).
    """
    ms = member_maskings(masking, x.shape[0])
    gens = list(gens)
    kinds = list(dict.fromkeys(ms))
    if len(kinds) == 1:
        return _member_views(x, kinds[0], keep_prob, gens)
    v1, v2 = torch.empty_like(x), torch.empty_like(x)
    for kind in kinds:
        idx = [i for i, m in enumerate(ms) if m == kind]
        sel = torch.tensor(idx, device=x.device)
        a, b = _member_views(x.index_select(0, sel), kind, keep_prob, [gens[i] for i in idx])
        v1.index_copy_(0, sel, a)
        v2.index_copy_(0, sel, b)
    return v1, v2
