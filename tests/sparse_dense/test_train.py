import numpy as np
import pytest

from contrastlab.wenli import SparseDenseConfig, WenLiConfig, make_sparse_dense, train_wenli

SMALL = SparseDenseConfig(d1=12, d=4, n_train=200, n_eval=100)


def cfg(**kw):
    base = dict(
        width=8, steps=30, batch_size=32, eval_every=10, log_every=10, masking="complementary"
    )
    return WenLiConfig(**{**base, **kw})


@pytest.mark.parametrize("masking", ["none", "independent", "complementary"])
def test_batched_seeds_equal_each_seed_alone(masking):
    data = make_sparse_dense(SMALL, [0, 1, 2])
    both = train_wenli(data, cfg(masking=masking), log=lambda m: None)
    for s in (0, 2):
        alone = train_wenli(data.sel(seed=[s]), cfg(masking=masking), log=lambda m: None)
        for var in ("loss", "alignment", "dense_fraction", "probe_auc", "cos_final"):
            np.testing.assert_allclose(
                both[var].sel(seed=s).values, alone[var].sel(seed=s).values, rtol=1e-5, atol=1e-6
            )


def test_same_seed_same_numbers():
    data = make_sparse_dense(SMALL, [0, 1])
    a = train_wenli(data, cfg(), log=lambda m: None)
    b = train_wenli(data, cfg(), log=lambda m: None)
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values)


def test_dataset_layout_and_attrs():
    data = make_sparse_dense(SMALL, [0, 1])
    ds = train_wenli(data, cfg(), log=lambda m: None)
    assert ds.step.values.tolist() == [0, 10, 20, 30]
    assert dict(ds.sizes) == {"seed": 2, "step": 4, "atom": 4, "neuron": 8}
    for name in list(ds.data_vars) + list(ds.coords):
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs
    assert (
        np.isnan(ds.loss.isel(step=0)).all()
        and np.isfinite(ds.loss.isel(step=slice(1, None))).all()
    )


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    data = make_sparse_dense(SMALL, [0, 1])
    straight = train_wenli(data, cfg(steps=40), log=lambda m: None)
    ck = tmp_path / "ck.pt"
    # an interrupted job: it checkpointed at step 20, then died
    train_wenli(
        data,
        cfg(steps=20, checkpoint_every=20),
        log=lambda m: None,
        checkpoint_path=ck,
        job_config={"steps": 40},
    )
    logs = []
    resumed = train_wenli(
        data,
        cfg(steps=40, checkpoint_every=20),
        log=logs.append,
        checkpoint_path=ck,
        job_config={"steps": 40},
    )
    assert any("resuming" in m for m in logs)
    for var in straight.data_vars:
        np.testing.assert_array_equal(straight[var].values, resumed[var].values)


def test_checkpoint_of_another_config_is_ignored(tmp_path):
    data = make_sparse_dense(SMALL, [0])
    ck = tmp_path / "ck.pt"
    train_wenli(data, cfg(steps=20, checkpoint_every=10), log=lambda m: None, checkpoint_path=ck)
    logs = []
    train_wenli(
        data, cfg(steps=20, lr=0.02, checkpoint_every=10), log=logs.append, checkpoint_path=ck
    )
    assert any("another config" in m for m in logs)


@pytest.mark.slow
def test_complementary_masking_learns_atoms_no_augmentation_does_not():
    data = make_sparse_dense(SparseDenseConfig(n_train=1000, n_eval=200), [0])
    kw = dict(width=50, steps=300, batch_size=128, eval_every=300, log_every=300)
    comp = train_wenli(data, WenLiConfig(masking="complementary", **kw), log=lambda m: None)
    none = train_wenli(data, WenLiConfig(masking="none", **kw), log=lambda m: None)
    assert comp.align_median.isel(step=-1).item() > 0.8
    assert none.align_median.isel(step=-1).item() < 0.3
    assert comp.dense_fraction.isel(step=-1).item() < none.dense_fraction.isel(step=-1).item()
