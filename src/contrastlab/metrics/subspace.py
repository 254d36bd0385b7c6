"""Principal angles between subspaces, batched over leading dims.

For subspaces spanned by the columns of A (n x p) and B (n x q), with
orthonormal bases Q_A, Q_B, the principal angles are arccos of the singular
values of Q_A^T Q_B, in increasing order (Golub & Van Loan, Sec. 6.4.3).
"""

from __future__ import annotations

import torch


def principal_angles(a: torch.Tensor, b: torch.Tensor, degrees: bool = True) -> torch.Tensor:
    """Principal angles between span(a) and span(b), smallest first.

    Args:
        a: spanning vectors as columns. Shape: (*lead, n, p).
        b: spanning vectors as columns. Shape: (*lead, n, q).
        degrees: return degrees (default) instead of radians.

    Returns:
        Shape: (*lead, min(p, q)). Full-rank inputs are assumed.
    """
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.transpose(-1, -2) @ qb).clamp(-1.0, 1.0)
    angles = torch.arccos(s)  # s descending -> angles ascending
    return torch.rad2deg(angles) if degrees else angles
