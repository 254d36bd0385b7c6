"""The scikit-learn digits as a small image data set for contrastive learning, with augmentations.

The 1797 bundled 8x8 handwritten digits of :func:`sklearn.datasets.load_digits`
(no download), pixel values scaled from 0..16 to [0, 1] and flattened to 64
pixels, row-major. A stand-in for the image data sets (CIFAR, SVHN, ImageNet)
of the papers, small enough for CPU sweeps [design].

Augmentations are batched over a leading seed dimension and draw from one
``torch.Generator`` per seed (on the CPU, then moved to the data's device), so a
batch of seeds gets exactly the numbers each seed gets alone. For one call the
draws of a seed come in a fixed order: shift offsets, erase flags, erase
positions, noise.

References:
    - [0] Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits,
      UCI ML Repository (the data behind ``load_digits``).
    - [1] Chen et al. 2020, SimCLR, https://arxiv.org/abs/2002.05709 (two views
      per image by random augmentations).
    - [2] Zhong et al. 2020, Random Erasing Data Augmentation,
      https://arxiv.org/abs/1708.04896
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from contrastlab.utils import seed_for

SIDE = 8
PIXELS = SIDE * SIDE
N_IMAGES = 1797
N_CLASSES = 10


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.data / 16.0).astype(np.float32)
    images.setflags(write=False)
    labels = bunch.target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load() -> tuple[np.ndarray, np.ndarray]:
    """All digits: images scaled to [0, 1] and labels 0..9 (fresh copies).

    Returns:
        ``(images, labels)``. Shape: (1797, 64) float32 and (1797,) int64.
    """
    images, labels = _digits()
    return images.copy(), labels.copy()


def split_sizes(test_fraction: float, n: int = N_IMAGES) -> tuple[int, int]:
    """``(n_train, n_test)`` of :func:`split_indices` (scikit-learn's rounding:
    ``n_test = ceil(test_fraction * n)``)."""
    n_test = int(np.ceil(test_fraction * n))
    return n - n_test, n_test


def split_indices(
    seed: int, test_fraction: float, stream: str = "digits/split"
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified train/test split of the digits, fixed by ``seed``.

    ``sklearn.model_selection.train_test_split(stratify=labels)`` with
    ``random_state`` derived from ``(seed, stream)``; indices are sorted.

    Args:
        seed: the experiment seed.
        test_fraction: fraction of the images held out, in (0, 1).
        stream: names the random stream (another family may use its own split).

    Returns:
        ``(train_idx, test_idx)``. Shape: (n_train,), (n_test,) (see :func:`split_sizes`).
    """
    from sklearn.model_selection import train_test_split

    _, labels = load()
    idx = np.arange(len(labels))
    train, test = train_test_split(
        idx,
        test_size=test_fraction,
        stratify=labels,
        random_state=seed_for(seed, stream) % 2**32,
    )
    return np.sort(train), np.sort(test)


@dataclass(frozen=True)
class Augment:
    """Strengths of the digit augmentations (each one off at 0).

    Attributes:
        shift: largest shift in pixels; every image moves by (dy, dx), each
            uniform in {-shift..shift}, with zero padding (a random crop of the
            zero-padded image).
        noise: std of the additive Gaussian pixel noise.
        erase_prob: probability that a square patch is erased (set to 0).
        erase_size: side of the erased patch in pixels (1..8), placed
            uniformly inside the image.
    """

    shift: int = 1
    noise: float = 0.1
    erase_prob: float = 0.5
    erase_size: int = 3


def _per_seed(gens: Sequence[torch.Generator], draw) -> torch.Tensor:
    return torch.stack([draw(g) for g in gens])


