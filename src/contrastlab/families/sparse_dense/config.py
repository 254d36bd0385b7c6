"""Config of the ``sparse_dense`` family (Wen & Li 2021): every key, default and range.

The single source of the family's defaults; the JSON schema is generated from
it (:mod:`contrastlab.params`) and ``config/config.yaml`` must agree with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from contrastlab.params import param

MASKINGS = ("none", "independent", "complementary")


@dataclass
class SparseDenseConfig:
    """Data, model, augmentation, loss and optimiser of one sparse/dense job."""

    # data: x = M z + xi
    d1: int = param(50, "data", "Ambient dimension d1 of x = M z + xi.", minimum=2)
    d: int = param(10, "data", "Number of dictionary atoms d (<= d1).", minimum=1)
    sparsity: float = param(
        0.1,
        "data",
        "P(z_j != 0): each sparse feature is on with this probability.",
        exclusive_minimum=0,
        maximum=1,
    )
    noise_std: float | None = param(
        None, "data", "Std of the dense Gaussian noise xi; null = sqrt(log d)/d.", minimum=0
    )
    n_train: int = param(3000, "data", "Training samples per seed.", minimum=2)
    n_eval: int = param(
        2000,
        "data",
        "Held-out samples per seed (the probe fits on half, scores on half).",
        minimum=4,
    )
    # model
    model_kind: str = param(
        "sym_relu", "model", "One-layer symmetric ReLU network with bias.", key="kind", const=True
    )
    width: int = param(50, "model", "Number of neurons m.", minimum=1)
    bias_init: float = param(0.1, "model", "Initial bias b_i of every neuron (learned).")
    # augmentation
    masking: str = param(
        "complementary", "augmentation", "How the two views are made.", choices=MASKINGS
    )
    keep_prob: float = param(
        0.5,
        "augmentation",
        "Keep probability of independent masks.",
        exclusive_minimum=0,
        maximum=1,
    )
    # loss
    loss_kind: str = param(
        "infonce", "loss", "InfoNCE with in-batch negatives (symmetric).", key="kind", const=True
    )
    temperature: float = param(0.05, "loss", "Temperature tau.", exclusive_minimum=0)
    # train
    steps: int = param(1000, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(
        256, "train", "Mini-batch size (1 positive + batch_size - 1 negatives).", minimum=2
    )
    lr: float = param(0.01, "train", "Learning rate.", exclusive_minimum=0)
    optimizer: str = param("adam", "train", "Optimiser.", choices=("adam", "sgd"))
    eval_every: int = param(50, "train", "Steps between two metric evaluations.", minimum=1)
    checkpoint_every: int = param(
        5, "train", "Evaluation rounds between two checkpoints.", minimum=1
    )

    @property
    def sigma(self) -> float:
        """Std of the dense noise (``noise_std``, or sqrt(log d)/d when null)."""
        if self.noise_std is None:
            return math.sqrt(math.log(self.d)) / self.d
        return float(self.noise_std)

    def check(self) -> None:
        """Cross-field rules (ranges are the schema's job)."""
        if self.d > self.d1:
            raise ValueError(f"data.d ({self.d}) must be <= data.d1 ({self.d1})")
        if self.batch_size > self.n_train:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be <= data.n_train ({self.n_train})"
            )

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part (rough: the data
        as read and as tensors, the weights with Adam's state, one step's activations)."""
        per_sample = self.d1 * 4 + self.d  # float32 x, int8 z
        return {
            "data.n_train": 3.0 * n_seeds * self.n_train * per_sample,
            "data.n_eval": 3.0 * n_seeds * self.n_eval * per_sample,
            "model.width": n_seeds
            * self.width
            * (5.0 * 4 * self.d1 + 32 * self.batch_size + 24 * self.n_eval),
            "train.batch_size": n_seeds * self.batch_size * (16.0 * self.batch_size + 12 * self.d1),
        }
