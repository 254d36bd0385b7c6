"""SimCLR-style image augmentations as batched tensor operations, one random stream per member.

A batch holds the images of K ensemble members (seeds) trained together: a float tensor of
shape (K, B, C, H, W) with values in [0, 1], on the job's device (CPU or CUDA), C = 3 (RGB)
or C = 1 (grey sources: saturation, hue and greyscale are then no-ops, brightness and
contrast still apply). Member k draws every random number from its own CPU
``torch.Generator`` ``gens[k]``; the numbers are turned into per-image parameters on the
CPU, moved to the images' device in one copy, and the pixel work runs once over all K * B
images (no per-image Python loop). So a member gets exactly the same views whether it is
augmented alone or inside a batch of members.

The pipeline of one view (SimCLR [0], Appendix A, in torchvision's formulation [2]):

1. random resized crop: area fraction uniform in [crop_scale, 1], log aspect ratio uniform
   in [log 3/4, log 4/3], 10 attempts then torchvision's fallback (the whole image for
   square images); the box is resized back to the input size, bilinear,
   ``align_corners=False``, no antialiasing;
2. horizontal flip with probability ``flip_prob`` (folded into the crop's sampling grid
   when both run: the same values as flipping the crop);
3. colour jitter with probability ``jitter_prob``: brightness factor uniform in
   [max(0, 1 - b), 1 + b], contrast and saturation likewise, hue shift uniform in [-h, h]
   (torchvision's ``ColorJitter``); applied in the fixed order brightness, contrast,
   saturation, hue [design: torchvision permutes the four per image; a fixed order keeps
   the batch in four passes];
4. greyscale with probability ``grey_prob`` (ITU-R 601 luma 0.2989 R + 0.587 G + 0.114 B
   in all three channels);
5. Gaussian blur with probability ``blur_prob``: sigma uniform in [0.1, 2.0], an odd
   kernel of about 10% of the shorter side, at least 3 (SimCLR's code uses
   ``2 * (side // 10 // 2) + 1``; the floor of 3 [design] keeps the blur from vanishing on
   small images), reflect padding as torchvision;
6. additive Gaussian pixel noise of std ``noise``, clipped to [0, 1] (the digits-style
   presets [design]).

Random draws of one member for one view, all from ``gens[k]`` on the CPU, in this order:
one ``torch.rand(B, n)`` (float32) whose columns are, for the steps that are on,

- crop (``crop_scale < 1``): 10 area fractions, 10 log aspect ratios, 1 top, 1 left;
- flip (``flip_prob > 0``): 1 flag;
- jitter (``jitter_prob > 0`` and a strength > 0): 1 flag, then 1 factor for each of
  brightness, contrast, saturation, hue whose strength is > 0;
- grey (``grey_prob > 0``): 1 flag;
- blur (``blur_prob > 0``): 1 flag, 1 sigma;

then, if ``noise > 0``, one ``torch.randn(B, C, H, W)`` in the images' dtype. A step that
is off draws nothing (the preset ``"none"`` draws nothing at all); the draws depend only
on the spec and the batch shape, never on the pixels. A flag is ``u < p``; an integer
position in {0..n-1} is ``floor(u * n)``.

The per-image operations (:func:`resized_crop`, :func:`hflip`, :func:`adjust_brightness`,
:func:`adjust_contrast`, :func:`adjust_saturation`, :func:`adjust_hue`,
:func:`rgb_to_grayscale`, :func:`gaussian_blur`) take a flat batch (N, C, H, W) and one
parameter per image, and follow torchvision's ``transforms.v2.functional`` on float images
(tested against it to 1e-5). Inside :func:`augment` the crop is one ``grid_sample`` for
all images; brightness, contrast and saturation run over the whole batch with the identity
factor 1 (exact) for images that are not jittered; hue, greyscale and blur run only on the
images drawn for them (``index_select`` / ``index_copy``), so the others are untouched.

References:
    - [0] Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual
      Representations (SimCLR), https://arxiv.org/abs/2002.05709 (Appendix A: the
      augmentations; Appendix B.9: CIFAR-10 without blur, colour strength 0.5).
    - [1] Wu et al. 2018, Unsupervised Feature Learning via Non-Parametric Instance
      Discrimination, https://arxiv.org/abs/1805.01978 (random resized crop, colour
      jitter, greyscale and flip as the instance-discrimination augmentations).
    - [2] torchvision ``transforms.v2`` (RandomResizedCrop, RandomHorizontalFlip,
      ColorJitter, RandomGrayscale, GaussianBlur), https://pytorch.org/vision/stable/transforms.html
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

__all__ = [
    "PRESETS",
    "AugmentSpec",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "augment",
    "blur_kernel_size",
    "gaussian_blur",
    "hflip",
    "resized_crop",
    "rgb_to_grayscale",
    "two_views",
]

_ATTEMPTS = 10  # RandomResizedCrop's tries before its fallback
_RATIO = (3.0 / 4.0, 4.0 / 3.0)
_SIGMA = (0.1, 2.0)  # SimCLR's blur sigma range
_LUMA = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


@dataclass(frozen=True)
class AugmentSpec:
    """Strengths of the augmentations of one view (each step off at 0, the crop at 1).

    Attributes:
        crop_scale: smallest crop area as a fraction of the image, in (0, 1]; 1 = no crop
            (and no draws).
        flip_prob: probability of a horizontal flip, in [0, 1].
        jitter_prob: probability that colour jitter is applied to an image, in [0, 1].
        brightness: brightness strength b >= 0: factor uniform in [max(0, 1 - b), 1 + b].
        contrast: contrast strength >= 0, as brightness.
        saturation: saturation strength >= 0, as brightness.
        hue: hue strength in [0, 0.5]: shift uniform in [-hue, hue] (in turns).
        grey_prob: probability of greyscale, in [0, 1].
        blur_prob: probability of a Gaussian blur (sigma uniform in [0.1, 2]), in [0, 1].
        noise: std >= 0 of additive Gaussian pixel noise (then clipped to [0, 1]).
    """

    crop_scale: float = 0.08
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grey_prob: float = 0.2
    blur_prob: float = 0.0
    noise: float = 0.0

    def check(self, prefix: str = "augmentation") -> None:
        """Raise ``ValueError`` naming the first bad field, e.g.
        ``"augmentation.hue (0.7) must be in [0, 0.5]"``.

        Args:
            prefix: the config key the spec was read from.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            key = f"{prefix}.{f.name}"
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{key} ({value!r}) must be a number")
            if not math.isfinite(value):
                raise ValueError(f"{key} ({value}) must be finite")
        if not 0.0 < self.crop_scale <= 1.0:
            raise ValueError(f"{prefix}.crop_scale ({self.crop_scale}) must be in (0, 1]")
        bounds = {
            "flip_prob": (0.0, 1.0),
            "jitter_prob": (0.0, 1.0),
            "brightness": (0.0, math.inf),
            "contrast": (0.0, math.inf),
            "saturation": (0.0, math.inf),
            "hue": (0.0, 0.5),
            "grey_prob": (0.0, 1.0),
            "blur_prob": (0.0, 1.0),
            "noise": (0.0, math.inf),
        }
        for name, (lo, hi) in bounds.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                rule = f"must be >= {lo:g}" if hi == math.inf else f"must be in [{lo:g}, {hi:g}]"
                raise ValueError(f"{prefix}.{name} ({value}) {rule}")

    @property
    def jitters(self) -> bool:
        """Whether colour jitter can change an image (a probability and a strength > 0)."""
        strengths = (self.brightness, self.contrast, self.saturation, self.hue)
        return self.jitter_prob > 0 and any(s > 0 for s in strengths)

    @property
    def is_identity(self) -> bool:
        """Whether every step is off (the view is the input, nothing is drawn)."""
        return (
            self.crop_scale >= 1.0
            and self.flip_prob <= 0
            and not self.jitters
            and self.grey_prob <= 0
            and self.blur_prob <= 0
            and self.noise <= 0
        )