def random_shift(x: torch.Tensor, shift: int, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Shift every image by a random (dy, dx) in {-shift..shift}^2 with zero padding.

    Args:
        x: images. Shape: (seed, batch, 64).
        shift: largest shift in pixels (0 = identity, no draws).
        gens: one generator per seed.

    Returns:
        Shape: (seed, batch, 64).
    """
    if shift <= 0:
        return x
    S, B = x.shape[:2]
    off = _per_seed(gens, lambda g: torch.randint(-shift, shift + 1, (B, 2), generator=g))
    off = off.to(x.device)
    img = x.reshape(S, B, SIDE, SIDE)
    padded = torch.nn.functional.pad(img, (shift, shift, shift, shift))  # (S, B, 8+2s, 8+2s)
    ar = torch.arange(SIDE, device=x.device)
    # output pixel (r, c) reads input pixel (r - dy, c - dx), i.e. padded (r - dy + s, c - dx + s)
    rows = ar[None, None, :] - off[..., 0:1] + shift  # (S, B, 8)
    cols = ar[None, None, :] - off[..., 1:2] + shift
    width = SIDE + 2 * shift
    flat = rows[..., :, None] * width + cols[..., None, :]  # (S, B, 8, 8)
    out = torch.gather(padded.reshape(S, B, -1), 2, flat.reshape(S, B, PIXELS))
    return out


def random_erase(
    x: torch.Tensor, prob: float, size: int, gens: Sequence[torch.Generator]
) -> torch.Tensor:
    """With probability ``prob`` per image, set a random ``size`` x ``size`` square to 0.

    Args:
        x: images. Shape: (seed, batch, 64).
        prob: erase probability (0 = identity, no draws).
        size: side of the square in pixels, 1..8.
        gens: one generator per seed.

    Returns:
        Shape: (seed, batch, 64).
    """
    if prob <= 0 or size <= 0:
        return x
    if size > SIDE:
        raise ValueError(f"erase size must be <= {SIDE}, got {size}")
    S, B = x.shape[:2]
    hit = _per_seed(gens, lambda g: torch.rand(B, generator=g) < prob)
    pos = _per_seed(gens, lambda g: torch.randint(0, SIDE - size + 1, (B, 2), generator=g))
    hit, pos = hit.to(x.device), pos.to(x.device)
    ar = torch.arange(SIDE, device=x.device)
    in_r = (ar >= pos[..., 0:1]) & (ar < pos[..., 0:1] + size)  # (S, B, 8)
    in_c = (ar >= pos[..., 1:2]) & (ar < pos[..., 1:2] + size)
    patch = (in_r[..., :, None] & in_c[..., None, :]).reshape(S, B, PIXELS)
    return x.masked_fill(patch & hit[..., None], 0.0)


def add_noise(x: torch.Tensor, std: float, gens: Sequence[torch.Generator]) -> torch.Tensor:
    """Add N(0, std^2) noise to every pixel and clip to [0, 1].

    Args:
        x: images. Shape: (seed, batch, 64).
        std: noise std (0 = identity, no draws).
        gens: one generator per seed.

    Returns:
        Shape: (seed, batch, 64).
    """
    if std <= 0:
        return x
    S, B, P = x.shape
    eps = _per_seed(gens, lambda g: torch.randn(B, P, generator=g, dtype=x.dtype))
    return (x + std * eps.to(x.device)).clamp_(0.0, 1.0)


def augment(
    x: torch.Tensor, aug: Augment | Sequence[Augment], gens: Sequence[torch.Generator]
) -> torch.Tensor:
    """One random view of every image: shift, then erase, then noise.

    Args:
        x: images in [0, 1]. Shape: (seed, batch, 64).
        aug: the augmentation strengths, or one per seed (a fused job's members): each
            run of equal strengths is augmented on its own, so every seed draws and
            gets what it would alone.
        gens: one generator per seed (len = seed).

    Returns:
        The view, in [0, 1]. Shape: (seed, batch, 64).
    """
    if len(gens) != x.shape[0]:
        raise ValueError(f"one generator per seed needed: {len(gens)} for {x.shape[0]} seeds")
    if not isinstance(aug, Augment):
        if len(aug) != x.shape[0]:
            raise ValueError(f"one augmentation per seed needed: {len(aug)} for {x.shape[0]}")
        runs = [i for i in range(1, len(aug)) if aug[i] != aug[i - 1]]
        if runs:
            bounds = [0, *runs, len(aug)]
            return torch.cat(
                [augment(x[a:b], aug[a], gens[a:b]) for a, b in itertools.pairwise(bounds)]
            )
        aug = aug[0]
    x = random_shift(x, aug.shift, gens)
    x = random_erase(x, aug.erase_prob, aug.erase_size, gens)
    return add_noise(x, aug.noise, gens)


def two_views(
    x: torch.Tensor, aug: Augment | Sequence[Augment], gens: Sequence[torch.Generator]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent augmented views of a batch (view 1's draws first).

    Args:
        x: images in [0, 1]. Shape: (seed, batch, 64).
        aug: the augmentation strengths (or one per seed, see :func:`augment`).
        gens: one generator per seed.

    Returns:
        ``(view1, view2)``. Shape: (seed, batch, 64) each.
    """
    return augment(x, aug, gens), augment(x, aug, gens)


def split_dataset(
    seeds: Sequence[int], test_fraction: float, stream: str = "digits/split", title: str = ""
):
    """Every seed's stratified train/test split of the digits as a tidy dataset.

    Args:
        seeds: the seeds.
        test_fraction: fraction of the images held out, in (0, 1).
        stream: names the random stream of the split (see :func:`split_indices`).
        title: the dataset's ``title`` attribute.

    Returns:
        ``xarray.Dataset`` with dims ``seed``, ``train_sample``, ``test_sample``,
        ``pixel``: ``x_train`` (seed, train_sample, pixel), ``y_train``,
        ``train_index`` (into ``load_digits``), ``x_test``, ``y_test``, ``test_index``.
    """
    import xarray as xr

    from contrastlab.results import cf

    images, labels = load()
    splits = [split_indices(int(s), test_fraction, stream) for s in seeds]
    variables, coords = {}, {"seed": ("seed", np.asarray(seeds, dtype=np.int64), cf("seed", "1"))}
    for i, (split, adjective, words) in enumerate(
        (("train", "training", "training"), ("test", "held-out", "held out"))
    ):
        idx = np.stack([pair[i] for pair in splits])
        sample = f"{split}_sample"
        variables[f"x_{split}"] = (
            ("seed", sample, "pixel"),
            images[idx],
            cf(f"{adjective} image pixel (scaled to [0, 1])", "1"),
        )
        variables[f"y_{split}"] = (("seed", sample), labels[idx], cf(f"digit class ({words})", "1"))
        variables[f"{split}_index"] = (
            ("seed", sample),
            idx,
            cf(f"index into sklearn load_digits ({adjective} split)", "1"),
        )
        coords[sample] = (sample, np.arange(idx.shape[1]), cf(f"{adjective} sample", "1"))
    coords["pixel"] = ("pixel", np.arange(PIXELS), cf("pixel (row-major 8x8)", "1"))
    title = title or "the scikit-learn digits: per-seed train/test split"
    return xr.Dataset(variables, coords=coords, attrs={"title": title})
