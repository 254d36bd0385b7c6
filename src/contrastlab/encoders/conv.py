"""Batched convolutional layers: one network per seed, all seeds in one set of tensors.

K members (seeds) train together. Activations live in the *grouped* layout
(batch, K * C, H, W): member k owns channels ``k*C .. (k+1)*C - 1``. A convolution's
weight is stored seed-first (K, C_out, C_in, kh, kw) and applied as one
``conv2d(..., groups=K)`` on the (K * C_out, C_in, kh, kw) view, so member k only sees
its own channels. BatchNorm runs as one ``F.batch_norm`` over the K * C channels: every
member keeps its own batch statistics and its own running mean / variance (buffers,
seed-first (K, C), updated in place through their flat views). The projection head's
linear layers are ``baddbmm`` on (K, in, out) weights, as in
:mod:`contrastlab.encoders.mlp`.

Every member's weights are drawn from its own ``torch.Generator``, in float64 on the
CPU, in the fixed order of its parameter names, then cast and moved: a seed gets the
same weights alone or in a batch of any size. Init as torchvision's ResNet [1]:
convolutions ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, BatchNorm weight 1
and bias 0, linear layers torch's default U(+-1/sqrt(fan_in)) for weight and bias.

On the CPU the activations are kept ``channels_last`` (1.3-2x faster than NCHW for
these grouped convolutions and BatchNorms, measured with one thread), and a member's
forward pass is bit-equal alone or batched (its channels are computed in the same
order; the global pool is ``avg_pool2d`` for that reason); the backward pass of a
grouped convolution rounds differently from an ungrouped one (~1e-7). A step is bound
by the convolutions' FLOPs and the memory traffic of BatchNorm, ReLU and pooling, so
batching K members costs about what a loop over them costs, per member flat in K,
provided large blocks are reused: glibc serves blocks above 32 MiB with fresh mmaps,
page-faulted on every step (2x slower at K = 8), unless the process turns that off
first (``mallopt(M_MMAP_MAX, 0)`` and a large ``M_TRIM_THRESHOLD``, or
``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=<bytes>``).

The projection head (SimCLR's [2], with BatchNorm after the hidden layer as in Tian et
al.'s code [3]): Linear(feat_dim, proj_hidden, no bias) -> BN1d -> ReLU ->
Linear(proj_hidden, embed_dim), then L2 normalisation; ``proj_hidden = 0`` gives a
linear head Linear(feat_dim, embed_dim) (with bias).

References:
    - [1] He et al. 2016, Deep Residual Learning for Image Recognition,
      https://arxiv.org/abs/1512.03385 (init as in torchvision.models.resnet)
    - [2] Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual
      Representations, https://arxiv.org/abs/2002.05709
    - [3] Tian et al. 2020, What Makes for Good Views for Contrastive Learning?,
      https://arxiv.org/abs/2005.10243
    - [4] Ioffe & Szegedy 2015, Batch Normalization, https://arxiv.org/abs/1502.03167
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: BatchNorm momentum and epsilon (torch.nn.BatchNorm2d's defaults).
BN_MOMENTUM = 0.1
BN_EPS = 1e-5

#: The init kinds of :class:`Spec`.
INITS = ("kaiming_conv", "uniform_fan_in", "ones", "zeros")


@dataclass(frozen=True)
class Spec:
    """One trained tensor of one member: its name, shape and init.

    Args:
        name: parameter name (torchvision's, e.g. ``layer1.0.conv1.weight``).
        shape: one member's shape (the batched tensor is (K, *shape)).
        init: ``kaiming_conv`` (normal, std sqrt(2 / fan_out), fan_out = shape[0] *
            kh * kw), ``uniform_fan_in`` (U(+-1/sqrt(fan_in)), fan_in = ``fan_in``),
            ``ones`` or ``zeros``.
        fan_in: the fan-in of ``uniform_fan_in``.
    """

    name: str
    shape: tuple[int, ...]
    init: str
    fan_in: int = 0


def draw_params(
    specs: Sequence[Spec],
    gens: Sequence[torch.Generator],
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Every member's parameters, each member from its own generator in ``specs`` order.

    Draws happen in float64 on the CPU (``ones`` / ``zeros`` draw nothing), then the
    K members are stacked, cast to ``dtype``, moved to ``device`` and marked
    ``requires_grad``.

    Args:
        specs: the tensors of one member, in draw order.
        gens: one CPU generator per member (the ``init`` stream).
        dtype: dtype of the returned tensors.
        device: where they live.

    Returns:
        ``{name: tensor}`` in ``specs`` order. Shape: (K, *spec.shape).
    """
    if not gens:
        raise ValueError("need at least one generator (one per member)")
    per_member = []
    for g in gens:
        drawn = []
        for s in specs:
            if s.init == "kaiming_conv":
                fan_out = s.shape[0] * math.prod(s.shape[2:])
                std = math.sqrt(2.0 / fan_out)
                t = torch.randn(s.shape, generator=g, dtype=torch.float64) * std
            elif s.init == "uniform_fan_in":
                bound = 1.0 / math.sqrt(s.fan_in)
                t = (torch.rand(s.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound
            elif s.init == "ones":
                t = torch.ones(s.shape, dtype=torch.float64)
            elif s.init == "zeros":
                t = torch.zeros(s.shape, dtype=torch.float64)
            else:
                raise ValueError(f"unknown init {s.init!r} (one of {INITS})")
            drawn.append(t)
        per_member.append(drawn)
    return {
        s.name: torch.stack([m[i] for m in per_member])
        .to(device=device, dtype=dtype)
        .requires_grad_()
        for i, s in enumerate(specs)
    }


def to_grouped(x: torch.Tensor, K: int, channels_last: bool | None = None) -> torch.Tensor:
    """Seed-first images to the grouped layout (one copy).

    A 4-d ``x`` (one batch shared by every member) is repeated for each member.

    Args:
        x: images. Shape: (K, B, C, H, W) or (B, C, H, W).
        K: members.
        channels_last: return a ``torch.channels_last`` tensor (the layout the rest of
            the network keeps); None = on the CPU only, where it measured 1.3-2x faster
            than NCHW for the grouped convolutions and BatchNorm.

    Returns:
        Member k in channels ``k*C .. (k+1)*C - 1``. Shape: (B, K * C, H, W).
    """
    if channels_last is None:
        channels_last = x.device.type == "cpu"
    if x.dim() == 4:
        x = x.unsqueeze(0).expand(K, *x.shape)
    elif x.dim() != 5 or x.shape[0] != K:
        raise ValueError(f"expected images of shape ({K}, B, C, H, W), got {tuple(x.shape)}")
    k, b, c, h, w = x.shape
    if channels_last:  # memory order (B, H, W, K, C) in one copy
        y = x.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)
        return y.contiguous(memory_format=torch.channels_last)  # K = 1: reshape gave a view
    return x.transpose(0, 1).reshape(b, k * c, h, w)


def global_avg_pool(y: torch.Tensor, K: int) -> torch.Tensor:
    """Global average pooling of grouped maps, returned seed-first.

    ``avg_pool2d`` over the whole map sums every channel's pixels in one fixed order,
    whatever the channel count, so a member's features are bit-equal alone or batched
    (``mean((2, 3))`` blocks its sum by the channel count and is not).

    Shape: (B, K * C, H, W) -> (K, B, C).
    """
    b, kc = y.shape[:2]
    h = F.avg_pool2d(y, y.shape[-2:]).reshape(b, K, kc // K)
    return h.transpose(0, 1)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """K convolutions in one grouped ``conv2d``.

    Args:
        x: grouped activations. Shape: (B, K * C_in, H, W).
        weight: seed-first kernels. Shape: (K, C_out, C_in, kh, kw).
        bias: seed-first biases or None. Shape: (K, C_out).
        stride: stride of every member's convolution.
        padding: zero padding of every member's convolution.

    Returns:
        Shape: (B, K * C_out, H', W').
    """
    K, c_out = weight.shape[:2]
    w = weight.reshape(K * c_out, *weight.shape[2:])
    b = None if bias is None else bias.reshape(K * c_out)
    return F.conv2d(x, w, b, stride=stride, padding=padding, groups=K)


def batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    training: bool,
    momentum: float = BN_MOMENTUM,
    eps: float = BN_EPS,
) -> torch.Tensor:
    """BatchNorm with per-member statistics: one ``F.batch_norm`` over K * C channels.

    In training mode the batch statistics of each (member, channel) normalise it and
    update that member's running mean and (unbiased) variance in place; in eval mode
    the running statistics normalise.

    Args:
        x: grouped activations. Shape: (B, K * C, ...).
        weight: affine scale. Shape: (K, C).
        bias: affine shift. Shape: (K, C).
        running_mean: buffer, updated in place in training mode. Shape: (K, C).
        running_var: buffer, likewise. Shape: (K, C).
        training: batch statistics (and running-stat update) vs running statistics.
        momentum: running-stat momentum (torch's convention).
        eps: added to the variance.

    Returns:
        Shape: as ``x``.
    """
    return F.batch_norm(
        x,
        running_mean.view(-1),
        running_var.view(-1),
        weight.reshape(-1),
        bias.reshape(-1),
        training,
        momentum,
        eps,
    )


def linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """K linear layers in one ``bmm`` / ``baddbmm``.

    Args:
        h: seed-first inputs. Shape: (K, B, in).
        weight: seed-first weights, input dimension first. Shape: (K, in, out).
        bias: seed-first biases or None. Shape: (K, out).

    Returns:
        Shape: (K, B, out).
    """
    if bias is None:
        return torch.bmm(h, weight)
    return torch.baddbmm(bias.unsqueeze(1), h, weight)


def conv_specs(name: str, c_in: int, c_out: int, k: int, bias: bool = False) -> list[Spec]:
    """The :class:`Spec` of a k x k convolution (and its bias, torch's default init)."""
    specs = [Spec(f"{name}.weight", (c_out, c_in, k, k), "kaiming_conv")]
    if bias:
        specs.append(Spec(f"{name}.bias", (c_out,), "uniform_fan_in", c_in * k * k))
    return specs


def bn_specs(name: str, c: int) -> list[Spec]:
    """The :class:`Spec` of a BatchNorm's affine weight (1) and bias (0)."""
    return [Spec(f"{name}.weight", (c,), "ones"), Spec(f"{name}.bias", (c,), "zeros")]


def head_specs(feat_dim: int, proj_hidden: int, embed_dim: int) -> list[Spec]:
    """The projection head's :class:`Spec` (weights stored (in, out)).

    ``proj_hidden > 0``: ``head.fc1.weight`` (no bias), ``head.bn`` weight and bias,
    ``head.fc2`` weight and bias; ``proj_hidden = 0``: ``head.fc.weight`` and bias.
    """
    if proj_hidden <= 0:
        return [
            Spec("head.fc.weight", (feat_dim, embed_dim), "uniform_fan_in", feat_dim),
            Spec("head.fc.bias", (embed_dim,), "uniform_fan_in", feat_dim),
        ]
    return [
        Spec("head.fc1.weight", (feat_dim, proj_hidden), "uniform_fan_in", feat_dim),
        *bn_specs("head.bn", proj_hidden),
        Spec("head.fc2.weight", (proj_hidden, embed_dim), "uniform_fan_in", proj_hidden),
        Spec("head.fc2.bias", (embed_dim,), "uniform_fan_in", proj_hidden),
    ]


class BatchedEncoder(ABC):
    """Common base of the batched conv encoders: parameters, BN buffers, mode, head.

    A subclass sets ``K``, ``feat_dim``, ``embed_dim``, ``proj_hidden``, calls
    :meth:`_build` with its specs and BatchNorm names, and implements
    :meth:`features`.

    Attributes:
        params: trained tensors, seed-first, ``requires_grad`` (``named()`` order).
        feat_dim: backbone feature dimension (the probe's input).
        embed_dim: projection dimension.
        training: BatchNorm mode (see :meth:`train`).
    """

    K: int
    feat_dim: int
    embed_dim: int
    proj_hidden: int

    def _build(
        self,
        specs: Sequence[Spec],
        bn_channels: dict[str, int],
        gens: Sequence[torch.Generator],
        device: str | torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Draw the parameters and make the BN buffers (running mean 0, variance 1)."""
        self.K = len(gens)
        self._params = draw_params(specs, gens, dtype, device)
        self.params = list(self._params.values())
        self._buffers: dict[str, torch.Tensor] = {}
        for name, c in bn_channels.items():
            self._buffers[f"{name}.running_mean"] = torch.zeros(
                self.K, c, dtype=dtype, device=device
            )
            self._buffers[f"{name}.running_var"] = torch.ones(self.K, c, dtype=dtype, device=device)
        self.training = True

    def named(self) -> dict[str, torch.Tensor]:
        """Parameter name -> tensor, seed-first (torchvision's names; linear weights
        are stored (in, out), the transpose of torch's)."""
        return dict(self._params)

    def buffers(self) -> dict[str, torch.Tensor]:
        """BatchNorm running statistics, ``<bn>.running_mean`` / ``<bn>.running_var``,
        seed-first (K, C); the tensors themselves (copy into them to load)."""
        return dict(self._buffers)

    def train(self, mode: bool = True) -> None:
        """BatchNorm on batch statistics and updating running stats (``True``) or on
        the running statistics (``False``, evaluation)."""
        self.training = bool(mode)

    def eval(self) -> None:
        """Same as ``train(False)``."""
        self.train(False)

    def _bn(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """The BatchNorm ``name`` on grouped activations (B, K * C, ...)."""
        p, b = self._params, self._buffers
        return batch_norm(
            x,
            p[f"{name}.weight"],
            p[f"{name}.bias"],
            b[f"{name}.running_mean"],
            b[f"{name}.running_var"],
            self.training,
        )

    @abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone representation h, before the head (each encoder defines its own).

        Shape: (K, B, C, H, W) -> (K, B, feat_dim).
        """

    # False: the head's raw output (e.g. for the spectral contrastive loss, which needs
    # the unnormalised f); set on an instance
    normalize: bool = True

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Projection head, L2-normalised (unless ``normalize`` is False).

        Shape: (K, B, feat_dim) -> (K, B, embed_dim).
        """
        p = self._params
        if self.proj_hidden <= 0:
            z = linear(h, p["head.fc.weight"], p["head.fc.bias"])
        else:
            u = linear(h, p["head.fc1.weight"], None)  # (K, B, P)
            K, B, P = u.shape
            u = self._bn(u.transpose(0, 1).reshape(B, K * P), "head.bn")
            u = torch.relu(u).view(B, K, P).transpose(0, 1)
            z = linear(u, p["head.fc2.weight"], p["head.fc2.bias"])
        return F.normalize(z, dim=-1) if self.normalize else z

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and embeddings.

        Shape: (K, B, C, H, W) -> ((K, B, feat_dim), (K, B, embed_dim)).
        """
        h = self.features(x)
        return h, self.head(h)


def parameter_count(enc: BatchedEncoder, backbone_only: bool = False) -> int:
    """Trained parameters of one member (BN affine included, running stats not).

    Args:
        enc: a batched encoder.
        backbone_only: leave out the projection head (``head.*``).
    """
    return sum(
        t[0].numel()
        for name, t in enc.named().items()
        if not (backbone_only and name.startswith("head."))
    )
