"""The analytic part of Wang & Liu 2021: r_i, its entropy and the gradient limits."""

import math

import numpy as np
import pytest
import torch

from contrastlab.families.temperature import analytic as an
from contrastlab.results import _check_attrs

RNG = np.random.default_rng(0)
S_NEG = RNG.uniform(-1, 1, 50)
S_POS = 0.3


def torch_loss_grads(s_pos, s_neg, tau):
    sp = torch.tensor(s_pos, dtype=torch.float64, requires_grad=True)
    sn = torch.tensor(s_neg, dtype=torch.float64, requires_grad=True)
    logits = torch.cat([sp[None], sn]) / tau
    loss = torch.logsumexp(logits, 0) - sp / tau  # Eq. 1
    loss.backward()
    return loss.item(), sp.grad.item(), sn.grad.numpy()


def test_relative_penalty_is_the_boltzmann_distribution():
    for tau in (0.07, 0.5, 3.0):
        r = an.relative_penalty(S_NEG, tau)
        want = np.exp(S_NEG / tau) / np.exp(S_NEG / tau).sum()
        np.testing.assert_allclose(r, want, rtol=1e-12)
        assert r.sum() == pytest.approx(1.0)
        # the share among negatives is P_ij / sum_k P_ik, whatever s_ii
        _, g_neg = an.contrastive_gradients(S_POS, S_NEG, tau)
        np.testing.assert_allclose(g_neg / g_neg.sum(), r, rtol=1e-12)


@pytest.mark.parametrize("tau", [0.05, 0.2, 1.0, 10.0])
def test_gradients_match_autograd_of_eq1(tau):
    loss, gp, gn = torch_loss_grads(S_POS, S_NEG, tau)
    g_pos, g_neg = an.contrastive_gradients(S_POS, S_NEG, tau)
    assert an.contrastive_loss(S_POS, S_NEG, tau) == pytest.approx(loss, rel=1e-12)
    assert g_pos == pytest.approx(gp, rel=1e-10)
    np.testing.assert_allclose(g_neg, gn, rtol=1e-10)
    assert g_pos == pytest.approx(-g_neg.sum(), rel=1e-12)


def test_large_tau_limit_is_the_simple_loss_gradient():
    N = len(S_NEG)
    lim_pos, lim_neg = an.limit_large_tau(N)
    tau = 1e5
    g_pos, g_neg = an.contrastive_gradients(S_POS, S_NEG, tau)
    assert tau * g_pos == pytest.approx(lim_pos, abs=1e-4)
    np.testing.assert_allclose(tau * g_neg, lim_neg, atol=1e-6)
    # = N/(N+1) * gradient of -s_ii + lambda sum s_ij with lambda = 1/N: uniform penalty
    np.testing.assert_allclose(lim_neg, N / (N + 1) * (1.0 / N), rtol=1e-12)
    assert lim_pos == pytest.approx(N / (N + 1) * -1.0)
    r = an.relative_penalty(S_NEG, tau)
    np.testing.assert_allclose(r, 1.0 / N, rtol=1e-4)


@pytest.mark.parametrize("s_pos", [0.5, 0.9])  # the hardest negative (0.8) beats / loses to it
def test_small_tau_limit_is_the_margin_zero_triplet(s_pos):
    s_neg = RNG.permutation(np.linspace(-0.9, 0.8, 50))  # neighbours 0.035 apart
    tau = 1e-3
    g_pos, g_neg = an.contrastive_gradients(s_pos, s_neg, tau)
    lim_pos, lim_neg = an.limit_small_tau(s_pos, s_neg)
    assert tau * g_pos == pytest.approx(lim_pos, abs=1e-9)
    np.testing.assert_allclose(tau * g_neg, lim_neg, atol=1e-9)
    assert tau * an.contrastive_loss(s_pos, s_neg, tau) == pytest.approx(
        an.triplet_limit(s_pos, s_neg), abs=1e-9
    )
    if s_pos < s_neg.max():
        assert lim_neg.sum() == 1.0 and lim_neg[np.argmax(s_neg)] == 1.0 and lim_pos == -1.0
        assert an.triplet_limit(s_pos, s_neg) == pytest.approx(0.8 - s_pos)
    else:
        assert not lim_neg.any() and lim_pos == 0.0 and an.triplet_limit(s_pos, s_neg) == 0.0


def test_small_tau_limit_rejects_ties():
    with pytest.raises(ValueError, match="ties"):
        an.limit_small_tau(0.5, np.array([0.5, 0.1]))


def test_entropy_rises_and_hard_mass_falls_with_tau_towards_their_limits():
    s = an.draw_similarities(0, 20000)
    taus = np.array([1e-3, 0.07, 0.1, 0.2, 0.5, 1.0, 1e4])
    ent = np.array([an.entropy(an.relative_penalty(s, t)) for t in taus])
    mass = np.array([an.hard_mass(s, an.relative_penalty(s, t)) for t in taus])
    assert np.all(np.diff(ent) > 0) and np.all(np.diff(mass) < 0)
    assert ent[-1] == pytest.approx(math.log(len(s)), abs=1e-6)  # uniform
    assert mass[-1] == pytest.approx(np.mean(s > 0.9), abs=1e-4)
    assert mass[0] == pytest.approx(1.0)


@pytest.mark.parametrize("tau", [0.07, 0.2, 0.5, 1.0])
def test_hard_mass_approaches_its_continuum_closed_form(tau):
    # s ~ U[-1, 1], N -> inf: mass(s > c) = (e^{1/tau} - e^{c/tau}) / (e^{1/tau} - e^{-1/tau})
    s = an.draw_similarities(3, 400_000)
    c = an.HARD_THRESHOLD
    want = (1 - math.exp((c - 1) / tau)) / (1 - math.exp(-2 / tau))
    assert an.hard_mass(s, an.relative_penalty(s, tau)) == pytest.approx(want, abs=5e-3)


def test_analytic_dataset_layout_and_seed_independence():
    ds = an.analytic_dataset([0.1, 0.5], 300, [4, 9])
    _check_attrs(ds)
    assert ds["penalty_curve"].dims == ("seed", "tau", "sim")
    assert ds.sizes == {"seed": 2, "tau": 2, "sim": an.CURVE_POINTS}
    alone = an.analytic_dataset([0.1, 0.5], 300, [9])
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].sel(seed=9).values, alone[name].sel(seed=9).values)
    # the curve passes through the drawn points' r values
    s = an.draw_similarities(4, 300)
    r = an.relative_penalty(s, 0.1)
    grid = ds["sim"].values
    j = int(np.argmin(np.abs(grid - 0.5)))
    want = np.exp(grid[j] / 0.1) / np.exp(s / 0.1).sum()
    assert ds["penalty_curve"].sel(seed=4, tau=0.1).values[j] == pytest.approx(want, rel=1e-10)
    assert ds["penalty_max_analytic"].sel(seed=4, tau=0.1).item() == pytest.approx(r.max())
