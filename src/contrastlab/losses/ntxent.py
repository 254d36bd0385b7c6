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

References:
    - [0] Chen, Kornblith, Norouzi & Hinton 2020, A Simple Framework for Contrastive
      Learning of Visual Representations (SimCLR), https://arxiv.org/abs/2002.05709
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature) -> torch.Tensor:
    """NT-Xent of two views' embeddings (the module docstring's L_a, mean over anchors).

    Args:
        z1: embeddings of view 1. Shape: (*lead, B, dim).
        z2: embeddings of view 2 (row i is the positive of row i of ``z1``).
            Shape: (*lead, B, dim).
        temperature: tau > 0, a number or a tensor broadcasting against (*lead, 1, 1).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    B = z1.shape[-2]
    u = F.normalize(torch.cat([z1, z2], dim=-2), dim=-1)  # (*lead, 2B, dim)
    logits = u @ u.transpose(-1, -2) / temperature  # (*lead, 2B, 2B)
    eye = torch.eye(2 * B, dtype=torch.bool, device=u.device)
    logits = logits.masked_fill(eye, float("-inf"))
    pos = torch.arange(2 * B, device=u.device).roll(B)  # a's positive: a + B mod 2B
    s_pos = logits.gather(-1, pos.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - s_pos).mean(-1)
