"""Procedural RGB shapes with known factors: a CPU-sized stand-in for CIFAR-10 [design].

Each image shows one filled shape on a background. The class is the shape; every other
property is a nuisance factor whose strength is a :class:`ShapesSpec` field, and every
image's factors are returned with it, so a probe can be fit per factor [design]. Procedural
images with known generative factors follow dSprites [1] and 3D Shapes [2]; the choice of
shapes, colours, textures and noise here is our own design, standing in for CIFAR-10 [3]
in experiments small enough for a CPU.

The image also carries the "dense feature" ξ of Wen & Li's data model [4]: a noise pattern
fixed per image (one of ``n_noise_patterns`` Gaussian patterns drawn once per data set),
added to every pixel, shape and background alike. It is part of the pixels, so the two
augmented views of an image share it and a network can match views by it unless the
augmentation removes it.

Geometry. Pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)`` and the image
centre is ``(side / 2, side / 2)``. A shape is defined in unit coordinates ``(u, v)``
(``u`` right, ``v`` up) inside the unit disk; it is drawn with bounding radius
``R = scale * max_radius``, ``max_radius = 0.3 * side``, rotated counter-clockwise (as
displayed) by ``rotation`` degrees, with its origin at ``(side / 2 + pos_x, side / 2 +
pos_y)`` in ``(x, y)`` = (column, row) pixel units, so ``pos_y > 0`` moves it down. The
largest offset ``max_offset = side / 2 - max_radius - 0.5`` keeps every shape at least half
a pixel inside the image. Coverage is anti-aliased by 4 x 4 supersampling of an inside-test.

Shapes (unit coordinates; the first ``n_classes`` are used, the look-alike hexagon last):
circle (radius 0.9), square (half-side 0.7), triangle (equilateral, circumradius 1), plus
(arms 0.9 long, 0.3 half-wide), ring (radii 0.45 to 0.9), star (five points, radii 1 and
0.45), half_disk (radius 0.9, flat side at v = -0.4), crescent (disk of radius 0.9 less a
disk of radius 0.7 centred at u = 0.4), ellipse (semi-axes 0.95 by 0.35), tee (bar on top),
ell, arrow (pointing right), hourglass, bars (two parallel bars) and hexagon (circumradius
0.95). No two are the same up to rotation and scale; the closest pairs at 16 pixels are
circle/hexagon and square/hexagon (hence the hexagon comes last), then crescent/ell and
circle/square.

Factors (``ShapesData.factors``; every array has one row per image):

- ``pos_x``, ``pos_y``: shape-centre offset in pixels, each uniform in
  ``±position * max_offset``.
- ``scale``: size factor, uniform in ``[1 - 0.5 * scale, 1]`` of ``max_radius``.
- ``rotation``: angle in degrees, uniform in ``±rotation * 180``.
- ``shape_colour``: palette id, uniform over the first ``1 + floor(shape_colour *
  (n_colours - 1) + 0.5)`` ids (strength 0: id 0 for every image; strength 1: all
  ``n_colours``); ``shape_rgb`` its colour.
  The shape palette has ``n_colours`` hues evenly spaced, saturation 0.85, value 0.95.
- ``bg_colour``, ``bg_rgb``: the same for the background, an independent draw from a
  second palette of hues shifted by half a step, saturation 0.6, value 0.35. Every shape
  colour has a channel at 0.95 and no background channel exceeds 0.35, so the contrast is
  visible by construction and the two colours stay independent factors.
- ``texture``: grating kind id, uniform over ``n_textures`` kinds (0 when the strength is
  0); kind ``k`` is a sinusoid of orientation ``180 * k / n_textures`` degrees and ``2 + k
  % 2`` cycles per image side. ``texture_phase``: its phase, uniform in ``[0, 2π)`` (0 when
  the strength is 0). The grating, of amplitude ``0.25 * texture`` in pixel units, is
  added to the three channels of the background only.
- ``noise_pattern``: the id of the pattern ξ, uniform over ``n_noise_patterns`` (0 when
  ``noise`` is 0); ``noise * pattern`` is added to the whole image (patterns have unit
  variance per pixel and channel; see ``ShapesData.noise_patterns``).

The image is ``clip(coverage * shape_rgb + (1 - coverage) * (bg_rgb + grating) + noise *
pattern, 0, 1)``, rounded to ``uint8``.

Draw order of :func:`render` (all from its ``rng``; every draw is made whatever the
strengths, so changing one strength leaves the other factors of each image as they were):

1. ``rng.permutation(n)``; the labels are its values modulo ``n_classes``;
2. ``rng.random((n, 9))``, one row per image, columns in the order pos_x, pos_y, scale,
   rotation, shape_colour, bg_colour, texture, texture_phase, noise_pattern, each mapped
   to its factor as above;
3. ``rng.standard_normal((n_noise_patterns, 3, side, side))``, the noise patterns (skipped
   when they are passed in, so a train and a test set can share them).

References:
    - [1] Matthey et al. 2017, dSprites: Disentanglement testing Sprites dataset,
      https://github.com/deepmind/dsprites-dataset
    - [2] Burgess & Kim 2018, 3D Shapes Dataset, https://github.com/deepmind/3dshapes-dataset
    - [3] Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images (CIFAR-10).
    - [4] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134 (the dense
      feature ξ, shared by the two views of a sample).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

SUPERSAMPLE = 4
"""Sub-pixels per pixel side for anti-aliasing (4 x 4 samples per pixel)."""

RADIUS_FRACTION = 0.3
"""Largest bounding radius of a shape as a fraction of the image side."""

TEXTURE_GAIN = 0.25
"""The grating's amplitude in pixel units at ``texture = 1``."""

