import math

import pytest
import torch

from contrastlab.losses import infonce_in_batch


def naive_info_nce(z1, z2, tau, symmetric):
    """L_i = -log(exp(s_ii/tau) / sum_k exp(s_ik/tau)), written as loops."""
    B = len(z1)

    def cos(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    def one_direction(a, b):
        total = 0.0
        for i in range(B):
            num = math.exp(cos(a[i], b[i]) / tau)
            den = sum(math.exp(cos(a[i], b[k]) / tau) for k in range(B))
            total += -math.log(num / den)
        return total / B

    loss = one_direction(z1, z2)
    if symmetric:
        loss = 0.5 * (loss + one_direction(z2, z1))
    return loss


@pytest.mark.parametrize("tau", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_info_nce_matches_naive_loop(tau, symmetric):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(3, 7, 5, generator=g, dtype=torch.float64)
    z2 = torch.randn(3, 7, 5, generator=g, dtype=torch.float64)
    got = infonce_in_batch(z1, z2, tau, symmetric)
    assert got.shape == (3,)
    for s in range(3):
        assert got[s].item() == pytest.approx(
            naive_info_nce(z1[s], z2[s], tau, symmetric), rel=1e-10
        )


def test_info_nce_identical_views_is_below_log_batch():
    # identical, well-spread views: the positive dominates, loss < log(B)
    z = torch.eye(8, dtype=torch.float64).unsqueeze(0)
    assert infonce_in_batch(z, z, 0.1).item() < math.log(8)
    # collapsed views: every logit equal, loss = log(B) exactly
    ones = torch.ones(1, 8, 4, dtype=torch.float64)
    assert infonce_in_batch(ones, ones, 0.1).item() == pytest.approx(math.log(8))
