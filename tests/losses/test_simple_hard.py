"""Simple, hard contrastive and HardSimple losses against naive loops over the formulas
(Wang & Liu 2021, arXiv 2012.09740)."""

import math

import pytest
import torch

from contrastlab.losses.hard import hard_infonce_in_batch, hard_simple_in_batch, n_hard
from contrastlab.losses.infonce import infonce_in_batch
from contrastlab.losses.simple import simple_in_batch


def _cos(a, b):
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def _one_direction(a, b, per_anchor):
    B = len(a)
    total = 0.0
    for i in range(B):
        s_pos = _cos(a[i], b[i])
        s_neg = [_cos(a[i], b[k]) for k in range(B) if k != i]
        total += per_anchor(s_pos, s_neg)
    return total / B


def naive(z1, z2, per_anchor, symmetric):
    loss = _one_direction(z1, z2, per_anchor)
    if symmetric:
        loss = 0.5 * (loss + _one_direction(z2, z1, per_anchor))
    return loss


def simple_anchor(lam):
    return lambda s_pos, s_neg: -s_pos + lam * sum(s_neg)


def hard_anchor(tau, k):
    def f(s_pos, s_neg):
        kept = sorted(s_neg, reverse=True)[:k]
        den = sum(math.exp(s / tau) for s in kept) + math.exp(s_pos / tau)
        return -math.log(math.exp(s_pos / tau) / den)

    return f


def hard_simple_anchor(lam, k):
    return lambda s_pos, s_neg: -s_pos + lam * sum(sorted(s_neg, reverse=True)[:k])


def views(seed=0, S=3, B=9, d=5):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(S, B, d, generator=g, dtype=torch.float64)
    z2 = torch.randn(S, B, d, generator=g, dtype=torch.float64)
    return z1, z2


@pytest.mark.parametrize(
    ("batch", "fraction", "k"),
    [
        (9, 0.08, 1),
        (9, 0.3, 3),
        (9, 1.0, 8),
        (2, 0.01, 1),
        (256, 0.08, 21),
        (11, 0.1, 1),
        (128, 0.08, 11),
    ],
)
def test_n_hard_is_ceil_of_fraction_at_least_one(batch, fraction, k):
    assert n_hard(batch, fraction) == k


def test_n_hard_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        n_hard(9, 0.0)
    with pytest.raises(ValueError, match=">= 2"):
        n_hard(1, 0.5)


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_simple_matches_naive_loop(lam, symmetric):
    z1, z2 = views()
    got = simple_in_batch(z1, z2, lam, symmetric)
    assert got.shape == (3,)
    for s in range(3):
        want = naive(z1[s], z2[s], simple_anchor(lam), symmetric)
        assert got[s].item() == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("tau", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("fraction", [0.08, 0.3, 0.6])
@pytest.mark.parametrize("symmetric", [True, False])
def test_hard_infonce_matches_naive_loop(tau, fraction, symmetric):
    z1, z2 = views(1)
    k = n_hard(9, fraction)
    got = hard_infonce_in_batch(z1, z2, tau, fraction, symmetric)
    assert got.shape == (3,)
    for s in range(3):
        want = naive(z1[s], z2[s], hard_anchor(tau, k), symmetric)
        assert got[s].item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("fraction", [0.08, 0.3, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_hard_simple_matches_naive_loop(fraction, symmetric):
    z1, z2 = views(2)
    k = n_hard(9, fraction)
    got = hard_simple_in_batch(z1, z2, 0.25, fraction, symmetric)
    for s in range(3):
        want = naive(z1[s], z2[s], hard_simple_anchor(0.25, k), symmetric)
        assert got[s].item() == pytest.approx(want, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("symmetric", [True, False])
def test_all_negatives_give_the_ordinary_losses(symmetric):
    z1, z2 = views(3)
    torch.testing.assert_close(
        hard_infonce_in_batch(z1, z2, 0.3, 1.0, symmetric), infonce_in_batch(z1, z2, 0.3, symmetric)
    )
    torch.testing.assert_close(
        hard_simple_in_batch(z1, z2, 0.5, 1.0, symmetric), simple_in_batch(z1, z2, 0.5, symmetric)
    )


@pytest.mark.parametrize("fn", ["infonce", "simple"])
def test_hard_losses_give_gradient_only_to_the_kept_negatives(fn):
    from contrastlab.losses import hard

    g = torch.Generator().manual_seed(5)
    sim = (torch.rand(2, 7, 7, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_()
    k = 2
    if fn == "infonce":
        hard._hard_infonce_rows(sim, 0.2, k).sum().backward()
    else:
        hard._hard_simple_rows(sim, 0.5, k).sum().backward()
    eye = torch.eye(7, dtype=torch.bool)
    kept = torch.zeros_like(eye).expand(2, 7, 7).clone()
    idx = sim.detach().masked_fill(eye, -math.inf).topk(k, dim=-1).indices
    kept.scatter_(-1, idx, True)
    grad = sim.grad
    assert (grad[kept] > 0).all()  # pushed apart
    assert (grad[~kept & ~eye] == 0).all()  # dropped negatives: no gradient
    assert (torch.diagonal(grad, dim1=-2, dim2=-1) < 0).all()  # positives pulled together


def test_collapsed_views_give_log_of_kept_plus_one():
    ones = torch.ones(2, 10, 4, dtype=torch.float64)
    k = n_hard(10, 0.3)
    torch.testing.assert_close(
        hard_infonce_in_batch(ones, ones, 0.1, 0.3),
        torch.full((2,), math.log(k + 1), dtype=torch.float64),
    )
