"""Metrics and encoders of the clusters family against constructed answers."""

import math

import numpy as np
import pytest
import torch

from contrastlab.engine import streams
from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.families.clusters.data import hypercube_cluster
from contrastlab.families.clusters.metrics import (
    invariant_angles,
    probe_relative_mse,
    relative_mse,
    whitened_pair_distance,
)
from contrastlab.families.clusters.model import (
    effective_weights,
    encode,
    init_encoder,
    lipschitz_bound,
    spectral_norm,
)


def _onehot(c, n):
    return torch.nn.functional.one_hot(c, n).double()


# -- phi -----------------------------------------------------------------------------------
def test_phi_of_a_hard_balanced_partition_is_twice_the_crossing_fraction():
    k, per, cross = 4, 250, 0.1
    c = torch.arange(k).repeat_interleave(per)  # balanced clusters
    g = torch.Generator().manual_seed(0)
    moved = torch.rand(len(c), generator=g) < cross
    c2 = torch.where(moved, (c + 1) % k, c)  # a crossing positive pair changes cluster
    # views of balanced clusters: both views keep the balance up to the moved points
    f1, f2 = _onehot(c, k), _onehot(c2, k)
    frac = moved.double().mean().item()
    phi = whitened_pair_distance(f1[None], f2[None]).item()
    assert phi == pytest.approx(2 * frac, rel=0.05)
    # phi is invariant to an invertible linear map of the features
    A = torch.randn(k, k, generator=g, dtype=torch.float64) + 3 * torch.eye(k, dtype=torch.float64)
    assert whitened_pair_distance((f1 @ A)[None], (f2 @ A)[None]).item() == pytest.approx(phi)
    # no leakage: 0
    assert whitened_pair_distance(f1[None], f1[None]).item() == pytest.approx(0.0, abs=1e-12)


def test_phi_is_nan_for_collapsed_outputs_and_batched():
    g = torch.Generator().manual_seed(1)
    f1 = torch.randn(2, 300, 3, generator=g, dtype=torch.float64)
    f2 = f1 + 0.1 * torch.randn(2, 300, 3, generator=g, dtype=torch.float64)
    f1[1, :, 2] = 1.0  # a constant direction and a dead one: rank 2 of 3
    f2[1, :, 2] = 1.0
    f1[1, :, 1] = f1[1, :, 0] * 2
    f2[1, :, 1] = f2[1, :, 0] * 2
    phi = whitened_pair_distance(f1, f2)
    assert torch.isfinite(phi[0]) and torch.isnan(phi[1])
    # explicit formula tr(C^-1 D) / k for the full-rank seed
    a, b = f1[0], f2[0]
    C = (a.T @ a + b.T @ b) / 600
    D = (a - b).T @ (a - b) / 300
    assert phi[0].item() == pytest.approx(torch.trace(torch.linalg.solve(C, D)).item() / 3)


# -- probes --------------------------------------------------------------------------------
def test_relative_mse():
    y = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    assert relative_mse(y, y).item() == 0.0
    mean = torch.full_like(y, 1.5)
    assert relative_mse(mean, y).item() == pytest.approx(1.0)
    assert torch.isnan(relative_mse(y, torch.ones_like(y)))


def test_probe_of_the_invariant_linear_encoder_on_the_hypercube():
    """f(x) = x_(1..s): linear labels solved exactly, the one-hot leaves (2^s - 1 - s)/(2^s - 1)."""
    s, d, n = 3, 8, 8000
    g = torch.Generator().manual_seed(2)
    x = torch.where(torch.rand(2, n, d, generator=g) < 0.5, -1.0, 1.0).double()
    f = x[..., :s]
    c = _onehot(hypercube_cluster(x, s), 2**s)
    half = n // 2
    tr, te = slice(0, half), slice(half, None)

    def mse(y):
        return probe_relative_mse(f[:, tr], y[:, tr], f[:, te], y[:, te], 1e-6)

    np.testing.assert_allclose(mse(x[..., :1]).numpy(), 0.0, atol=1e-6)
    v = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    np.testing.assert_allclose(mse((x[..., :s] @ v)[..., None]).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(mse(c).numpy(), 4 / 7, atol=0.02)
    # an encoder that outputs the one-hot itself solves it; a spurious one learns nothing
    np.testing.assert_allclose(
        probe_relative_mse(c[:, tr], c[:, tr], c[:, te], c[:, te], 1e-6).numpy(), 0.0, atol=1e-6
    )
    spur = x[..., s:]
    assert (probe_relative_mse(spur[:, tr], c[:, tr], spur[:, te], c[:, te]) > 0.99).all()


# -- principal angles ----------------------------------------------------------------------
def test_invariant_angles_known_answers():
    s, d = 3, 8
    e = torch.eye(d, dtype=torch.float64)
    inside = (torch.randn(2, s, dtype=torch.float64) @ e[:s]).unsqueeze(0)  # k = 2 < s
    np.testing.assert_allclose(invariant_angles(inside, s).numpy(), 0.0, atol=1e-4)
    outside = e[s : s + 2].unsqueeze(0)
    np.testing.assert_allclose(invariant_angles(outside, s).numpy(), 90.0, atol=1e-6)
    th = math.radians(30)
    tilted = (math.cos(th) * e[0] + math.sin(th) * e[s]).reshape(1, 1, d)
    assert invariant_angles(tilted, s).item() == pytest.approx(30.0)
    # k > s: the dominant s directions are the invariant ones, weak extra rows do not matter
    W = torch.cat([2 * e[:s], 0.1 * e[s : s + 3]]).unsqueeze(0)  # (1, 6, d)
    np.testing.assert_allclose(invariant_angles(W, s).numpy(), 0.0, atol=1e-4)


# -- encoders ------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["linear", "mlp", "smooth"])
def test_encoder_batched_equals_a_loop_and_smooth_is_lipschitz(encoder):
    cfg = ClustersConfig(encoder=encoder, k=3, width=10, depth=2, lipschitz=0.7)
    gens = streams([0, 1], "clusters", "init")
    params = init_encoder(cfg, gens, n_lam=3)
    assert params["W0"].shape[:2] == (2, 3)
    torch.testing.assert_close(params["W0"][:, 0], params["W0"][:, 2])  # lambdas share init
    with torch.no_grad():
        for v in params.values():
            v.mul_(3.0)  # large weights so that the clip is active
    x = torch.randn(2, 5, cfg.d, generator=torch.Generator().manual_seed(0))
    f = encode(params, x, cfg)
    assert f.shape == (2, 3, 5, 3)
    Ws = effective_weights(params, cfg)
    for s in range(2):
        for lam in range(3):
            h = x[s]
            for i, W in enumerate(Ws):
                h = h @ W[s, lam].T + (params[f"b{i}"][s, lam] if f"b{i}" in params else 0)
                h = torch.relu(h) if i < len(Ws) - 1 else h
            torch.testing.assert_close(f[s, lam], h)
    bound = lipschitz_bound(params, cfg)
    if encoder == "smooth":
        assert (bound <= 0.7 + 1e-5).all()
        y = x + 0.01 * torch.randn_like(x)
        ratio = (encode(params, y, cfg) - f).norm(dim=-1) / (y - x).norm(dim=-1)[:, None]
        assert (ratio <= 0.7 + 1e-4).all()
    else:
        assert (bound > 0.7).all()


def test_spectral_norm_is_the_largest_singular_value():
    W = torch.randn(4, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(spectral_norm(W), torch.linalg.matrix_norm(W, ord=2))
    torch.testing.assert_close(spectral_norm(W.transpose(1, 2)), torch.linalg.matrix_norm(W, ord=2))
