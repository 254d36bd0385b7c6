"""SimCLR's NT-Xent loss (normalised temperature-scaled cross entropy), batched over
leading (seed) dims.

The 2B embeddings of a batch's two views are all anchors. For anchor a with u_a its
L2-normalised embedding, p(a) its positive (the other view of the same image) and
s_ab = <u_a, u_b>:

    ``L_a = -log( exp(s_{a,p(a)} / tau) / sum_{b != a} exp(s_ab / tau) )``,

the sum over the positive and the 2B - 2 negatives: both views of every other image,
the anchor's own view included (Chen et al. 2020, Eq. 1; the loss is the mean over the
2B anchors). It differs from :func:`contrastlab.losses.infonce.infonce_in_batch` (the
cross-view form: B - 1 negatives, all from the other view), e.g. 3.68 vs 3.01 at
B = 128, tau = 0.5 on random embeddings.

Tian et al. 2020's beta variant (Sec. 7; the authors' ``loss_type=default`` with
``beta``) adds an intra-pair term that pulls the positives together, both terms
normalised by (1 + beta):

    ``L_beta = ( mean_a L_a - beta * mean_a s_{a,p(a)} / tau ) / (1 + beta)``,

which is plain NT-Xent at beta = 0.

References:
    - [0] Chen, Kornblith, Norouzi & Hinton 2020, A Simple Framework for Contrastive
      Learning of Visual Representations (SimCLR), https://arxiv.org/abs/2002.05709
    - [1] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning with Dual
      Deep Networks, https://arxiv.org/abs/2010.00578 (Sec. 7; code: luckmatters
      ``ssl/real-dataset/loss/nt_xent.py``)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_lead(v, lead: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """A number, or a tensor with one value per leading index (Shape (*lead,) or
    (*lead, 1, 1)), as a tensor of Shape (*lead,) (a 0-d tensor for a number)."""
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return t if t.dim() == 0 else t.reshape(lead)


def pair_similarities(z1: torch.Tensor, z2: torch.Tensor):
    """Cosine similarities of the 2B views of a batch: of every anchor with its positive
    and with its 2B - 2 negatives (the other images' two views), anchors in the order
    view 1 then view 2.

    Returns:
        ``(s_pos, s_neg)``. Shape: (*lead, 2B) and (*lead, 2B, 2B - 2).
    """
    B = z1.shape[-2]
    u = F.normalize(torch.cat([z1, z2], dim=-2), dim=-1)
    sim = u @ u.transpose(-1, -2)  # (*lead, 2B, 2B)
    a = torch.arange(2 * B, device=u.device)
    pos = a.roll(B)
    s_pos = sim[..., a, pos]
    keep = (a[:, None] != a[None, :]) & (pos[:, None] != a[None, :])  # not self, not positive
    s_neg = sim[..., keep].reshape(*sim.shape[:-2], 2 * B, 2 * B - 2)
    return s_pos, s_neg


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature, beta=0.0) -> torch.Tensor:
    """NT-Xent of two views' embeddings (the module docstring's L_a, mean over anchors),
    or its beta variant L_beta.

    Args:
        z1: embeddings of view 1. Shape: (*lead, B, dim).
        z2: embeddings of view 2 (row i is the positive of row i of ``z1``).
            Shape: (*lead, B, dim).
        temperature: tau > 0, a number or a tensor broadcasting against (*lead, 1, 1).
        beta: Tian et al.'s beta > -1, a number or a tensor of Shape (*lead,); 0 (the
            default) is plain NT-Xent.

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    if not (isinstance(beta, int | float) and beta == 0):
        s_pos, s_neg = pair_similarities(z1, z2)
        lead = s_pos.shape[:-1]
        tau = per_lead(temperature, lead, s_pos)[..., None]  # (*lead, 1)
        beta = per_lead(beta, lead, s_pos)
        logits = torch.cat([s_pos.unsqueeze(-1), s_neg], dim=-1) / tau.unsqueeze(-1)
        ce = (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)
        intra = (s_pos / tau).mean(-1)
        return (ce - beta * intra) / (1 + beta)
    B = z1.shape[-2]
    u = F.normalize(torch.cat([z1, z2], dim=-2), dim=-1)  # (*lead, 2B, dim)
    logits = u @ u.transpose(-1, -2) / temperature  # (*lead, 2B, 2B)
    eye = torch.eye(2 * B, dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(eye, float("-inf"))
    pos = torch.arange(2 * B, device=u.device).roll(B)  # a's positive: a + B mod 2B
    s_pos = logits.gather(-1, pos.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - s_pos).mean(-1)