_SAMPLES_PER_CHUNK = 1 << 21  # sub-pixel samples per inside-test call (bounds memory)
_PIXELS_PER_CHUNK = 1 << 20  # pixel values per compositing step

_SQ3 = math.sqrt(3.0)


def _half_planes(u: np.ndarray, v: np.ndarray, angles_deg: tuple[float, ...], d: float):
    """Inside the convex polygon ``n_k . (u, v) <= d`` for unit normals at ``angles_deg``."""
    inside = None
    for a in angles_deg:
        c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
        h = c * u + s * v <= d
        inside = h if inside is None else inside & h
    return inside


def _circle(u, v):
    return u * u + v * v <= 0.81


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.7


def _triangle(u, v):
    return _half_planes(u, v, (270.0, 30.0, 150.0), 0.5)


def _plus(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.3) & (av <= 0.9)) | ((av <= 0.3) & (au <= 0.9))


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 0.81) & (r2 >= 0.45**2)


_STAR_INNER = 0.45
_STAR_BX = _STAR_INNER * math.cos(math.pi / 5)
_STAR_BY = _STAR_INNER * math.sin(math.pi / 5)


def _star(u, v):
    # Fold the polar angle into [0, 36] degrees from the nearest outer point, then test
    # against the edge from the outer point (1, 0) to the inner corner B.
    sector = 2 * math.pi / 5
    t = np.mod(np.arctan2(v, u) - math.pi / 2, sector)
    a = np.minimum(t, sector - t)
    r = np.sqrt(u * u + v * v)
    qx, qy = r * np.cos(a), r * np.sin(a)
    return (_STAR_BX - 1.0) * qy - _STAR_BY * (qx - 1.0) >= 0


def _half_disk(u, v):
    w = v + 0.4
    return (u * u + w * w <= 0.81) & (w >= 0)


def _crescent(u, v):
    w = u - 0.4
    return (u * u + v * v <= 0.81) & (w * w + v * v > 0.49)


def _ellipse(u, v):
    return (u / 0.95) ** 2 + (v / 0.35) ** 2 <= 1.0


def _tee(u, v):
    au = np.abs(u)
    bar = (au <= 0.75) & (v >= 0.25) & (v <= 0.65)
    stem = (au <= 0.2) & (v >= -0.85) & (v < 0.25)
    return bar | stem


def _ell(u, v):
    upright = (u >= -0.6) & (u <= -0.2) & (v >= -0.7) & (v <= 0.7)
    foot = (u >= -0.6) & (u <= 0.6) & (v >= -0.7) & (v <= -0.3)
    return upright | foot


def _arrow(u, v):
    av = np.abs(v)
    shaft = (u >= -0.9) & (u <= 0.2) & (av <= 0.15)
    head = (u >= 0.15) & (av <= 0.75 * (0.95 - u))
    return shaft | head


def _hourglass(u, v):
    av = np.abs(v)
    return (av <= 0.78) & (np.abs(u) <= 0.75 * av)


def _bars(u, v):
    av = np.abs(v)
    return (np.abs(u) <= 0.8) & (av >= 0.2) & (av <= 0.55)


def _hexagon(u, v):
    return _half_planes(u, v, (30.0, 90.0, 150.0, 210.0, 270.0, 330.0), 0.95 * _SQ3 / 2)


