"""Training of the clusters family on every data kind (the registry tests run the tiny one)."""

import numpy as np
import pytest
import torch

from contrastlab.config import check_experiment
from contrastlab.families.clusters.data import synthesize
from contrastlab.families.clusters.model import encode
from contrastlab.families.clusters.task import ClustersTask
from contrastlab.losses.spectral import spectral_loss
from contrastlab.params import to_sections
from contrastlab.pipeline import run_point, train

TRAIN = {"steps": 20, "batch_size": 32, "eval_every": 10, "checkpoint_every": 1}
SMALL = {
    "hypercube": {"data": {"d": 6, "s": 2, "n_train": 150, "n_eval": 100},
                  "model": {"encoder": "mlp", "k": 4, "width": 8}},
    "manifolds": {"data": {"kind": "manifolds", "d": 6, "r": 3, "r0": 2, "n_train": 150,
                           "n_eval": 100}, "model": {"encoder": "smooth", "k": 6, "width": 8}},
    "digits": {"data": {"kind": "digits", "test_fraction": 0.1},
               "model": {"k": 5, "width": 8, "depth": 1}},
}  # fmt: skip


def quiet(_msg):
    pass


def _cfg(kind):
    exp = {"family": "clusters", **SMALL[kind], "train": TRAIN}
    return {"family": "clusters", **to_sections(check_experiment(exp))}


@pytest.mark.parametrize("kind", list(SMALL))
def test_layout_and_batched_seeds_equal_each_seed_alone(kind):
    cfg = _cfg(kind)
    data = synthesize(check_experiment(cfg), [3, 5])
    ds = train(data, cfg, device="cpu", log=quiet)
    n_lam = 3 if kind == "digits" else 1
    assert ds.step.values.tolist() == [0, 10, 20]
    assert ds.sizes["lam"] == n_lam and ds.phi.dims == ("seed", "step", "lam")
    assert np.isnan(ds.loss.isel(step=0)).all() and np.isfinite(ds.loss.isel(step=[1, 2])).all()
    has = {v: bool(np.isfinite(ds[v].values).any()) for v in ("mse_x1", "mse_sub", "angle_max")}
    assert has == {"mse_x1": kind == "hypercube", "mse_sub": kind == "manifolds",
                   "angle_max": False}  # fmt: skip
    assert np.isfinite(ds.mse_cluster.values).all()
    alone = train(data.sel(seed=[5]), cfg, device="cpu", log=quiet)
    for var in ds.data_vars:
        np.testing.assert_allclose(
            ds[var].sel(seed=[5]).values, alone[var].values, rtol=1e-5, atol=1e-6, err_msg=var
        )


def test_smooth_encoder_stays_within_its_lipschitz_bound():
    ds = run_point({"family": "clusters", **SMALL["manifolds"], "train": TRAIN}, [0], log=quiet)
    assert (ds.lipschitz.values <= 1.5 + 1e-6).all()


@pytest.mark.parametrize("estimator", ["unbiased", "plugin"])
def test_task_loss_is_each_lambdas_own_loss(estimator):
    exp = {
        "family": "clusters",
        **SMALL["digits"],
        "train": TRAIN,
        "loss": {"estimator": estimator},
    }
    cfg = check_experiment(exp)
    task = ClustersTask(cfg, synthesize(cfg, [0, 1]), torch.device("cpu"))
    v1, v2 = next(iter(task.batches(0)))
    got = task.loss((v1, v2))
    assert got.shape == (2,)
    f1, f2 = encode(task.params, v1, cfg), encode(task.params, v2, cfg)
    for s in range(2):
        want = 0.0
        for i, lam in enumerate(cfg.grid):
            a, b = f1[s, i].double(), f2[s, i].double()
            if estimator == "unbiased":
                want += spectral_loss(a, b, lam).item()
            else:
                C = (a.T @ a + b.T @ b) / (2 * len(a))
                reg = (C - torch.eye(cfg.k, dtype=C.dtype)).pow(2).sum()
                want += ((a - b).pow(2).sum(-1).mean() + lam * reg).item()
        assert got[s].item() == pytest.approx(want, rel=1e-4)


@pytest.mark.slow
def test_hypercube_linear_k_s_recovers_the_span_and_mlp_k_2s_the_clusters():
    def final(encoder, k):
        exp = {"family": "clusters", "model": {"encoder": encoder, "k": k}}
        return run_point(exp, [0, 1], log=quiet).isel(step=-1, lam=0)

    lin = final("linear", 3)
    assert (lin.angle_max < 10).all() and (lin.mse_x1 < 0.1).all() and (lin.mse_lin < 0.1).all()
    assert (abs(lin.mse_cluster - 4 / 7) < 0.05).all()
    mlp = final("mlp", 8)
    assert (mlp.mse_cluster < 0.1).all()
