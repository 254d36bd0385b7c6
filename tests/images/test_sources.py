"""The real image sources through an image family: the data stage stores indices, labels
and a checksum (no images), the job reads the images from data.root (one pool for all
seeds), STL-10's unlabeled split joins the contrastive batches only, and a seed gets the
same numbers alone or batched."""

import numpy as np
import pytest
import torch

from contrastlab.engine import Engine
from contrastlab.families.dual_networks import FAMILY
from contrastlab.images.datasets import checksum, load

from images.miniature import write_cifar10, write_stl10

SEEDS = [0, 1]


def config(source, root, **data):
    tiny = FAMILY.tiny
    return FAMILY.config(
        {
            **tiny,
            "data": {"source": source, "root": str(root), "n_train": 40, "n_test": 10, **data},
        }
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_stl10(
        write_cifar10(tmp_path_factory.mktemp("data"), n_per_batch=12), n_unlabeled=30
    )


def test_cifar10_data_stage_stores_indices_labels_and_checksum(root):
    cfg = config("cifar10", root)
    data = FAMILY.synthesize(cfg, SEEDS)
    assert "x_train" not in data and data["train_index"].shape == (2, 40)
    _, labels = load("cifar10", root, "train")
    idx = data["train_index"].values
    np.testing.assert_array_equal(data["y_train"].values, labels[idx])
    assert len({tuple(i) for i in idx}) == 2  # each seed its own subset
    assert data.attrs["data_sha256"] == checksum("cifar10", root, ("train", "test"))
    task = FAMILY.task(cfg, data, SEEDS, torch.device("cpu"))
    images, _ = load("cifar10", root, "train")
    assert task.pools["train"].shape[0] == len(images)  # one pool for both seeds
    np.testing.assert_array_equal(task.x_train[1].numpy(), images[idx[1]])
    out = Engine(task, config={}, log=lambda m: None).run()
    assert np.isfinite(out["probe_acc"].values).all()
    alone = FAMILY.task(cfg, data.sel(seed=[1]), [1], torch.device("cpu"))
    one = Engine(alone, config={}, log=lambda m: None).run()
    np.testing.assert_allclose(
        one["loss"].isel(step=slice(1, None)).values[0],
        out["loss"].isel(step=slice(1, None)).values[1],
        rtol=1e-5,
    )


def test_stl10_unlabeled_images_join_the_batches_not_the_probe(root):
    cfg = config("stl10", root, n_train=10, n_test=10, unlabeled=True)
    data = FAMILY.synthesize(cfg, SEEDS)
    assert data.attrs["data_unlabeled"] == 1
    task = FAMILY.task(cfg, data, SEEDS, torch.device("cpu"))
    assert task.index["batch"].shape == (2, 10 + 30) and task.n_train == 10
    assert int(task.index["batch"][:, 10:].min()) == 20  # after the 20 labelled images
    x1, _ = next(iter(task.batches(0)))
    assert x1.shape == (2, 16, 3, 96, 96)
    with pytest.raises(ValueError, match="data.unlabeled needs data.source stl10"):
        config("cifar10", root, unlabeled=True).check()
