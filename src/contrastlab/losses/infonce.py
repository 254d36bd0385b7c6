"""InfoNCE losses, batched over leading (seed) dims.

Two forms, both ``-log softmax`` of the positive's logit among the positive
and the negatives:

* :func:`infonce_in_batch` -- logits are cosine similarities / tau, the
  negatives of an anchor are the other samples of the batch of the other
  view (the cross-view form: B - 1 negatives; Wang & Liu 2021 [2], Eq. 1). SimCLR's
  NT-Xent [1] also counts the anchor's own view's other samples (2B - 2 negatives):
  :func:`contrastlab.losses.ntxent.nt_xent`:
  ``L_i = -log( exp(s_ii / tau) / sum_k exp(s_ik / tau) )``;
* :func:`infonce_distance` -- logits are minus half squared distances / tau,
  with a separate set of independent negatives (Tian et al. 2020 [3], Sec. 3):
  ``L_i = -log( e^{-d2+_i/tau} / (e^{-d2+_i/tau} + sum_k e^{-d2-_ik/tau}) )``.

For training on the CPU, :func:`infonce_in_batch_grad` (and its autograd wrapper
:func:`infonce_in_batch_fused`) computes the in-batch loss together with its gradient
in a few passes over the logits, a cache-sized chunk of leading indices at a time
(:func:`seed_chunk`); equal to :func:`infonce_in_batch` up to float rounding.

References:
    - [0] Oord et al. 2018, Representation Learning with Contrastive Predictive
      Coding, https://arxiv.org/abs/1807.03748
    - [1] Chen et al. 2020, SimCLR, https://arxiv.org/abs/2002.05709
    - [2] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
    - [3] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def infonce_in_batch(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, symmetric: bool = True
) -> torch.Tensor:
    """InfoNCE with in-batch negatives on cosine similarities.

    For anchor i with u_i = z1_i/|z1_i|, v_k = z2_k/|z2_k| and s_ik = <u_i, v_k>:
    ``L_i = -log( exp(s_ii / tau) / sum_k exp(s_ik / tau) )``, the sum running
    over the whole batch of the other view (the positive and the B - 1
    in-batch negatives). The loss is the mean of L_i over anchors; with
    ``symmetric`` the average of both directions (view 1 as anchors, then view 2).

    Args:
        z1: embeddings of view 1. Shape: (*lead, batch, dim).
        z2: embeddings of view 2. Shape: (*lead, batch, dim).
        temperature: tau > 0.
        symmetric: average both directions (default True).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    u = F.normalize(z1, dim=-1)
    v = F.normalize(z2, dim=-1)
    logits = u @ v.transpose(-1, -2) / temperature  # (*lead, B, B)
    diag = torch.diagonal(logits, dim1=-2, dim2=-1)  # (*lead, B)
    loss = (torch.logsumexp(logits, dim=-1) - diag).mean(-1)
    if symmetric:
        loss_t = (torch.logsumexp(logits, dim=-2) - diag).mean(-1)
        loss = 0.5 * (loss + loss_t)
    return loss