PRESETS: dict[str, AugmentSpec] = {
    # identity: no step, no draws, both views equal the input
    "none": AugmentSpec(
        crop_scale=1.0,
        flip_prob=0.0,
        jitter_prob=0.0,
        brightness=0.0,
        contrast=0.0,
        saturation=0.0,
        hue=0.0,
        grey_prob=0.0,
    ),
    # [design] a mild version of SimCLR's: crop area >= 0.5, flip 0.5, jitter
    # 0.2/0.2/0.2/0.05 with p 0.5, no greyscale, no blur
    "weak": AugmentSpec(
        crop_scale=0.5,
        flip_prob=0.5,
        jitter_prob=0.5,
        brightness=0.2,
        contrast=0.2,
        saturation=0.2,
        hue=0.05,
        grey_prob=0.0,
    ),
    # SimCLR's CIFAR-10 setting [0]: crop area 0.08..1, flip 0.5, colour strength 0.5
    # (jitter 0.4/0.4/0.4/0.1 with p 0.8), greyscale 0.2, no blur
    "strong": AugmentSpec(),
}
"""Named augmentation strengths.

- ``"none"``: the identity (every step off; no draws; two identical views).
- ``"weak"`` [design]: crop_scale 0.5, flip_prob 0.5, jitter_prob 0.5 with brightness,
  contrast, saturation 0.2 and hue 0.05, no greyscale, no blur, no noise.
- ``"strong"``: SimCLR's CIFAR-10 augmentations (arXiv 2002.05709, Appendices A and B.9):
  crop_scale 0.08, flip_prob 0.5, jitter_prob 0.8 with brightness, contrast, saturation
  0.4 and hue 0.1 (colour strength s = 0.5: 0.8 s, 0.8 s, 0.8 s, 0.2 s), grey_prob 0.2,
  no blur, no noise.
"""


