"""Config rules every family that trains on images shares, light to import (no torch):
the rules across the data, encoder and training keys, and a job's rough memory.

A family's config ``check()`` calls :func:`check_image_job`; its ``memory_estimate``
returns :func:`image_job_memory` (plus its own parts).
"""

from __future__ import annotations

from typing import Any

from contrastlab.images import config as image_config
from contrastlab.params import param

NEGATIVES = ("cross_view", "nt_xent")


def negatives_param(extra: tuple[str, ...] = (), doc: str = ""):
    """The ``loss.negatives`` key of InfoNCE on two views (``extra``: a family's own
    choices, explained by ``doc``)."""
    return param(
        "cross_view",
        "loss",
        "InfoNCE's negatives: cross_view (each anchor's B - 1 other images of the other view, "
        "symmetric over the views; Wang & Liu's Eq. 1) or nt_xent (SimCLR: all 2B views are "
        "anchors, 2B - 2 negatives, the same view's other images included)" + doc + ".",
        choices=NEGATIVES + extra,
    )


def momentum_param():
    """The ``train.momentum`` key (SGD's heavy-ball momentum)."""
    return param(0.0, "train", "sgd: momentum (0 = plain SGD).", minimum=0.0, exclusive_maximum=1.0)


def weight_decay_param():
    """The ``train.weight_decay`` key (SGD's L2 weight decay)."""
    return param(0.0, "train", "sgd: L2 weight decay.", minimum=0.0)


def eval_every_param(default: int = 100):
    """The ``train.eval_every`` key of an image family (what ImageContrastTask evaluates)."""
    return param(
        default,
        "train",
        "Steps between two evaluations on the held-out split (probe, -L_unif, alignment).",
        minimum=1,
    )


def check_image_job(cfg: Any) -> None:
    """The data keys (:meth:`ImageDataConfig.check_data`, a real source's folder
    included), the encoder against the images, the batch and the evaluation period."""
    if cfg.optimizer != "sgd" and (cfg.momentum or cfg.weight_decay):
        raise ValueError(
            f"train.momentum ({cfg.momentum}) and train.weight_decay ({cfg.weight_decay}) "
            f"apply to train.optimizer sgd, not {cfg.optimizer}"
        )
    cfg.check_data(cfg.encoder)
    cfg.check_encoder(cfg.image_shape())
    n_train, _ = cfg.split_sizes()
    if cfg.unlabeled:  # the contrastive batches draw from the unlabeled split too
        n_train += image_config.DATASETS[cfg.source].sizes["unlabeled"]
    image_config.check_training(n_train, cfg.batch_size, cfg.eval_every, cfg.steps)


def image_job_memory(cfg: Any, n_seeds: int) -> dict[str, float]:
    """Bytes a training job needs, by the key that sets each part (rough)."""
    image = cfg.image_shape()
    n_train, n_test = cfg.split_sizes()
    n = n_train + n_test
    if cfg.encoder == "mlp":
        c, h, w = image
        return image_config.mlp_memory(
            n_seeds, n, c * h * w, cfg.width, cfg.depth, cfg.embed_dim, cfg.batch_size
        )
    # ResNet-18: about twice a ConvNet stage's maps at each of its four resolutions
    w = cfg.resnet_width
    channels = cfg.channels if cfg.encoder == "convnet" else [2 * w, 4 * w, 8 * w, 16 * w]
    return image_config.conv_memory(n_seeds, image, n, channels, cfg.batch_size)
