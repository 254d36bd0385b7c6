import math

import numpy as np
import pytest

from contrastlab.config import check_experiment
from contrastlab.families.sparse_dense.config import SparseDenseConfig
from contrastlab.families.sparse_dense.data import make_sparse_dense


@pytest.fixture(scope="module")
def data():
    cfg = SparseDenseConfig(d1=40, d=8, sparsity=0.15, noise_std=0.2, n_train=20000, n_eval=100)
    return cfg, make_sparse_dense(cfg, [0, 1])


def test_dictionary_is_orthonormal_and_delocalised(data):
    cfg, ds = data
    for s in range(2):
        M = ds.M.values[s].astype(float)
        np.testing.assert_allclose(M.T @ M, np.eye(cfg.d), atol=1e-6)
        # delocalised: no coordinate carries a large share of any atom
        assert np.abs(M).max() < 0.9


def test_sparse_features_statistics(data):
    cfg, ds = data
    z = ds.z_train.values
    assert set(np.unique(z)) <= {-1, 0, 1}
    n = z[0].size
    rate = (z != 0).mean()
    assert abs(rate - cfg.sparsity) < 4 * math.sqrt(cfg.sparsity * (1 - cfg.sparsity) / (2 * n))
    on = z[z != 0]
    assert abs((on > 0).mean() - 0.5) < 4 * math.sqrt(0.25 / on.size)


def test_dense_noise_statistics_and_model(data):
    cfg, ds = data
    x = ds.x_train.values.astype(float)
    z = ds.z_train.values.astype(float)
    M = ds.M.values.astype(float)
    xi = x - np.einsum("snd,sjd->snj", z, M)  # x - M z
    assert abs(xi.mean()) < 0.01
    assert xi.std() == pytest.approx(cfg.noise_std, rel=0.02)
    # E|x|^2 = d * sparsity + d1 * sigma^2
    expected = cfg.d * cfg.sparsity + cfg.d1 * cfg.noise_std**2
    assert (x**2).sum(-1).mean() == pytest.approx(expected, rel=0.03)


def test_default_noise_is_sqrt_log_d_over_d():
    assert SparseDenseConfig(d=10).sigma == pytest.approx(math.sqrt(math.log(10)) / 10)


def test_each_seed_equals_its_own_run_and_is_deterministic():
    cfg = SparseDenseConfig(n_train=50, n_eval=20)
    both = make_sparse_dense(cfg, [3, 7])
    alone = make_sparse_dense(cfg, [7])
    np.testing.assert_array_equal(both.x_train.sel(seed=7).values, alone.x_train.sel(seed=7).values)
    again = make_sparse_dense(cfg, [3, 7])
    np.testing.assert_array_equal(both.M.values, again.M.values)
    assert not np.array_equal(both.M.values[0], both.M.values[1])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match=r"data\.d \(10\) must be <= data\.d1"):
        check_experiment({"family": "sparse_dense", "data": {"d1": 5, "d": 10}})
    with pytest.raises(ValueError, match=r"data\.sparsity"):
        check_experiment({"family": "sparse_dense", "data": {"sparsity": 0}})