def infonce_distance(
    f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-anchor InfoNCE on distances, with the B independent negatives of the batch.

    ``L_i = -log( e^{-d2+_i/tau} / (e^{-d2+_i/tau} + sum_{k=1}^{B} e^{-d2-_ik/tau}) )``
    with the paper's d^2(a, b) = 1/2 |a - b|^2, d2+_i = d^2(f_i, f+_i),
    d2-_ik = d^2(f_i, f-_k): H = B negatives per anchor, all valid since the
    negatives are independent of every anchor.

    Args:
        f, f_pos, f_neg: anchors, positives, negatives. Shape: (*lead, B, d).
        temperature: tau > 0.

    Returns:
        Mean over anchors. Shape: (*lead,).
    """
    d2_pos = 0.5 * (f - f_pos).pow(2).sum(-1)  # (*lead, B)
    # (*lead, B anchors, B negatives); explicit differences (cdist's mm path loses precision)
    d2_neg = 0.5 * (f[..., :, None, :] - f_neg[..., None, :, :]).pow(2).sum(-1)
    logits = torch.cat([-d2_pos[..., None], -d2_neg], dim=-1) / temperature  # (*lead, B, 1 + B)
    return (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)


# -- the same in-batch InfoNCE with its gradient in one pass (fast path) ----------------

_NORM_EPS = 1e-12  # F.normalize's eps
_MAX_SHIFT_RANGE = 60.0
"""Largest logit range 2/tau for the one-exp path: every logit lies in [-1/tau, 1/tau]
(cosines), so exp(s) lies in [e^{-1/tau}, e^{1/tau}]; up to e^{30} that is a normal
float32 far from underflow (and from the slow path of exp below -87), and a row sum of
up to 2^20 of them stays far from overflow."""


def infonce_in_batch_grad(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float,
    symmetric: bool = True,
    need_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """:func:`infonce_in_batch` and its gradient, without autograd, in few passes.

    The same loss, computed for speed (:func:`infonce_in_batch_grad_stacked` does the
    work): the (B, B) logits (scaled by 1/tau inside one GEMM, ``baddbmm``; cosines
    over tau need no shift for 1/tau <= 30) are exponentiated once; the row and column sums of
    that one matrix give both directions' log-sum-exps, and the gradient
    d loss / d logits = (P_row + P_col - 2 I) / (2 B) (P the row- and column-softmax;
    without ``symmetric``: (P_row - I) / B) is formed from the same exponentials.
    About 5 elementwise passes over the (B, B) matrix instead of about 22 with
    autograd. Equal to :func:`infonce_in_batch` up to float rounding (the loss to
    about 1e-6, the gradient as accurate as autograd's in float32).

    Args:
        z1, z2: embeddings of the two views. Shape: (*lead, batch, dim).
        temperature: tau > 0.
        symmetric: average both directions (default True).
        need_grad: also return the gradients (else ``None, None``).

    Returns:
        ``(loss, dz1, dz2)``: the loss per leading index, Shape (*lead,), and the
        gradient of each leading index's loss w.r.t. its own z1, z2 (same shapes).
    """
    B = z1.shape[-2]
    loss, dz = infonce_in_batch_grad_stacked(
        torch.cat([z1, z2], -2), temperature, symmetric, need_grad
    )
    if dz is None:
        return loss, None, None
    return loss, dz[..., :B, :], dz[..., B:, :]


def infonce_in_batch_grad_stacked(
    z: torch.Tensor,
    temperature: float,
    symmetric: bool = True,
    need_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`infonce_in_batch_grad` on the two views stacked along the batch.

    For 2/tau > 60 the rows and the columns are shifted by their own maxima (two
    exponentials) instead of by 1/tau.

    Args:
        z: ``[z1; z2]``. Shape: (*lead, 2 batch, dim).
        temperature, symmetric, need_grad: as :func:`infonce_in_batch_grad`.

    Returns:
        ``(loss, dz)``: loss per leading index, Shape (*lead,), and its gradient
        w.r.t. ``z`` (None without ``need_grad``).
    """
    lead, (B2, D) = z.shape[:-2], z.shape[-2:]
    z = z.reshape(-1, B2, D)
    B = B2 // 2
    inv_t = 1.0 / temperature
    n = torch.linalg.vector_norm(z, dim=-1, keepdim=True).clamp_min_(_NORM_EPS)
    w = z / n  # F.normalize
    u, v = w[:, :B], w[:, B:]
    if 2.0 * inv_t <= _MAX_SHIFT_RANGE:
        # every logit s_ik = <u_i, v_k> / tau lies in [-1/tau, 1/tau]: exp needs no
        # shift, and one exponential serves both directions
        E = torch.baddbmm(z.new_zeros(()).expand(z.shape[0], B, B), u, v.transpose(1, 2),
                          beta=0.0, alpha=inv_t)  # fmt: skip
        pos = E.diagonal(dim1=1, dim2=2).sum(1)  # sum_i s_ii
        E = E.exp_()  # exp(s), in [e^{-1/tau}, e^{1/tau}]
        sums = torch.cat([E.sum(2), E.sum(1)], 1) if symmetric else E.sum(2)
        lse = sums.log()  # (N, 2B): row then column log-sum-exps
        E_col = E
    else:  # wide logit range: each direction shifted by its own maxima
        E = torch.bmm(u * inv_t, v.transpose(1, 2))
        pos = E.diagonal(dim1=1, dim2=2).sum(1)
        m_r, m_c = E.amax(2, keepdim=True), E.amax(1, keepdim=True)
        E_col = (E - m_c).exp_() if symmetric else None
        E = E.sub_(m_r).exp_()
        if symmetric:
            sums = torch.cat([E.sum(2), E_col.sum(1)], 1)
            lse = sums.log().add_(torch.cat([m_r.squeeze(2), m_c.squeeze(1)], 1))
        else:
            sums = E.sum(2)
            lse = sums.log().add_(m_r.squeeze(2))
    # mean over anchors (both directions: their average) of lse - s_ii
    loss = lse.mean(1).sub_(pos, alpha=1.0 / B).reshape(lead)
    if not need_grad:
        return loss, None
    # G = d loss / d (u v^T) = (P_row + P_col - 2 I) / (2 B tau)   [(P_row - I) / (B tau)]
    k = (0.5 if symmetric else 1.0) * inv_t / B
    scale = sums.reciprocal_().mul_(k)  # k / row sums, then k / column sums
    if not symmetric:
        G = E.mul_(scale.unsqueeze(2))
    elif E_col is E:  # E (a_i + b_j) as E b_j + E a_i (no (B, B) broadcast sum)
        G = (E * scale[:, None, B:]).addcmul_(E, scale[:, :B, None])
    else:
        G = E.mul_(scale[:, :B, None]).add_(E_col.mul_(scale[:, None, B:]))
    G.diagonal(dim1=1, dim2=2).sub_(2.0 * k if symmetric else k)
    # G^T u as (u^T G)^T: the same products, a faster GEMM layout
    dw = torch.cat([torch.bmm(G, v), torch.bmm(u.transpose(1, 2), G).transpose(1, 2)], 1)
    # through w = z / max(|z|, eps): (dw - w <w, dw>) / |z|
    dz = torch.addcmul(dw, w, torch.linalg.vecdot(w, dw).unsqueeze(-1), value=-1.0).div_(n)
    return loss, dz.reshape(*lead, B2, D)


def seed_chunk(batch: int, device: torch.device | str = "cpu", nbytes: int | None = None) -> int:
    """How many leading (seed) indices to process at once so that one chunk's (B, B)
    float32 logits take about ``nbytes`` (default 4 MiB per torch thread: 16 seeds at
    B = 256 on one thread, 32 on two; on the 2-core development machine (2 MiB of L2
    per core) chunks of 32 seeds on two threads were faster than chunks of 4, 8 or 16
    for K = 32 and 64 seeds: fewer, larger ops cost less than the cache misses).
    The chunk size never changes the numbers, only the speed. On a GPU: no chunking
    (0 = all at once)."""
    if torch.device(device).type != "cpu":
        return 0
    if nbytes is None:
        nbytes = (4 << 20) * max(1, torch.get_num_threads())
    return max(1, nbytes // (4 * batch * batch))


class _InfoNCEInBatch(torch.autograd.Function):
    """Loss per leading index; the gradient is computed with the loss (chunk by chunk,
    while the chunk's logits are in cache) and only scaled in the backward pass."""

    @staticmethod
    def forward(ctx, z1, z2, temperature, symmetric, chunk):
        need = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        n = z1.shape[0]
        step = chunk if chunk and chunk > 0 else max(n, 1)
        parts = [
            infonce_in_batch_grad(z1[s : s + step], z2[s : s + step], temperature, symmetric, need)
            for s in range(0, n, step)
        ]
        if need:
            ctx.save_for_backward(*(torch.cat([p[i] for p in parts]) for i in (1, 2)))
        return torch.cat([p[0] for p in parts])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        d1, d2 = ctx.saved_tensors
        g = g.reshape(*g.shape, 1, 1)
        return d1 * g, d2 * g, None, None, None


def infonce_in_batch_fused(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float,
    symmetric: bool = True,
    chunk: int | None = None,
) -> torch.Tensor:
    """:func:`infonce_in_batch` for training: the gradient is formed in the forward pass
    (:func:`infonce_in_batch_grad`), ``chunk`` leading indices at a time (default
    :func:`seed_chunk`); backward only scales it. Differentiable once.

    Args:
        z1, z2: Shape: (lead, batch, dim) (one leading dimension, the seed).
        temperature, symmetric: as :func:`infonce_in_batch`.
        chunk: leading indices per chunk (0: all at once).

    Returns:
        Loss per leading index. Shape: (lead,).
    """
    if chunk is None:
        chunk = seed_chunk(z1.shape[-2], z1.device)
    return _InfoNCEInBatch.apply(z1, z2, temperature, symmetric, chunk)
