"""A small ConvNet encoder per seed, all seeds in one set of tensors.

One stage per entry of ``channels``: 3x3 convolution (padding 1; no bias when followed
by BatchNorm) -> BatchNorm -> ReLU -> 2x2 max-pool (stride 2); the pool is left out
once the map is 1 pixel wide. Global average pooling gives the representation h
(``feat_dim = channels[-1]``), the projection head of :mod:`contrastlab.encoders.conv`
the L2-normalised embedding z. The K members run as grouped convolutions and one
BatchNorm over K * C channels (:mod:`contrastlab.encoders.conv`) [design: a few-layer
ConvNet is the cheap stand-in for the papers' ResNets on small images].

References:
    - [1] Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual
      Representations, https://arxiv.org/abs/2002.05709 (encoder + projection head)
    - [2] Ioffe & Szegedy 2015, Batch Normalization, https://arxiv.org/abs/1502.03167
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from contrastlab.encoders.conv import (
    BatchedEncoder,
    bn_specs,
    conv2d,
    conv_specs,
    global_avg_pool,
    head_specs,
    to_grouped,
)


class BatchedConvNet(BatchedEncoder):
    """A ConvNet per seed: ``len(channels)`` conv stages, global average pool, head.

    Parameter names: ``stages.<l>.conv.weight`` (``.bias`` without BN),
    ``stages.<l>.bn.weight`` / ``.bias`` and the head's (see
    :func:`contrastlab.encoders.conv.head_specs`); drawn in that order, stage by stage.

    Args:
        in_channels: image channels.
        side: image side (the smaller of height and width); stage l max-pools while
            its input is at least 2 pixels wide.
        channels: output channels of each stage.
        embed_dim: embedding dimension.
        proj_hidden: hidden units of the head (0 = a linear head).
        bn: BatchNorm after every convolution (without it the convolutions have
            biases); the head's BatchNorm stays.
        gens: one CPU generator per member (the ``init`` stream); K = ``len(gens)``.
        device: where the weights live.
        dtype: dtype of the weights.
    """

    def __init__(
        self,
        in_channels: int,
        side: int,
        channels: Sequence[int] = (16, 32, 64),
        embed_dim: int = 64,
        proj_hidden: int = 128,
        bn: bool = True,
        gens: Sequence[torch.Generator] = (),
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not channels:
            raise ValueError("channels must name at least one stage")
        if side < 1:
            raise ValueError(f"side must be >= 1, got {side}")
        self.in_channels = in_channels
        self.side = side
        self.channels = tuple(int(c) for c in channels)
        self.bn = bn
        self.feat_dim = self.channels[-1]
        self.embed_dim = embed_dim
        self.proj_hidden = proj_hidden
        specs, bns, self.pools = [], {}, []
        c_in, s = in_channels, side
        for i, c in enumerate(self.channels):
            specs += conv_specs(f"stages.{i}.conv", c_in, c, 3, bias=not bn)
            if bn:
                specs += bn_specs(f"stages.{i}.bn", c)
                bns[f"stages.{i}.bn"] = c
            self.pools.append(s >= 2)
            c_in, s = c, s // 2 if s >= 2 else s
        specs += head_specs(self.feat_dim, proj_hidden, embed_dim)
        if proj_hidden > 0:
            bns["head.bn"] = proj_hidden
        self._build(specs, bns, gens, device, dtype)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone representation h (global average pool of the last stage).

        Args:
            x: images, per member or one batch shared by all. Shape: (K, B, C, H, W)
                or (B, C, H, W).

        Returns:
            Shape: (K, B, feat_dim).
        """
        p = self._params
        y = to_grouped(x, self.K)
        for i, pool in enumerate(self.pools):
            y = conv2d(y, p[f"stages.{i}.conv.weight"], p.get(f"stages.{i}.conv.bias"), 1, 1)
            if self.bn:
                y = self._bn(y, f"stages.{i}.bn")
            if pool:  # max-pool before ReLU: the same values, ReLU on a 4x smaller map
                y = F.max_pool2d(y, 2)
            y = torch.relu(y)
        return global_avg_pool(y, self.K)
