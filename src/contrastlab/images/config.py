"""Config rules both digits families share (temperature, digits_augment); no torch, no sklearn.

The config modules import this (the Snakefile imports every config class, so it must
stay light): the size of the scikit-learn digits, the split sizes of a test fraction,
the cross-key rules of a split, a batch and an evaluation period, and the rough memory
of a batched MLP job (:class:`contrastlab.digits_task.DigitsContrastTask`).
"""

from __future__ import annotations

import math

# load_digits has 1797 images of 10 classes, 8x8 pixels (kept here so configs need no sklearn).
N_IMAGES = 1797
N_CLASSES = 10
SIDE = 8


def split_sizes(test_fraction: float) -> tuple[int, int]:
    """``(n_train, n_test)`` of the digits split (scikit-learn's rounding)."""
    n_test = math.ceil(test_fraction * N_IMAGES)
    return N_IMAGES - n_test, n_test


def check_training(test_fraction: float, batch_size: int, eval_every: int, steps: int) -> None:
    """Cross-key rules of a digits job; the message names the key.

    Raises:
        ValueError: a split without every class on both sides, a batch larger than the
            training split, or an evaluation period longer than the training.
    """
    n_train, n_test = split_sizes(test_fraction)
    if n_test < N_CLASSES or n_train < N_CLASSES:
        raise ValueError(
            f"data.test_fraction ({test_fraction}) leaves {n_train} training and "
            f"{n_test} held-out digits; each split needs >= {N_CLASSES} (one per class)"
        )
    if batch_size > n_train:
        raise ValueError(
            f"train.batch_size ({batch_size}) must be <= the training split ({n_train})"
        )
    if eval_every > steps:
        raise ValueError(f"train.eval_every ({eval_every}) must be <= train.steps ({steps})")


def mlp_memory(
    n_seeds: int, test_fraction: float, width: int, depth: int, embed_dim: int, batch_size: int
) -> dict[str, float]:
    """Bytes a batched MLP job on the digits needs, by the key that sets each part (rough:
    the digits as read and as tensors; the weights with their gradients and Adam's state;
    one step's activations and similarity matrices; the evaluation's embeddings)."""
    n_train, n_test = split_sizes(test_fraction)
    widths = [SIDE * SIDE] + [width] * depth + [embed_dim]
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    act = sum(widths[1:]) * 3
    return {
        "data.test_fraction": 3.0 * n_seeds * N_IMAGES * SIDE * SIDE * 4,
        "model.width": 4.0 * n_seeds * n_params * 4 + n_seeds * (n_train + 3 * n_test) * act * 4,
        "train.batch_size": n_seeds * 2 * batch_size * (act + 12 * batch_size) * 4.0,
    }
