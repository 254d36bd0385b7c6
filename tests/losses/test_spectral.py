"""The spectral contrastive loss: parity with naive loops, and its forms agree in expectation."""

import math

import pytest
import torch

from contrastlab.losses.spectral import (
    second_moment,
    spectral_contrastive,
    spectral_loss,
    spectral_loss_plugin,
    spectral_terms,
)


def naive_plugin(f1, f2, lam):
    """mean_i |f1_i - f2_i|^2 + lam * |C - I|_F^2, C = (sum f1 f1^T + f2 f2^T) / 2B, as loops."""
    B, k = f1.shape
    pos = sum(float(((f1[i] - f2[i]) ** 2).sum()) for i in range(B)) / B
    reg = 0.0
    for a in range(k):
        for b in range(k):
            c = sum(float(f1[i, a] * f1[i, b] + f2[i, a] * f2[i, b]) for i in range(B)) / (2 * B)
            reg += (c - (a == b)) ** 2
    return pos + lam * reg


def naive_unbiased(f1, f2, lam):
    B, k = f1.shape
    pos = sum(float(((f1[i] - f2[i]) ** 2).sum()) for i in range(B)) / B
    off = sum(float(f1[i] @ f2[j]) ** 2 for i in range(B) for j in range(B) if i != j)
    off /= B * (B - 1)
    norms = sum(0.5 * float(f1[i] @ f1[i] + f2[i] @ f2[i]) for i in range(B)) / B
    return pos + lam * (off - 2 * norms + k)


def naive_contrastive(f1, f2):
    B = f1.shape[0]
    pos = sum(float(f1[i] @ f2[i]) for i in range(B)) / B
    off = sum(float(f1[i] @ f2[j]) ** 2 for i in range(B) for j in range(B) if i != j)
    return -2 * pos + off / (B * (B - 1))


@pytest.fixture
def views():
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(3, 6, 4, generator=g, dtype=torch.float64)
    f2 = f1 + 0.3 * torch.randn(3, 6, 4, generator=g, dtype=torch.float64)
    return f1, f2


@pytest.mark.parametrize("lam", [0.1, 1.0, 30.0])
def test_forms_match_naive_loops(views, lam):
    f1, f2 = views
    plug, unb = spectral_loss_plugin(f1, f2, lam), spectral_loss(f1, f2, lam)
    con = spectral_contrastive(f1, f2)
    assert plug.shape == unb.shape == con.shape == (3,)
    for s in range(3):
        assert plug[s].item() == pytest.approx(naive_plugin(f1[s], f2[s], lam), rel=1e-12)
        assert unb[s].item() == pytest.approx(naive_unbiased(f1[s], f2[s], lam), rel=1e-12)
        assert con[s].item() == pytest.approx(naive_contrastive(f1[s], f2[s]), rel=1e-12)


def test_terms_and_per_seed_lambda(views):
    f1, f2 = views
    pos, reg = spectral_terms(f1, f2)
    lam = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    torch.testing.assert_close(spectral_loss_plugin(f1, f2, lam), pos + lam * reg)
    for s in range(3):  # a per-index lambda equals each lambda alone
        torch.testing.assert_close(spectral_loss(f1, f2, lam)[s], spectral_loss(f1, f2, lam[s])[s])
    C = second_moment(f1, f2)
    torch.testing.assert_close(C, C.transpose(-1, -2))


def test_unbiased_lambda_one_is_contrastive_plus_k_per_batch(views):
    f1, f2 = views
    torch.testing.assert_close(spectral_loss(f1, f2, 1.0), spectral_contrastive(f1, f2) + 4)


def test_whitened_invariant_encoder_has_zero_plugin_loss():
    # f = sqrt(k) e_c for balanced classes c, both views in the same class: L = 0 exactly
    k = 4
    f = math.sqrt(k) * torch.eye(k, dtype=torch.float64).repeat(5, 1).unsqueeze(0)  # (1, 20, 4)
    assert spectral_loss_plugin(f, f, 3.0).item() == pytest.approx(0.0, abs=1e-12)


def _finite_model():
    """A finite positive-pair distribution: 5 natural points, 7 views, f a fixed table."""
    g = torch.Generator().manual_seed(1)
    p = torch.rand(5, generator=g, dtype=torch.float64)
    p = p / p.sum()  # natural points
    q = torch.rand(5, 7, generator=g, dtype=torch.float64) ** 3
    q = q / q.sum(1, keepdim=True)  # views given the natural point
    table = torch.randn(7, 3, generator=g, dtype=torch.float64)  # f(view)
    return p, q, table


def _population(p, q, table, lam):
    """L_lambda exactly: E_pos |f(a) - f(b)|^2 + lam |sum_a m_a f_a f_a^T - I|_F^2."""
    d2 = (table[:, None, :] - table[None, :, :]).pow(2).sum(-1)  # (7, 7)
    pos = sum(p[z] * (q[z][:, None] * q[z][None, :] * d2).sum() for z in range(len(p)))
    m = p @ q
    C = (m[:, None, None] * table[:, :, None] * table[:, None, :]).sum(0)
    return float(pos + lam * (C - torch.eye(3, dtype=C.dtype)).pow(2).sum())


@pytest.mark.parametrize("lam", [0.3, 1.0, 5.0])
def test_unbiased_forms_agree_with_the_population_loss_in_expectation(lam):
    p, q, table = _finite_model()
    g = torch.Generator().manual_seed(2)
    n_batches, B = 40000, 6
    z = torch.multinomial(p, n_batches * B, replacement=True, generator=g)
    a = torch.multinomial(q[z], 1, generator=g).squeeze(1)
    b = torch.multinomial(q[z], 1, generator=g).squeeze(1)
    f1 = table[a].reshape(n_batches, B, 3)
    f2 = table[b].reshape(n_batches, B, 3)
    exact = _population(p, q, table, lam)

    def mean_and_se(v):
        return v.mean().item(), v.std().item() / math.sqrt(n_batches)

    m, se = mean_and_se(spectral_loss(f1, f2, lam))
    assert abs(m - exact) < 4 * se, (m, exact, se)
    if lam == 1.0:  # HaoChen et al. 2021's form: the same up to the constant k = 3
        m, se = mean_and_se(spectral_contrastive(f1, f2) + 3)
        assert abs(m - exact) < 4 * se, (m, exact, se)
    # the plug-in regulariser is biased upwards on small batches
    m, se = mean_and_se(spectral_loss_plugin(f1, f2, lam))
    assert m - exact > 4 * se
