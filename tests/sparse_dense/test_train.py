"""Training of the sparse/dense family (generic checks: tests/test_families.py)."""

import numpy as np
import pytest

from contrastlab.pipeline import run_point

SMALL = {
    "family": "sparse_dense",
    "data": {"d1": 12, "d": 4, "n_train": 200, "n_eval": 100},
    "model": {"width": 8},
    "train": {"steps": 30, "batch_size": 32, "eval_every": 10},
}


def test_dataset_layout():
    ds = run_point(SMALL, [0, 1], log=lambda m: None)
    assert ds.step.values.tolist() == [0, 10, 20, 30]
    assert dict(ds.sizes) == {"seed": 2, "step": 4, "atom": 4, "neuron": 8}
    assert (
        np.isnan(ds.loss.isel(step=0)).all()
        and np.isfinite(ds.loss.isel(step=slice(1, None))).all()
    )


def test_last_round_may_be_shorter():
    ds = run_point({**SMALL, "train": {**SMALL["train"], "steps": 25}}, [0], log=lambda m: None)
    assert ds.step.values.tolist() == [0, 10, 20, 25]


@pytest.mark.slow
def test_complementary_masking_learns_atoms_no_augmentation_does_not():
    def final(masking):
        exp = {
            "family": "sparse_dense",
            "data": {"n_train": 1000, "n_eval": 200},
            "augmentation": {"masking": masking},
            "train": {"steps": 300, "batch_size": 128, "eval_every": 300},
        }
        return run_point(exp, [0], log=lambda m: None).isel(step=-1)

    comp, none = final("complementary"), final("none")
    assert comp.align_median.item() > 0.8
    assert none.align_median.item() < 0.3
    assert comp.dense_fraction.item() < none.dense_fraction.item()
