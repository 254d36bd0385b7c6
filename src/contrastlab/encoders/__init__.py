"""Encoders shared by the families that train on images: the batched MLP, a small
ConvNet and ResNet-18 in its CIFAR form, every seed's network in one set of tensors
(the seed is the leading dimension of every weight)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch


def make_encoder(
    cfg: Any,
    image: tuple[int, int, int],
    gens: Sequence[torch.Generator],
    device: str | torch.device = "cpu",
):
    """The encoder of ``cfg.encoder`` (:class:`contrastlab.encoders.config.EncoderConfig`
    keys) for images of shape ``image`` = (channels, height, width), one per generator.

    The MLP maps flat inputs to the L2-normalised embedding; the conv encoders map
    (seed, n, C, H, W) to ``(h, z)``: the pooled backbone features and the embedding.
    Every encoder has ``kind``, ``params``, ``named()``, ``buffers()`` and ``train(mode)``.
    """
    c, h, w = image
    if cfg.encoder == "mlp":
        from contrastlab.encoders.mlp import BatchedMLP

        return BatchedMLP(c * h * w, cfg.width, cfg.depth, cfg.embed_dim, gens, device)
    if cfg.encoder == "convnet":
        from contrastlab.encoders.convnet import BatchedConvNet

        enc = BatchedConvNet(
            c,
            min(h, w),
            channels=tuple(cfg.channels),
            embed_dim=cfg.embed_dim,
            proj_hidden=cfg.proj_hidden,
            gens=gens,
            device=device,
        )
    elif cfg.encoder == "resnet18":
        from contrastlab.encoders.resnet import BatchedResNet18

        enc = BatchedResNet18(
            c,
            embed_dim=cfg.embed_dim,
            proj_hidden=cfg.proj_hidden,
            width=cfg.resnet_width,
            gens=gens,
            device=device,
        )
    else:
        raise ValueError(f"model.encoder must be mlp, convnet or resnet18, got {cfg.encoder!r}")
    enc.kind = cfg.encoder
    return enc
