"""Tian et al.'s exact-covariance loss and NT-Xent's beta variant against naive loops
written from the formulas (Sec. 7 / the authors' code), and the exact-covariance
gradient against the detached-weight form."""

import math

import pytest
import torch

from contrastlab.losses.exact_cov import exact_cov
from contrastlab.losses.ntxent import nt_xent


def unit_views(z1, z2):
    z = torch.cat([z1, z2]).double()
    return z / z.norm(dim=1, keepdim=True), z1.shape[0]


def naive_exact_cov(z1, z2, tau, beta):
    z, B = unit_views(z1, z2)
    n_neg = 2 * B - 2
    total_loss = total_pull = 0.0
    for a in range(2 * B):
        p = (a + B) % (2 * B)
        r_pos = 1 - float(z[a] @ z[p])
        ws, wr = 0.0, 0.0
        for b in range(2 * B):
            if b in (a, p):
                continue
            r = 1 - float(z[a] @ z[b])
            e = math.exp(-r / tau)
            w = e / (1 + e) / tau / n_neg
            ws += w
            wr += w * r
        total_loss += ws * r_pos - wr
        total_pull += ws * r_pos
    return (total_loss + beta * total_pull) / (2 * B)


def naive_nt_xent_beta(z1, z2, tau, beta):
    z, B = unit_views(z1, z2)
    ce = pos = 0.0
    for a in range(2 * B):
        p = (a + B) % (2 * B)
        den = sum(math.exp(float(z[a] @ z[b]) / tau) for b in range(2 * B) if b != a)
        ce += -float(z[a] @ z[p]) / tau + math.log(den)
        pos += float(z[a] @ z[p]) / tau
    return (ce / (2 * B) - beta * pos / (2 * B)) / (1 + beta)


@pytest.mark.parametrize("beta", [-0.5, 0.0, 0.5])
def test_losses_equal_their_naive_loops_per_seed(beta):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 4, generator=g)
    ec, nt = exact_cov(z1, z2, 0.5, beta), nt_xent(z1, z2, 0.5, beta)
    for s in range(2):
        assert abs(float(ec[s]) - naive_exact_cov(z1[s], z2[s], 0.5, beta)) < 1e-6
        assert abs(float(nt[s]) - naive_nt_xent_beta(z1[s], z2[s], 0.5, beta)) < 1e-5
    # one beta and tau per seed (a fused job's members)
    betas, taus = torch.tensor([beta, 0.25]), torch.tensor([0.5, 0.2]).view(2, 1, 1)
    ec, nt = exact_cov(z1, z2, taus, betas), nt_xent(z1, z2, taus, betas)
    for s, (b, t) in enumerate([(beta, 0.5), (0.25, 0.2)]):
        assert abs(float(ec[s]) - naive_exact_cov(z1[s], z2[s], t, b)) < 1e-6
        assert abs(float(nt[s]) - naive_nt_xent_beta(z1[s], z2[s], t, b)) < 1e-5


def test_exact_cov_gradient_is_the_detached_weight_form():
    """The gradient of the loss is that of sum_aj w_aj (r_pos,a - r_neg,aj) with the
    weights w computed beforehand as constants (Theorem 4's frozen weights), and not that
    of the same expression with the weights differentiated."""
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    tau, beta = 0.5, 0.5
    grads = torch.autograd.grad(exact_cov(z1, z2, tau, beta), (z1, z2))

    def weighted(frozen: bool):
        u = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
        B = 5
        loss = 0.0
        for a in range(2 * B):
            p = (a + B) % (2 * B)
            r_pos = 1 - u[a] @ u[p]
            for b in range(2 * B):
                if b in (a, p):
                    continue
                r = 1 - u[a] @ u[b]
                e = torch.exp(-(r.detach() if frozen else r) / tau)
                w = e / (1 + e) / tau / (2 * B - 2)
                loss = loss + w * ((1 + beta) * r_pos - r)
        return loss / (2 * B)

    want = torch.autograd.grad(weighted(frozen=True), (z1, z2))
    other = torch.autograd.grad(weighted(frozen=False), (z1, z2))
    for got, ref, not_ref in zip(grads, want, other, strict=True):
        torch.testing.assert_close(got, ref, atol=1e-12, rtol=1e-10)
        assert (got - not_ref).abs().max() > 1e-4
