"""ResNet-18 in its CIFAR form per seed, all seeds in one set of tensors.

torchvision's ``resnet18`` layout [1, 2]: four stages of two BasicBlocks (3x3 conv ->
BN -> ReLU -> 3x3 conv -> BN, plus the shortcut, -> ReLU) of widths w, 2w, 4w, 8w
(w = ``width``, 64 in the standard network), the first block of stages 2-4 with
stride 2 and a 1x1 stride-2 convolution + BN shortcut; in the CIFAR form [3] the stem is
one 3x3 convolution (stride 1, padding 1) + BN + ReLU with no max-pool. Global average
pooling gives the representation h (``feat_dim = 8 * width``), the projection head of
:mod:`contrastlab.encoders.conv` the L2-normalised embedding z. At width 64 the
backbone has 11,168,832 parameters per member. The K members run as grouped
convolutions and BatchNorms over K * C channels (:mod:`contrastlab.encoders.conv`).

References:
    - [1] He et al. 2016, Deep Residual Learning for Image Recognition,
      https://arxiv.org/abs/1512.03385
    - [2] torchvision.models.resnet (layout, names and init),
      https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py
    - [3] Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual
      Representations, https://arxiv.org/abs/2002.05709 (Appendix B.9: the CIFAR-10
      ResNet stem)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from contrastlab.encoders.conv import (
    BatchedEncoder,
    bn_specs,
    conv2d,
    conv_specs,
    global_avg_pool,
    head_specs,
    to_grouped,
)

#: BasicBlocks per stage of ResNet-18.
LAYERS = (2, 2, 2, 2)


class BatchedResNet18(BatchedEncoder):
    """ResNet-18 (CIFAR form) per seed, with the projection head.

    Parameter and buffer names are torchvision's (``conv1.weight``, ``bn1.*``,
    ``layer2.0.conv1.weight``, ``layer2.0.downsample.0.weight`` (the 1x1 conv),
    ``layer2.0.downsample.1.*`` (its BN), ...) plus the head's
    (:func:`contrastlab.encoders.conv.head_specs`); drawn in that order.

    Args:
        in_channels: image channels.
        embed_dim: embedding dimension.
        proj_hidden: hidden units of the head (0 = a linear head).
        width: channels of the first stage (64 = ResNet-18; stages double it).
        gens: one CPU generator per member (the ``init`` stream); K = ``len(gens)``.
        device: where the weights live.
        dtype: dtype of the weights.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dim: int = 128,
        proj_hidden: int = 512,
        width: int = 64,
        gens: Sequence[torch.Generator] = (),
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.in_channels = in_channels
        self.width = width
        self.feat_dim = 8 * width
        self.embed_dim = embed_dim
        self.proj_hidden = proj_hidden
        specs = conv_specs("conv1", in_channels, width, 3) + bn_specs("bn1", width)
        bns = {"bn1": width}
        #: (name, stride, downsample) of every block, in order.
        self.blocks: list[tuple[str, int, bool]] = []
        c_in = width
        for stage, n_blocks in enumerate(LAYERS):
            c = width * 2**stage
            for j in range(n_blocks):
                name = f"layer{stage + 1}.{j}"
                stride = 2 if (stage > 0 and j == 0) else 1
                down = stride != 1 or c_in != c
                specs += conv_specs(f"{name}.conv1", c_in, c, 3) + bn_specs(f"{name}.bn1", c)
                specs += conv_specs(f"{name}.conv2", c, c, 3) + bn_specs(f"{name}.bn2", c)
                bns[f"{name}.bn1"] = bns[f"{name}.bn2"] = c
                if down:
                    specs += conv_specs(f"{name}.downsample.0", c_in, c, 1)
                    specs += bn_specs(f"{name}.downsample.1", c)
                    bns[f"{name}.downsample.1"] = c
                self.blocks.append((name, stride, down))
                c_in = c
        specs += head_specs(self.feat_dim, proj_hidden, embed_dim)
        if proj_hidden > 0:
            bns["head.bn"] = proj_hidden
        self._build(specs, bns, gens, device, dtype)

    def _block(self, y: torch.Tensor, name: str, stride: int, down: bool) -> torch.Tensor:
        """One BasicBlock on grouped activations (B, K * C, H, W)."""
        p = self._params
        out = conv2d(y, p[f"{name}.conv1.weight"], None, stride, 1)
        out = torch.relu(self._bn(out, f"{name}.bn1"))
        out = self._bn(conv2d(out, p[f"{name}.conv2.weight"], None, 1, 1), f"{name}.bn2")
        if down:
            y = conv2d(y, p[f"{name}.downsample.0.weight"], None, stride, 0)
            y = self._bn(y, f"{name}.downsample.1")
        return torch.relu(out + y)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone representation h (global average pool of the last stage).

        Args:
            x: images, per member or one batch shared by all. Shape: (K, B, C, H, W)
                or (B, C, H, W).

        Returns:
            Shape: (K, B, 8 * width).
        """
        y = to_grouped(x, self.K)
        y = torch.relu(self._bn(conv2d(y, self._params["conv1.weight"], None, 1, 1), "bn1"))
        for name, stride, down in self.blocks:
            y = self._block(y, name, stride, down)
        return global_avg_pool(y, self.K)
