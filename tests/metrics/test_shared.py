"""Shared metrics against closed forms and scipy references."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from contrastlab.metrics.correlation import pearson_best_corr
from contrastlab.metrics.probes import auc, ridge_fit_predict
from contrastlab.metrics.subspace import principal_angles


def test_principal_angles_of_constructed_subspaces():
    # span(e1, e2) vs span(e1, cos t e2 + sin t e3): angles 0 and t
    t = 0.3
    a = torch.tensor([[1.0, 0], [0, 1], [0, 0]])
    b = torch.tensor([[1.0, 0], [0, math.cos(t)], [0, math.sin(t)]])
    got = principal_angles(a, b, degrees=False)
    np.testing.assert_allclose(got.numpy(), [0.0, t], atol=1e-7)
    assert principal_angles(a, b)[1].item() == pytest.approx(math.degrees(t))


def test_principal_angles_match_scipy_batched():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 10, 3, generator=g, dtype=torch.float64)
    b = torch.randn(3, 10, 4, generator=g, dtype=torch.float64)
    got = principal_angles(a, b, degrees=False).numpy()
    for s in range(3):
        ref = np.sort(subspace_angles(a[s].numpy(), b[s].numpy()))
        np.testing.assert_allclose(got[s], ref, atol=1e-8)


def test_ridge_probe_recovers_a_linear_target_exactly():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 200, 5, generator=g, dtype=torch.float64)
    beta = torch.randn(2, 5, 1, generator=g, dtype=torch.float64)
    y = a @ beta + 0.7
    pred = ridge_fit_predict(a[:, :100], y[:, :100], a[:, 100:], ridge=0.0)
    torch.testing.assert_close(pred, y[:, 100:])


def test_auc_of_perfect_and_reversed_scores():
    labels = np.array([[0, 0, 1, 1]], bool)
    assert auc(np.array([[0.1, 0.2, 0.8, 0.9]]), labels)[0] == 1.0
    assert auc(np.array([[0.9, 0.8, 0.2, 0.1]]), labels)[0] == 0.0


def test_best_corr_of_a_copy_is_one():
    z = torch.tensor([0.0, 1, 0, 1, 1])
    h = torch.stack([torch.zeros(5), 3 * z + 1], -1)  # a constant unit and a copy
    assert pearson_best_corr(z, h).item() == pytest.approx(1.0)
