"""The clusters family on the image layer's shapes: the data, the ConvNet per (seed,
lambda) (a seed gets its numbers alone or batched; its lambdas start alike), and the
spectral loss on the raw, unnormalised f."""

import numpy as np
import pytest
import torch

from contrastlab.engine import Engine
from contrastlab.families.clusters import FAMILY

SECTIONS = {
    "data": {"kind": "shapes", "side": 8, "n_train": 48, "n_eval": 24},
    "model": {"encoder": "convnet", "k": 5, "channels": [4, 8]},
    "loss": {"lambdas": [1.0, 10.0]},
    "train": {"steps": 6, "eval_every": 3, "batch_size": 16},
}


@pytest.fixture(scope="module")
def data():
    return FAMILY.synthesize(FAMILY.config(SECTIONS), [0, 1])


def run(data, seeds, sections=SECTIONS):
    task = FAMILY.task(FAMILY.config(sections), data.sel(seed=seeds), seeds, torch.device("cpu"))
    return task, Engine(task, config={}, log=lambda m: None).run()


def test_shapes_data_are_flat_images_with_their_shape_class(data):
    assert data["x_train"].shape == (2, 48, 3 * 8 * 8)
    x = data["x_train"].values
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(data["cluster_train"].values)) <= set(range(10))
    assert not np.array_equal(data["view1_eval"].values, data["view2_eval"].values)


def test_convnet_per_seed_and_lambda_trains_as_alone(data):
    task, both = run(data, [0, 1])
    assert task.conv.K == 4 and not task.conv.normalize  # 2 seeds x 2 lambdas, raw f
    init = FAMILY.task(FAMILY.config(SECTIONS), data, [0, 1], torch.device("cpu"))
    w = init.params["stages.0.conv.weight"]
    assert torch.equal(w[:, 0], w[:, 1])  # a seed's lambdas start from the same weights
    _, alone = run(data, [1])
    np.testing.assert_allclose(
        both["loss"].sel(seed=1).values[1:], alone["loss"].sel(seed=1).values[1:], rtol=1e-4
    )
    assert np.isfinite(both["mse_cluster"].values).all()
    assert np.isnan(both["lipschitz"].values).all()  # no Lipschitz bound of a ConvNet


def test_convnet_needs_images():
    with pytest.raises(ValueError, match="model.encoder convnet needs data.kind shapes"):
        FAMILY.config({"model": {"encoder": "convnet"}}).check()