# --------------------------------------------------------------------------- per-image ops


def _per_image(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (N,) parameter as (N, 1, 1, 1) in x's dtype on x's device."""
    return torch.as_tensor(v).to(device=x.device, dtype=x.dtype).reshape(-1, 1, 1, 1)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """torchvision's grey level of RGB images. Shape: (N, 3, H, W) -> (N, 1, H, W)."""
    r, g, b = x.unbind(dim=1)
    return r.mul(_LUMA[0]).add_(g, alpha=_LUMA[1]).add_(b, alpha=_LUMA[2]).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * other`` clipped to [0, 1] (torchvision's ``_blend``);
    factor 1 returns x exactly."""
    f = _per_image(factor, x)
    return (x * f).add_(other * (1.0 - f)).clamp_(0.0, 1.0)


def _box_grid(
    start: torch.Tensor, length: torch.Tensor, out: int, full: int, dtype: torch.dtype
) -> torch.Tensor:
    """``grid_sample`` coordinates of ``interpolate(align_corners=False)`` along one axis.

    Output pixel d reads the box ``[start, start + length)`` at ``src = (d + 0.5) * length /
    out - 0.5``, clamped to ``[0, length - 1]`` (interpolate clamps below at 0 and repeats
    the last pixel above), so the bilinear sampling never reaches outside the box; the
    image coordinate ``start + src`` is then normalised for ``align_corners=False``.

    Shape:
        start, length: (N,). Returns: (N, out).
    """
    length = length.to(dtype)
    d = torch.arange(out, device=start.device, dtype=dtype)
    src = ((d + 0.5) * (length / out)[:, None] - 0.5).clamp_(min=0.0)
    src = torch.minimum(src, (length - 1.0)[:, None]).add_(start.to(dtype)[:, None])
    return src.mul_(2.0 / full).add_(1.0 / full - 1.0)


def _crop_flip(
    x: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    size: tuple[int, int],
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Resized crop, then (where ``flip``) a horizontal flip, as one ``grid_sample``."""
    N, C, H, W = x.shape
    out_h, out_w = size
    dev = x.device
    top, left, height, width = (
        torch.as_tensor(t).to(device=dev, dtype=torch.int64) for t in (top, left, height, width)
    )
    gy = _box_grid(top, height, out_h, H, x.dtype)
    gx = _box_grid(left, width, out_w, W, x.dtype)
    if flip is not None:
        f = torch.as_tensor(flip).to(device=dev, dtype=torch.bool)[:, None]
        gx = torch.where(f, gx.flip(1), gx)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def resized_crop(
    x: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    size: int | tuple[int, int],
) -> torch.Tensor:
    """Crop a box from every image and resize it, bilinear, ``align_corners=False``, no
    antialiasing.

    Per image equal (to float rounding) to torchvision's
    ``transforms.v2.functional.resized_crop(img, top, left, height, width, [oh, ow],
    antialias=False)``, i.e. ``F.interpolate(crop, (oh, ow), mode="bilinear")``, computed
    as one ``grid_sample`` whose sampling points are clamped into each box (so, as with
    interpolate, no pixel outside the box is read; about 1e-6 from the grid's
    normalisation). Boxes must lie inside the image, as RandomResizedCrop's do (torchvision
    would zero-pad a box reaching outside; here the border pixels repeat).

    Args:
        x: images. Shape: (N, C, H, W).
        top, left: the box's first row and column per image. Shape: (N,) integers.
        height, width: the box's size per image, >= 1. Shape: (N,) integers.
        size: output side, or ``(out_height, out_width)``.

    Returns:
        Shape: (N, C, out_height, out_width).
    """
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return _crop_flip(x, top, left, height, width, size)


def hflip(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """Flip the flagged images left-right.

    Args:
        x: images. Shape: (N, C, H, W).
        flags: which images to flip. Shape: (N,) bool.

    Returns:
        Shape: (N, C, H, W).
    """
    f = torch.as_tensor(flags).to(device=x.device, dtype=torch.bool).reshape(-1, 1, 1, 1)
    return torch.where(f, x.flip(-1), x)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``clip(factor * x, 0, 1)`` per image (torchvision's ``adjust_brightness``).

    Args:
        x: images in [0, 1]. Shape: (N, C, H, W).
        factor: brightness factor per image, >= 0 (1 = identity). Shape: (N,).

    Returns:
        Shape: (N, C, H, W).
    """
    return (x * _per_image(factor, x)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend every image with its mean grey level (torchvision's ``adjust_contrast``):
    ``clip(factor * x + (1 - factor) * mean(luma(x)), 0, 1)``; for C = 1 the mean pixel.

    Args:
        x: images in [0, 1]. Shape: (N, C, H, W), C in {1, 3}.
        factor: contrast factor per image, >= 0 (1 = identity). Shape: (N,).

    Returns:
        Shape: (N, C, H, W).
    """
    grey = _luma(x) if x.shape[1] == 3 else x
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend every image with its grey version (torchvision's ``adjust_saturation``):
    ``clip(factor * x + (1 - factor) * luma(x), 0, 1)``; a no-op for C = 1.

    Args:
        x: images in [0, 1]. Shape: (N, C, H, W), C in {1, 3}.
        factor: saturation factor per image, >= 0 (1 = identity, 0 = grey). Shape: (N,).

    Returns:
        Shape: (N, C, H, W).
    """
    if x.shape[1] != 3:
        return x
    return _blend(x, _luma(x), factor)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of every image by ``factor`` turns (torchvision's ``adjust_hue``:
    RGB -> HSV, ``h = (h + factor) mod 1``, HSV -> RGB); a no-op for C = 1.

    Computed in closed form: with ``v = max(r, g, b)``, ``m = min(r, g, b)`` and the hue in
    sixths ``h6`` (Pillow's / torchvision's formula and tie order: red, green, blue),
    channel n of (r, g, b) is ``m + (v - m) * clip(|k - 3| - 1, 0, 1)`` with
    ``k = (h6 + 6 factor + (0, 4, 2)[n]) mod 6``: torchvision's HSV round trip to float
    rounding (about 1e-6). Factor 0 is the identity to that rounding.

    Args:
        x: images in [0, 1]. Shape: (N, C, H, W), C in {1, 3}.
        factor: hue shift per image, in [-0.5, 0.5]. Shape: (N,).

    Returns:
        Shape: (N, C, H, W).
    """
    if x.shape[1] != 3:
        return x
    r, g, b = x.unbind(dim=1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    chroma = maxc - minc
    h6 = torch.where(
        maxc == r,
        g - b,
        torch.where(maxc == g, (b - r).add_(chroma, alpha=2.0), (r - g).add_(chroma, alpha=4.0)),
    )
    h6 = h6.div_(torch.where(chroma == 0, 1.0, chroma))
    h6 = h6.add_(_per_image(factor, x)[:, 0], alpha=6.0).unsqueeze(1)  # (N, 1, H, W)
    offsets = torch.tensor([0.0, 4.0, 2.0], device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    k = (h6 + offsets).remainder_(6.0)  # (N, 3, H, W)
    ramp = k.sub_(3.0).abs_().sub_(1.0).clamp_(0.0, 1.0)
    return ramp.mul_(chroma.unsqueeze(1)).add_(minc.unsqueeze(1))


def rgb_to_grayscale(x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """Replace the flagged images by their grey level in all channels (torchvision's
    ``rgb_to_grayscale(img, num_output_channels=3)``); a no-op for C = 1.

    Args:
        x: images. Shape: (N, C, H, W), C in {1, 3}.
        flags: which images turn grey. Shape: (N,) bool.

    Returns:
        Shape: (N, C, H, W).
    """
    if x.shape[1] != 3:
        return x
    f = torch.as_tensor(flags).to(device=x.device, dtype=torch.bool).reshape(-1, 1, 1, 1)
    return torch.where(f, _luma(x).expand_as(x), x)


def _grey(x: torch.Tensor, _: object = None) -> torch.Tensor:
    """Every image as its grey level in all three channels. Shape: (N, 3, H, W)."""
    return _luma(x).expand_as(x).contiguous()


def blur_kernel_size(side: int) -> int:
    """The blur kernel for images of shorter side ``side``: about 10% of it, odd, >= 3.

    ``max(3, 2 * (side // 10 // 2) + 1)``: SimCLR's ``2 * (kernel // 2) + 1`` with
    ``kernel = side // 10`` (23 for 224), floored at 3 [design] (3 for 16 and 32).
    """
    return max(3, 2 * (side // 10 // 2) + 1)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur every image with its own isotropic Gaussian (torchvision's ``gaussian_blur``:
    kernel ``exp(-i^2 / (2 sigma^2))`` on i = -r..r normalised, reflect padding), as two
    separable passes.

    Args:
        x: images. Shape: (N, C, H, W), with H, W > kernel_size // 2.
        sigma: standard deviation per image; sigma <= 0 gives the identity. Shape: (N,).
        kernel_size: odd kernel side.

    Returns:
        Shape: (N, C, H, W).
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    r = kernel_size // 2
    if r == 0:
        return x
    N, C, H, W = x.shape
    sig = torch.as_tensor(sigma).to(device=x.device, dtype=x.dtype).clamp(min=1e-6)
    offsets = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    weights = torch.softmax(-(offsets**2 / 2.0) / sig[:, None] ** 2, dim=1)  # (N, k)
    padded = F.pad(x, (r, r, r, r), mode="reflect")
    w = weights[:, :, None, None, None]  # (N, k, 1, 1, 1)
    rows = padded[:, :, 0:H, :] * w[:, 0]
    for j in range(1, kernel_size):
        rows.addcmul_(padded[:, :, j : j + H, :], w[:, j])
    out = rows[:, :, :, 0:W] * w[:, 0]
    for j in range(1, kernel_size):
        out.addcmul_(rows[:, :, :, j : j + W], w[:, j])
    return out


# ------------------------------------------------------------------------ random parameters


def _columns(spec: AugmentSpec) -> dict[str, slice]:
    """The columns of a member's ``torch.rand(B, n)`` draw per step (see module docstring)."""
    widths: list[tuple[str, int]] = []
    if spec.crop_scale < 1.0:
        widths += [("crop_area", _ATTEMPTS), ("crop_ratio", _ATTEMPTS), ("crop_pos", 2)]
    if spec.flip_prob > 0:
        widths.append(("flip", 1))
    if spec.jitters:
        widths.append(("jitter", 1))
        for name in ("brightness", "contrast", "saturation", "hue"):
            if getattr(spec, name) > 0:
                widths.append((name, 1))
    if spec.grey_prob > 0:
        widths.append(("grey", 1))
    if spec.blur_prob > 0:
        widths += [("blur", 1), ("sigma", 1)]
    cols, start = {}, 0
    for name, n in widths:
        cols[name] = slice(start, start + n)
        start += n
    return cols


def _crop_boxes(
    area_u: torch.Tensor, ratio_u: torch.Tensor, pos_u: torch.Tensor, scale: float, H: int, W: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """RandomResizedCrop's boxes from uniforms, all attempts at once (float64, CPU).

    Shape:
        area_u, ratio_u: (N, 10); pos_u: (N, 2). Returns top, left, height, width (N,).
    """
    area = float(H * W)
    target = area * (scale + area_u.double() * (1.0 - scale))
    lo, hi = math.log(_RATIO[0]), math.log(_RATIO[1])
    ratio = torch.exp(lo + ratio_u.double() * (hi - lo))
    w = torch.round(torch.sqrt(target * ratio))
    h = torch.round(torch.sqrt(target / ratio))
    ok = (w > 0) & (w <= W) & (h > 0) & (h <= H)
    first = ok.to(torch.int8).argmax(dim=1, keepdim=True)  # first valid attempt
    found = ok.any(dim=1)
    w = w.gather(1, first)[:, 0]
    h = h.gather(1, first)[:, 0]
    # torchvision's fallback: the central crop of the largest box with an allowed ratio
    in_ratio = W / H
    if in_ratio < _RATIO[0]:
        fw, fh = W, round(W / _RATIO[0])
    elif in_ratio > _RATIO[1]:
        fw, fh = round(H * _RATIO[1]), H
    else:
        fw, fh = W, H
    w = torch.where(found, w, float(fw))
    h = torch.where(found, h, float(fh))
    pos = pos_u.double()
    top = torch.minimum(torch.floor(pos[:, 0] * (H - h + 1)), H - h)
    left = torch.minimum(torch.floor(pos[:, 1] * (W - w + 1)), W - w)
    top = torch.where(found, top, float((H - fh) // 2))
    left = torch.where(found, left, float((W - fw) // 2))
    return top, left, h, w


def _factor(u: torch.Tensor, strength: float, jit: torch.Tensor, hue: bool = False) -> torch.Tensor:
    """ColorJitter's factor from a uniform; identity (1, or 0 for hue) where not jittered."""
    if hue:
        lo, hi, identity = -strength, strength, 0.0
    else:
        lo, hi, identity = max(0.0, 1.0 - strength), 1.0 + strength, 1.0
    return torch.where(jit, lo + u.double() * (hi - lo), identity)


def _to_device(parts: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move CPU parameters to ``device`` in one copy (as float64; integers stay exact)."""
    if device.type == "cpu" or not parts:
        return parts
    names = list(parts)
    flat = torch.cat([parts[n].to(torch.float64).reshape(-1) for n in names]).to(device)
    out = {}
    for n, chunk in zip(names, flat.split([parts[n].numel() for n in names]), strict=True):
        out[n] = chunk.reshape(parts[n].shape).to(parts[n].dtype)
    return out


def _augment_run(
    x: torch.Tensor, spec: AugmentSpec, gens: Sequence[torch.Generator]
) -> torch.Tensor:
    """One view of a batch whose members all use ``spec``. Shape: (K, B, C, H, W)."""
    if spec.is_identity:
        return x
    K, B, C, H, W = x.shape
    N = K * B
    cols = _columns(spec)
    n_u = max((s.stop for s in cols.values()), default=0)
    u_parts, eps_parts = [], []
    for g in gens:
        u_parts.append(torch.rand(B, n_u, generator=g, dtype=torch.float32))
        if spec.noise > 0:
            eps_parts.append(torch.randn(B, C, H, W, generator=g, dtype=x.dtype))
    u = torch.cat(u_parts)  # (N, n_u) on the CPU

    cpu: dict[str, torch.Tensor] = {}
    if "crop_area" in cols:
        top, left, h, w = _crop_boxes(
            u[:, cols["crop_area"]],
            u[:, cols["crop_ratio"]],
            u[:, cols["crop_pos"]],
            spec.crop_scale,
            H,
            W,
        )
        cpu["box"] = torch.stack([top, left, h, w]).to(torch.int64)
    if "flip" in cols:
        cpu["flip"] = u[:, cols["flip"]][:, 0] < spec.flip_prob
    jit = None
    if "jitter" in cols:
        jit = u[:, cols["jitter"]][:, 0] < spec.jitter_prob
        for name in ("brightness", "contrast", "saturation"):
            if name in cols and (C == 3 or name != "saturation"):
                cpu[name] = _factor(u[:, cols[name]][:, 0], getattr(spec, name), jit)
        if "hue" in cols and C == 3:
            hue = _factor(u[:, cols["hue"]][:, 0], spec.hue, jit, hue=True)
            idx = torch.nonzero(jit)[:, 0]
            cpu["hue_idx"] = idx
            cpu["hue"] = hue[idx]
    if "grey" in cols and C == 3:
        cpu["grey_idx"] = torch.nonzero(u[:, cols["grey"]][:, 0] < spec.grey_prob)[:, 0]
    if "blur" in cols:
        blur = u[:, cols["blur"]][:, 0] < spec.blur_prob
        idx = torch.nonzero(blur)[:, 0]
        sigma = _SIGMA[0] + u[:, cols["sigma"]][:, 0].double() * (_SIGMA[1] - _SIGMA[0])
        cpu["blur_idx"] = idx
        cpu["sigma"] = sigma[idx]
    p = _to_device(cpu, x.device)

    out = flat = x.reshape(N, C, H, W)
    if "box" in p:
        top, left, h, w = p["box"]
        out = _crop_flip(out, top, left, h, w, (H, W), p.get("flip"))
    elif "flip" in p:
        out = hflip(out, p["flip"])
    if jit is not None and bool(jit.any()):
        if "brightness" in p:
            out = adjust_brightness(out, p["brightness"])
        if "contrast" in p:
            out = adjust_contrast(out, p["contrast"])
        if "saturation" in p:
            out = adjust_saturation(out, p["saturation"])
        if "hue" in p:
            n = len(cpu["hue_idx"])
            out = _on_subset(out, p["hue_idx"], n, out is not flat, adjust_hue, p["hue"])
    if "grey_idx" in p:
        n = len(cpu["grey_idx"])
        out = _on_subset(out, p["grey_idx"], n, out is not flat, _grey, None)
    if "blur_idx" in p and len(cpu["blur_idx"]):
        k = blur_kernel_size(min(H, W))
        n = len(cpu["blur_idx"])
        out = _on_subset(
            out, p["blur_idx"], n, out is not flat, gaussian_blur, p["sigma"], kernel_size=k
        )
    if eps_parts:
        eps = torch.cat(eps_parts).to(x.device).reshape(N, C, H, W)
        out = torch.add(out, eps, alpha=spec.noise).clamp_(0.0, 1.0)
    return out.reshape(K, B, C, H, W)


def _on_subset(
    x: torch.Tensor, idx: torch.Tensor, n: int, inplace: bool, op, param, **kw
) -> torch.Tensor:
    """Apply ``op(images, param, **kw)`` to the images ``idx`` only (all when n = N); in
    place when ``x`` is a tensor of our own (not the caller's input)."""
    if n == 0:
        return x
    if n == x.shape[0]:
        return op(x, param, **kw)
    done = op(x.index_select(0, idx), param, **kw)
    return x.index_copy_(0, idx, done) if inplace else x.index_copy(0, idx, done)


def augment(
    x: torch.Tensor,
    spec: AugmentSpec | Sequence[AugmentSpec],
    gens: Sequence[torch.Generator],
) -> torch.Tensor:
    """One random view of every image (crop, flip, colour jitter, greyscale, blur, noise).

    Args:
        x: images in [0, 1] on any device. Shape: (K, B, C, H, W), C in {1, 3}.
        spec: the augmentation strengths, or one per member (a fused job's members): each
            run of consecutive equal specs is augmented on its own, so every member draws
            and gets what it would alone.
        gens: one CPU generator per member (len K).

    Returns:
        The view, in [0, 1] (the input itself for the identity spec). Shape: (K, B, C, H, W).
    """
    if x.ndim != 5 or x.shape[2] not in (1, 3):
        raise ValueError(f"images must be (K, B, C, H, W) with C in {{1, 3}}, got {tuple(x.shape)}")
    if len(gens) != x.shape[0]:
        raise ValueError(f"one generator per member needed: {len(gens)} for {x.shape[0]}")
    if not isinstance(spec, AugmentSpec):
        specs = list(spec)
        if len(specs) != x.shape[0]:
            raise ValueError(f"one augmentation per member needed: {len(specs)} for {x.shape[0]}")
        for s in specs:
            s.check()
        bounds = [0, *(i for i in range(1, len(specs)) if specs[i] != specs[i - 1]), len(specs)]
        if len(bounds) > 2:
            return torch.cat(
                [_augment_run(x[a:b], specs[a], gens[a:b]) for a, b in itertools.pairwise(bounds)]
            )
        spec = specs[0]
    else:
        spec.check()
    return _augment_run(x, spec, gens)


def two_views(
    x: torch.Tensor,
    spec: AugmentSpec | Sequence[AugmentSpec],
    gens: Sequence[torch.Generator],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of a batch (every member draws view 1's numbers first).

    Args:
        x: images in [0, 1]. Shape: (K, B, C, H, W).
        spec: the augmentation strengths, or one per member (see :func:`augment`).
        gens: one CPU generator per member.

    Returns:
        ``(view1, view2)`` (both ``x`` itself, not copies, for the identity spec).
        Shape: (K, B, C, H, W) each.
    """
    return augment(x, spec, gens), augment(x, spec, gens)