_INSIDE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "plus": _plus,
    "ring": _ring,
    "star": _star,
    "half_disk": _half_disk,
    "crescent": _crescent,
    "ellipse": _ellipse,
    "tee": _tee,
    "ell": _ell,
    "arrow": _arrow,
    "hourglass": _hourglass,
    "bars": _bars,
    "hexagon": _hexagon,
}

SHAPES: tuple[str, ...] = tuple(_INSIDE)
"""The shape names, in class order; a data set uses the first ``n_classes``."""

FACTOR_LEVELS: dict[str, str] = {
    "shape_colour": "n_colours",
    "bg_colour": "n_colours",
    "texture": "n_textures",
    "noise_pattern": "n_noise_patterns",
}
"""For each discrete factor, the :class:`ShapesSpec` field giving its number of levels."""

_UNIFORM_COLUMNS = (
    "pos_x",
    "pos_y",
    "scale",
    "rotation",
    "shape_colour",
    "bg_colour",
    "texture",
    "texture_phase",
    "noise_pattern",
)


@dataclass(frozen=True)
class ShapesSpec:
    """The image size, the classes and the strength of each nuisance factor.

    Strengths are in [0, 1]; 0 makes the factor constant (see the module docstring).

    Attributes:
        side: image side in pixels (>= 8).
        n_classes: number of classes, the first ``n_classes`` of :data:`SHAPES`.
        position: centre offset up to ``position * max_offset`` along each axis.
        scale: size factor drawn in ``[1 - 0.5 * scale, 1]``.
        rotation: angle drawn in ``±rotation * 180`` degrees.
        shape_colour: 0 = one colour (id 0); 1 = uniform over the ``n_colours`` palette;
            between, uniform over the first ``1 + floor(shape_colour * (n_colours - 1) +
            0.5)`` colours.
        bg_colour: the same for the background colour.
        texture: amplitude of the background grating (``TEXTURE_GAIN * texture`` pixels).
        noise: amplitude in pixel units of the per-image fixed noise pattern ξ.
        n_colours: palette size of the shape colours and of the background colours.
        n_textures: number of grating kinds.
        n_noise_patterns: number of fixed noise patterns.
    """

    side: int = 16
    n_classes: int = 10
    position: float = 1.0
    scale: float = 1.0
    rotation: float = 1.0
    shape_colour: float = 1.0
    bg_colour: float = 1.0
    texture: float = 0.5
    noise: float = 0.1
    n_colours: int = 8
    n_textures: int = 4
    n_noise_patterns: int = 8

    @property
    def max_radius(self) -> float:
        """The bounding radius in pixels of a shape at scale 1."""
        return RADIUS_FRACTION * self.side

    @property
    def max_offset(self) -> float:
        """The largest centre offset in pixels along each axis (at ``position = 1``)."""
        return self.side / 2 - self.max_radius - 0.5

    def check(self) -> None:
        """Validate every field.

        Raises:
            ValueError: naming the first bad field.
        """

        def integer(name: str, low: int, high: int | None = None, why: str = "") -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise ValueError(f"shapes.{name} ({value!r}) must be an integer")
            if value < low:
                raise ValueError(f"shapes.{name} ({value}) must be >= {low}")
            if high is not None and value > high:
                raise ValueError(f"shapes.{name} ({value}) must be <= {high}{why}")

        integer("side", 8)
        integer("n_classes", 2, len(SHAPES), ", the number of shapes")
        for name in ("position", "scale", "rotation", "shape_colour", "bg_colour"):
            self._strength(name)
        for name in ("texture", "noise"):
            self._strength(name)
        integer("n_colours", 1)
        integer("n_textures", 1)
        integer("n_noise_patterns", 1)

    def _strength(self, name: str) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValueError(f"shapes.{name} ({value!r}) must be a number in [0, 1]")
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"shapes.{name} ({value}) must be in [0, 1]")


@dataclass
class ShapesData:
    """A rendered data set.

    Attributes:
        images: the pixels. Shape: (n, 3, side, side) uint8.
        labels: the shape class of each image. Shape: (n,) int64.
        factors: every image's factors (see the module docstring). Shape: (n,) for
            ``pos_x``, ``pos_y``, ``scale``, ``rotation``, ``texture_phase`` (float64) and
            the ids ``shape_colour``, ``bg_colour``, ``texture``, ``noise_pattern`` (int64);
            (n, 3) float64 in [0, 1] for ``shape_rgb`` and ``bg_rgb``.
        noise_patterns: the fixed patterns ξ (unit variance; an image gets ``noise *
            noise_patterns[noise_pattern]``). Shape: (n_noise_patterns, 3, side, side)
            float32.
    """

    images: np.ndarray
    labels: np.ndarray
    factors: dict[str, np.ndarray]
    noise_patterns: np.ndarray = field(repr=False)


