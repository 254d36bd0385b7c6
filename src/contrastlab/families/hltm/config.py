"""Config of the ``hltm`` family (Tian, Yu, Chen & Ganguli 2020, Sec. 6).

Field names follow the authors' Hydra config (facebookresearch/luckmatters,
``ssl/hltm/conf/hltm.yaml``) so that a run can be compared with theirs key by
key. The single source of the family's defaults; the JSON schema is
generated from it (:mod:`contrastlab.params`).

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.params import param

LOSSES = ("nce", "subtract", "infonce", "soft_triplet")


@dataclass
class HLTMConfig:
    """One HLTM training run (shared by every seed of the run)."""

    # data: the latent tree
    depth: int = param(
        5,
        "data",
        "Latent levels L above the leaves (num_children**depth leaves).",
        minimum=1,
        maximum=12,
    )
    num_children: int = param(2, "data", "Children per latent node.", minimum=2, maximum=8)
    delta_lower: float = param(
        0.7,
        "data",
        "|polarity| ~ U[delta_lower, delta_upper]; larger = stronger coupling.",
        minimum=0,
        maximum=1,
    )
    delta_upper: float = param(1.0, "data", "Upper end of |polarity|.", minimum=0, maximum=1)
    # model
    model_kind: str = param(
        "tree_relu",
        "model",
        "Tree-shaped ReLU network mirroring the latent tree.",
        key="kind",
        const=True,
    )
    hid: int = param(
        10,
        "model",
        "Hidden units per latent node (over-parameterisation).",
        minimum=1,
        maximum=4096,
    )
    bn: bool = param(False, "model", "BatchNorm on every node's pre-activation.")
    eps: float = param(
        1e-4, "model", "Epsilon of the output normalisation f = h / (|h| + eps).", minimum=0
    )
    # loss
    loss: str = param(
        "nce",
        "loss",
        "nce/subtract as the authors' code computes them; infonce/soft_triplet per sample.",
        key="kind",
        choices=LOSSES,
    )
    temperature: float = param(0.1, "loss", "Temperature tau.", exclusive_minimum=0)
    triplet_margin: float = param(
        0.0, "loss", "Margin d0^2 of the soft-triplet loss [design].", minimum=0
    )
    # train
    lr: float = param(0.1, "train", "Plain SGD learning rate.", exclusive_minimum=0)
    epochs: int = param(15, "train", "Training epochs (metrics at 0..epochs).", minimum=0)
    samples_per_epoch: int = param(64000, "train", "Fresh samples per epoch.", minimum=2)
    batch_size: int = param(128, "train", "SGD mini-batch size.", minimum=2)
    cov_samples: int | None = param(
        16000,
        "train",
        "Anchors per epoch for the covariance operator [design]; null = all, as the code.",
        minimum=2,
    )
    checkpoint_every: int = param(1, "train", "Epochs between two checkpoints.", minimum=1)

    def check(self) -> None:
        """Cross-field rules (ranges are the schema's job)."""
        if self.delta_lower > self.delta_upper:
            raise ValueError(
                f"data.delta_lower ({self.delta_lower}) must be <= data.delta_upper "
                f"({self.delta_upper})"
            )
        if self.batch_size > self.samples_per_epoch:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be <= train.samples_per_epoch "
                f"({self.samples_per_epoch})"
            )

    def warnings(self) -> list[str]:
        """Settings that run but train nothing."""
        out = []
        if self.epochs == 0:
            out.append("train.epochs is 0: only the initialisation is evaluated")
        return out

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part (rough: one epoch's
        node values as bytes, and its leaves again, re-laid out by batch; per seed the
        weights with their gradients, a batch's activations and their gradients, and
        the metrics' work tensors of one chunk of 512 anchors, Jacobians included)."""
        b, L, hid = self.num_children, self.depth, self.hid
        n_nodes = sum(b**lv for lv in range(L + 1))
        n_latent, n_leaves = n_nodes - b**L, b**L
        weights = sum(b ** (L - h) * hid * b * (1 if h == 1 else hid) * 4 for h in range(1, L + 1))
        batch = 2 * 3 * self.batch_size * n_latent * hid * 4
        chunk = 512 * 4 * (n_nodes + 3 * n_latent * hid + n_latent * hid * hid)
        return {
            "train.samples_per_epoch": n_seeds
            * self.samples_per_epoch
            * 3.0
            * (n_nodes + n_leaves),
            "model.hid": n_seeds * (3.0 * weights + batch + chunk),
        }
