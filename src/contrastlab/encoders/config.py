"""The ``model`` keys of the encoders, light to import (no torch): a family that trains
on images declares its config dataclass as a subclass of :class:`EncoderConfig`.

Encoders (``model.encoder``; :func:`contrastlab.encoders.make_encoder` builds them):

* ``mlp``: ReLU MLP on the flattened pixels, ``depth`` hidden layers of ``width`` units,
  an L2-normalised ``embed_dim`` output (:mod:`contrastlab.encoders.mlp`);
* ``convnet``: a small ConvNet, one 3x3 conv + BatchNorm + ReLU + 2x2 max-pool stage per
  entry of ``channels``, global average pooling, then a projection head
  (:mod:`contrastlab.encoders.convnet`);
* ``resnet18``: ResNet-18 in its CIFAR form (3x3 stem, no max-pool), the projection head
  (:mod:`contrastlab.encoders.resnet`).

The conv encoders' projection head is Linear(feat, ``proj_hidden``) + BatchNorm + ReLU +
Linear(``proj_hidden``, ``embed_dim``), L2-normalised (SimCLR's, with BN as in Tian et
al.'s code); the linear probe reads the backbone's pooled features, the losses the head.
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.params import param

ENCODERS = ("mlp", "convnet", "resnet18")


def encoder_param(default: str):
    """The ``model.encoder`` key with a family's default encoder."""
    return param(
        default,
        "model",
        "mlp (flattened pixels), convnet (small ConvNet) or resnet18 (CIFAR form).",
        choices=ENCODERS,
    )


@dataclass
class EncoderConfig:
    """The ``model`` keys (see the module docstring)."""

    encoder: str = encoder_param("convnet")
    width: int = param(256, "model", "mlp: hidden units of every hidden layer.", minimum=1)
    depth: int = param(
        1, "model", "mlp: hidden ReLU layers (0 = a linear encoder).", minimum=0, maximum=8
    )
    channels: list[int] = param(
        [16, 32, 64],
        "model",
        "convnet: channels of each conv stage (each halves the side by max-pooling).",
        minimum=1,
        max_items=6,
    )
    resnet_width: int = param(
        64,
        "model",
        "resnet18: channels of the first stage (64 = the standard ResNet-18; stages double it).",
        minimum=1,
    )
    proj_hidden: int = param(
        128,
        "model",
        "convnet, resnet18: hidden units of the projection head (0 = a linear head).",
        minimum=0,
    )
    embed_dim: int = param(64, "model", "Embedding dimension (L2-normalised output).", minimum=2)

    def check_encoder(self, image: tuple[int, int, int]) -> None:
        """The encoder fits the images; the message names the key."""
        if self.encoder == "convnet":
            side = min(image[1:])
            if side < 2 ** (len(self.channels) - 1):
                raise ValueError(
                    f"model.channels ({self.channels}): {len(self.channels)} stages halve a "
                    f"{side}-pixel image below 1 pixel; use fewer stages or a larger data.side"
                )