def palettes(n_colours: int) -> tuple[np.ndarray, np.ndarray]:
    """The shape palette and the background palette.

    Args:
        n_colours: number of colours in each palette.

    Returns:
        ``(shape_palette, bg_palette)``, RGB in [0, 1]. Shape: (n_colours, 3) float64 each.
    """
    shape = [colorsys.hsv_to_rgb(k / n_colours, 0.85, 0.95) for k in range(n_colours)]
    bg = [colorsys.hsv_to_rgb((k + 0.5) / n_colours, 0.6, 0.35) for k in range(n_colours)]
    return np.array(shape, dtype=np.float64), np.array(bg, dtype=np.float64)


def _levels(strength: float, n: int) -> int:
    """Number of palette ids in use at a strength: 1 at 0, ``n`` at 1."""
    return 1 + math.floor(strength * (n - 1) + 0.5)


def coverage(
    labels: np.ndarray,
    pos_x: np.ndarray,
    pos_y: np.ndarray,
    scale: np.ndarray,
    rotation: np.ndarray,
    side: int,
) -> np.ndarray:
    """The anti-aliased shape masks for given factors (the geometry of :func:`render`).

    Args:
        labels: shape class ids, indices into :data:`SHAPES`.
        pos_x: centre offsets in pixels (right positive).
        pos_y: centre offsets in pixels (down positive).
        scale: size factors (bounding radius ``scale * 0.3 * side``).
        rotation: counter-clockwise angles in degrees.
        side: image side in pixels.

    Returns:
        Fraction of each pixel inside the shape, in [0, 1].
        Shape: (n, side, side) float32.

    Shape:
        labels, pos_x, pos_y, scale, rotation: (n,).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.shape[0]
    ss = SUPERSAMPLE
    big = side * ss
    # sub-pixel sample coordinates relative to the image centre (x right, y down)
    sub = ((np.arange(big, dtype=np.float64) + 0.5) / ss - side / 2).astype(np.float32)
    theta = np.radians(np.asarray(rotation, dtype=np.float64))
    inv_r = 1.0 / (np.asarray(scale, dtype=np.float64) * RADIUS_FRACTION * side)
    cos_r = (np.cos(theta) * inv_r).astype(np.float32)
    sin_r = (np.sin(theta) * inv_r).astype(np.float32)
    cx = np.asarray(pos_x, dtype=np.float32)
    cy = np.asarray(pos_y, dtype=np.float32)
    out = np.empty((n, side, side), dtype=np.float32)
    chunk = max(1, _SAMPLES_PER_CHUNK // (big * big))
    for c in np.unique(labels):
        inside_test = _INSIDE[SHAPES[int(c)]]
        idx = np.flatnonzero(labels == c)
        for start in range(0, idx.size, chunk):
            sel = idx[start : start + chunk]
            dx = (sub[None, :] - cx[sel, None])[:, None, :]  # (b, 1, big)
            dy = (cy[sel, None] - sub[None, :])[:, :, None]  # (b, big, 1), y up
            c_, s_ = cos_r[sel, None, None], sin_r[sel, None, None]
            u = c_ * dx + s_ * dy  # rotate the samples by -theta into shape coordinates
            v = c_ * dy - s_ * dx
            inside = inside_test(u, v)
            counts = inside.reshape(sel.size, side, ss, side, ss).sum(axis=(2, 4))
            out[sel] = counts * np.float32(1.0 / (ss * ss))
    return out


def _gratings(spec: ShapesSpec) -> np.ndarray:
    """The phase maps of the grating kinds (radians, before the random phase).

    Shape:
        Return: (n_textures, side, side) float32.
    """
    side = spec.side
    centres = (np.arange(side, dtype=np.float64) + 0.5 - side / 2) / side
    x = centres[None, :]
    y = -centres[:, None]  # up positive
    maps = []
    for k in range(spec.n_textures):
        angle = math.pi * k / spec.n_textures
        cycles = 2 + k % 2
        maps.append(2 * math.pi * cycles * (x * math.cos(angle) + y * math.sin(angle)))
    return np.stack(maps).astype(np.float32)


def render(
    n: int,
    rng: np.random.Generator,
    spec: ShapesSpec,
    *,
    noise_patterns: np.ndarray | None = None,
) -> ShapesData:
    """Render ``n`` images with their labels and factors.

    The draws from ``rng`` come in the order given in the module docstring, so one seed
    gives identical images, labels and factors.

    Args:
        n: number of images (>= 0).
        rng: the source of every random draw.
        spec: image size, classes and factor strengths.
        noise_patterns: patterns ξ to use instead of drawing them (e.g. those of the
            training set, for its test set); ``None`` draws them last from ``rng``.

    Returns:
        The images, balanced labels (counts differ by at most 1) and factors.

    Raises:
        ValueError: for a bad ``n``, ``spec`` or ``noise_patterns``.

    Shape:
        noise_patterns: (n_noise_patterns, 3, side, side).
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"shapes: n ({n!r}) must be an integer >= 0")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"shapes: rng must be a numpy.random.Generator, not {type(rng)}")
    spec.check()
    n = int(n)
    side = spec.side

    labels = (rng.permutation(n) % spec.n_classes).astype(np.int64)
    draws = rng.random((n, len(_UNIFORM_COLUMNS)))
    d = {name: draws[:, j] for j, name in enumerate(_UNIFORM_COLUMNS)}
    if noise_patterns is None:
        patterns = rng.standard_normal((spec.n_noise_patterns, 3, side, side))
        patterns = patterns.astype(np.float32)
    else:
        patterns = np.asarray(noise_patterns, dtype=np.float32)
        want = (spec.n_noise_patterns, 3, side, side)
        if patterns.shape != want:
            raise ValueError(f"shapes: noise_patterns has shape {patterns.shape}, not {want}")

    offset = spec.position * spec.max_offset
    shape_pal, bg_pal = palettes(spec.n_colours)
    shape_ids = np.floor(d["shape_colour"] * _levels(spec.shape_colour, spec.n_colours))
    bg_ids = np.floor(d["bg_colour"] * _levels(spec.bg_colour, spec.n_colours))
    n_tex = spec.n_textures if spec.texture > 0 else 1
    n_noise = spec.n_noise_patterns if spec.noise > 0 else 1
    factors: dict[str, np.ndarray] = {
        "pos_x": offset * (2 * d["pos_x"] - 1),
        "pos_y": offset * (2 * d["pos_y"] - 1),
        "scale": 1 - 0.5 * spec.scale * d["scale"],
        "rotation": spec.rotation * 180.0 * (2 * d["rotation"] - 1),
        "shape_colour": shape_ids.astype(np.int64),
        "bg_colour": bg_ids.astype(np.int64),
        "texture": np.floor(d["texture"] * n_tex).astype(np.int64),
        "texture_phase": (2 * math.pi * d["texture_phase"]) * (spec.texture > 0),
        "noise_pattern": np.floor(d["noise_pattern"] * n_noise).astype(np.int64),
    }
    factors["shape_rgb"] = shape_pal[factors["shape_colour"]]
    factors["bg_rgb"] = bg_pal[factors["bg_colour"]]

    cover = coverage(
        labels, factors["pos_x"], factors["pos_y"], factors["scale"], factors["rotation"], side
    )
    images = np.empty((n, 3, side, side), dtype=np.uint8)
    gratings = _gratings(spec)
    amp = np.float32(TEXTURE_GAIN * spec.texture)
    noise = np.float32(spec.noise)
    fg = factors["shape_rgb"].astype(np.float32)[:, :, None, None]
    bg = factors["bg_rgb"].astype(np.float32)[:, :, None, None]
    phase = factors["texture_phase"].astype(np.float32)[:, None, None]
    step = max(1, _PIXELS_PER_CHUNK // (3 * side * side))
    for start in range(0, n, step):
        s = slice(start, min(n, start + step))
        back = bg[s]
        if amp > 0:
            wave = np.sin(gratings[factors["texture"][s]] + phase[s])
            back = back + (amp * wave)[:, None]
        cov = cover[s][:, None]
        img = back + cov * (fg[s] - back)
        if noise > 0:
            img += noise * patterns[factors["noise_pattern"][s]]
        np.clip(img, 0.0, 1.0, out=img)
        img *= 255.0
        np.rint(img, out=img)
        images[s] = img.astype(np.uint8)
    return ShapesData(images=images, labels=labels, factors=factors, noise_patterns=patterns)
