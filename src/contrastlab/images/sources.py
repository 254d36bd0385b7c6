"""The image sources as per-seed data sets: what the data stage stores and what a
training job reads back.

:func:`source_dataset` (the data stage) draws every seed's images from its own stream:

* ``digits``: the stratified split of :func:`contrastlab.images.digits.split_dataset`
  (flat pixels in [0, 1]);
* ``shapes``: ``n_train + n_test`` images rendered in one call by
  :func:`contrastlab.images.shapes.render` (so both splits share the data set's fixed
  noise patterns), the first ``n_train`` for training, the rest held out; the uint8
  pixels and every image's factors (``train_<factor>``, ``test_<factor>``);
* ``cifar10``, ``cifar100``, ``svhn``, ``stl10``: a random subset (``n_train``,
  ``n_test``; null = all) of the official training and test splits as indices into the
  files of ``data.root``, with the labels; the images stay in the user's folder and the
  attributes record the source, the folder and a SHA-256 of the files read.

:func:`load_pools` gives a job its images as pools shared by its seeds and per-seed
indices into them: the stored pixels, or the real data set's splits read once from
``data.root`` (with ``stl10``'s unlabeled split for ``data.unlabeled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from contrastlab.images import digits
from contrastlab.results import cf
from contrastlab.utils import seed_for

IMAGE_DIMS = ("channel", "row", "col")


def _shapes(cfg: Any, seeds: Sequence[int], stream: str) -> xr.Dataset:
    from contrastlab.images.shapes import render

    spec = cfg.shapes_spec()
    n_train, n_test = cfg.split_sizes()
    per_seed = [
        render(n_train + n_test, np.random.default_rng(seed_for(int(s), stream)), spec)
        for s in seeds
    ]
    variables = {}
    for split, sl, sample in (
        ("train", slice(0, n_train), "train_sample"),
        ("test", slice(n_train, None), "test_sample"),
    ):
        variables[f"x_{split}"] = (
            ("seed", sample, *IMAGE_DIMS),
            np.stack([d.images[sl] for d in per_seed]),
            cf(f"{split} image (shapes, uint8 RGB)", "1"),
        )
        variables[f"y_{split}"] = (
            ("seed", sample),
            np.stack([d.labels[sl] for d in per_seed]),
            cf(f"shape class ({split})", "1"),
        )
        for name, values in per_seed[0].factors.items():
            stacked = np.stack([d.factors[name][sl] for d in per_seed])
            dims = ("seed", sample) + (("rgb",) if values.ndim == 2 else ())
            variables[f"{split}_{name}"] = (dims, stacked, cf(f"factor {name} ({split})", "1"))
    side = spec.side
    coords = {
        "seed": ("seed", np.asarray(seeds, dtype=np.int64), cf("seed", "1")),
        "train_sample": ("train_sample", np.arange(n_train), cf("training sample", "1")),
        "test_sample": ("test_sample", np.arange(n_test), cf("held-out sample", "1")),
        "channel": ("channel", np.arange(3), cf("colour channel (R, G, B)", "1")),
        "row": ("row", np.arange(side), cf("pixel row", "1")),
        "col": ("col", np.arange(side), cf("pixel column", "1")),
        "rgb": ("rgb", np.arange(3), cf("colour component (R, G, B)", "1")),
    }
    return xr.Dataset(variables, coords=coords)


def _real(cfg: Any, seeds: Sequence[int], stream: str) -> xr.Dataset:
    from pathlib import Path

    from contrastlab.images.datasets import checksum, load

    root = Path(cfg.root).expanduser()
    unlabeled = bool(getattr(cfg, "unlabeled", False))
    splits = ("train", "test", "unlabeled") if unlabeled else ("train", "test")
    variables = {}
    coords = {"seed": ("seed", np.asarray(seeds, dtype=np.int64), cf("seed", "1"))}
    for split, key in (("train", "n_train"), ("test", "n_test")):
        _, labels = load(cfg.source, root, split)
        n = len(labels) if getattr(cfg, key) is None else int(getattr(cfg, key))
        if n > len(labels):
            raise ValueError(
                f"data.{key} ({n}) is larger than the {split} split in {root} ({len(labels)})"
            )
        idx = []
        for s in seeds:
            rng = np.random.default_rng(seed_for(int(s), f"{stream}/{split}"))
            idx.append(np.sort(rng.choice(len(labels), n, replace=False)))
        idx = np.stack(idx)
        sample = f"{split}_sample"
        variables[f"{split}_index"] = (
            ("seed", sample),
            idx,
            cf(f"index into the {split} split of {cfg.source}", "1"),
        )
        variables[f"y_{split}"] = (("seed", sample), labels[idx], cf(f"class ({split})", "1"))
        coords[sample] = (sample, np.arange(n), cf(f"{split} sample", "1"))
    attrs = {
        "data_source": cfg.source,
        "data_root": str(root.resolve()),
        "data_sha256": checksum(cfg.source, root, splits),
        "data_unlabeled": int(bool(getattr(cfg, "unlabeled", False))),
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def source_dataset(cfg: Any, seeds: Sequence[int], stream: str, title: str) -> xr.Dataset:
    """Every seed's training and held-out images of ``cfg.source`` (see the module
    docstring).

    Args:
        cfg: a config with the :class:`contrastlab.images.config.ImageDataConfig` keys.
        seeds: the seeds.
        stream: the random stream of the split (``<family>/split``).
        title: the dataset's ``title`` attribute.

    Returns:
        Dims ``seed``, ``train_sample``, ``test_sample`` (and ``pixel`` for the digits,
        ``channel``, ``row``, ``col``, ``rgb`` for shapes): ``y_train``, ``y_test`` and the
        images (``x_train``, ``x_test``) or indices (``train_index``, ``test_index``).
    """
    if cfg.source == "digits":
        ds = digits.split_dataset(seeds, cfg.test_fraction, stream=stream)
    elif cfg.source == "shapes":
        ds = _shapes(cfg, seeds, stream)
    else:
        ds = _real(cfg, seeds, stream)
    ds.attrs["title"] = title
    ds.attrs["data_source"] = cfg.source
    return ds


def load_pools(cfg: Any, data: xr.Dataset) -> dict[str, np.ndarray]:
    """A job's images as pools shared by its seeds and per-seed indices into them.

    Returns:
        ``train`` and ``test``: the image pools (the digits' float pixels (P, 64), or uint8
        images (P, C, H, W): the stored per-seed images one after another, or a real data
        set's whole split read from ``data.root``, once for all seeds);
        ``train_index``, ``test_index``: every seed's images in its pool (seed, n);
        ``batch_index``: the images a seed's contrastive batches draw from (seed, m): its
        training images, and for ``stl10`` with ``data.unlabeled`` the unlabeled split
        appended to the training pool.
    """
    if cfg.source in ("digits", "shapes"):
        out = {}
        for split in ("train", "test"):
            x = np.asarray(data[f"x_{split}"].values)
            S, n = x.shape[:2]
            out[split] = x.reshape(S * n, *x.shape[2:])
            out[f"{split}_index"] = np.arange(S * n).reshape(S, n)
        out["batch_index"] = out["train_index"]
        return out
    from pathlib import Path

    from contrastlab.images.datasets import load

    root = Path(cfg.root).expanduser()
    out = {}
    for split in ("train", "test"):
        out[split], _ = load(cfg.source, root, split)
        out[f"{split}_index"] = np.asarray(data[f"{split}_index"].values)
    out["batch_index"] = out["train_index"]
    if getattr(cfg, "unlabeled", False):
        extra, _ = load(cfg.source, root, "unlabeled")
        n = len(out["train"])
        out["train"] = np.concatenate([out["train"], extra])
        extra_idx = np.arange(n, n + len(extra))
        out["batch_index"] = np.stack([np.concatenate([i, extra_idx]) for i in out["train_index"]])
    return out
