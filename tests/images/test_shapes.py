"""Tests of the procedural shapes image source (``contrastlab.images.shapes``)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from contrastlab.images.shapes import (
    FACTOR_LEVELS,
    SHAPES,
    TEXTURE_GAIN,
    ShapesData,
    ShapesSpec,
    coverage,
    palettes,
    render,
)

# Every nuisance factor off: the image is then determined by the class alone.
PLAIN = dict(
    position=0.0, scale=0.0, rotation=0.0, shape_colour=0.0, bg_colour=0.0, texture=0.0, noise=0.0
)
# Geometry free, appearance clean: pixels are coverage * shape_rgb + (1 - coverage) * bg_rgb.
CLEAN = dict(texture=0.0, noise=0.0)
STRENGTHS = ("position", "scale", "rotation", "shape_colour", "bg_colour", "texture", "noise")


def _cov_from_pixels(data: ShapesData, i: int) -> np.ndarray:
    """Coverage recovered from a clean image (no texture, no noise), in the channel of most
    contrast, using the corner pixel as the background and the shape colour as the shape."""
    fg, bg = data.factors["shape_rgb"][i], data.factors["bg_rgb"][i]
    ch = int(np.argmax(np.abs(fg - bg)))
    img = data.images[i, ch].astype(np.float64)
    corner = img[0, 0]
    return (img - corner) / (round(255 * fg[ch]) - corner)


def _moments(cov: np.ndarray) -> tuple[float, float, float, float, float]:
    """Mass centroid (x right, y up, image-centre origin) and central second moments."""
    side = cov.shape[0]
    c = np.arange(side) + 0.5 - side / 2
    x, y = c[None, :], -c[:, None]
    m = cov.sum()
    mx, my = (cov * x).sum() / m, (cov * y).sum() / m
    xx = (cov * (x - mx) ** 2).sum() / m
    yy = (cov * (y - my) ** 2).sum() / m
    xy = (cov * (x - mx) * (y - my)).sum() / m
    return mx, my, xx, yy, xy


def _angle_diff(a: float, b: float, period: float = 360.0) -> float:
    return abs((a - b + period / 2) % period - period / 2)


def test_shapes_list():
    assert isinstance(SHAPES, tuple) and len(SHAPES) >= 12
    assert len(set(SHAPES)) == len(SHAPES)
    assert SHAPES[:3] == ("circle", "square", "triangle")
    assert set(FACTOR_LEVELS) == {"shape_colour", "bg_colour", "texture", "noise_pattern"}
    for field in FACTOR_LEVELS.values():
        assert isinstance(getattr(ShapesSpec(), field), int)


def test_import_is_light():
    code = (
        "import sys, contrastlab.images.shapes; "
        "print(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("n", "n_classes"), [(50, 10), (53, 10), (7, 2), (45, 15), (3, 10)])
def test_class_balance(n, n_classes):
    data = render(n, np.random.default_rng(0), ShapesSpec(side=8, n_classes=n_classes))
    assert data.labels.dtype == np.int64 and data.labels.shape == (n,)
    assert data.labels.min() >= 0 and data.labels.max() < n_classes
    counts = np.bincount(data.labels, minlength=n_classes)
    assert counts.max() - counts.min() <= 1
    if n % n_classes == 0:
        assert (counts == n // n_classes).all()


@pytest.mark.parametrize(
    "strengths",
    [{}, dict(position=0.5, scale=0.4, rotation=0.25, shape_colour=0.5, bg_colour=0.2)],
)
def test_factor_ranges(strengths):
    spec = ShapesSpec(side=16, **strengths)
    n = 600
    data = render(n, np.random.default_rng(1), spec)
    f = data.factors
    assert data.images.dtype == np.uint8 and data.images.shape == (n, 3, 16, 16)
    bound = spec.position * spec.max_offset
    assert spec.max_offset > 0
    for key in ("pos_x", "pos_y"):
        assert f[key].shape == (n,)
        assert np.abs(f[key]).max() <= bound + 1e-12
        assert np.abs(f[key]).max() > 0.8 * bound  # the range is used
    assert f["scale"].min() >= 1 - 0.5 * spec.scale and f["scale"].max() <= 1
    assert np.abs(f["rotation"]).max() <= 180 * spec.rotation
    assert np.abs(f["rotation"]).max() > 0.9 * 180 * spec.rotation
    shape_pal, bg_pal = palettes(spec.n_colours)
    for key, levels in (
        ("shape_colour", 1 + math.floor(spec.shape_colour * 7 + 0.5)),
        ("bg_colour", 1 + math.floor(spec.bg_colour * 7 + 0.5)),
        ("texture", spec.n_textures),
        ("noise_pattern", spec.n_noise_patterns),
    ):
        assert f[key].dtype == np.int64 and f[key].shape == (n,)
        assert set(np.unique(f[key])) == set(range(levels)), key
        assert f[key].max() < getattr(spec, FACTOR_LEVELS[key])
    np.testing.assert_array_equal(f["shape_rgb"], shape_pal[f["shape_colour"]])
    np.testing.assert_array_equal(f["bg_rgb"], bg_pal[f["bg_colour"]])
    assert f["shape_rgb"].shape == (n, 3) and f["bg_rgb"].shape == (n, 3)
    assert f["texture_phase"].min() >= 0 and f["texture_phase"].max() < 2 * math.pi
    assert data.noise_patterns.shape == (spec.n_noise_patterns, 3, 16, 16)


def test_palette_contrast():
    for n_colours in (1, 2, 8, 12):
        shape_pal, bg_pal = palettes(n_colours)
        assert shape_pal.shape == bg_pal.shape == (n_colours, 3)
        assert len({tuple(c) for c in shape_pal}) == n_colours
        # every shape colour is brighter than every background colour by >= 0.5 in some channel
        gap = (shape_pal[:, None, :] - bg_pal[None, :, :]).max(axis=2)
        assert gap.min() >= 0.5


def test_determinism_and_seeds():
    spec = ShapesSpec(side=16)
    a = render(40, np.random.default_rng(7), spec)
    b = render(40, np.random.default_rng(7), spec)
    c = render(40, np.random.default_rng(8), spec)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.noise_patterns, b.noise_patterns)
    assert a.factors.keys() == b.factors.keys()
    for key in a.factors:
        np.testing.assert_array_equal(a.factors[key], b.factors[key])
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.factors["pos_x"], c.factors["pos_x"])


def test_draw_order_documented():
    """Labels from the permutation, factors from one (n, 9) uniform block, then patterns."""
    spec = ShapesSpec(side=8, n_classes=4)
    data = render(12, np.random.default_rng(3), spec)
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(data.labels, rng.permutation(12) % 4)
    u = rng.random((12, 9))
    np.testing.assert_allclose(data.factors["pos_x"], spec.max_offset * (2 * u[:, 0] - 1))
    np.testing.assert_allclose(data.factors["rotation"], 180 * (2 * u[:, 3] - 1))
    patterns = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(data.noise_patterns, patterns)


@pytest.mark.parametrize("name", STRENGTHS)
def test_strength_zero_makes_factor_constant(name):
    full = ShapesSpec(side=16)
    off = ShapesSpec(side=16, **{name: 0.0})
    a = render(60, np.random.default_rng(2), full)
    b = render(60, np.random.default_rng(2), off)
    own = {
        "position": ("pos_x", "pos_y"),
        "scale": ("scale",),
        "rotation": ("rotation",),
        "shape_colour": ("shape_colour", "shape_rgb"),
        "bg_colour": ("bg_colour", "bg_rgb"),
        "texture": ("texture", "texture_phase"),
        "noise": ("noise_pattern",),
    }[name]
    constant = {"scale": 1.0, "shape_rgb": None, "bg_rgb": None}
    for key in own:
        values = b.factors[key]
        assert (values == values[0]).all(), key
        assert np.unique(a.factors[key], axis=0).shape[0] > 1, key
        if constant.get(key, 0) is not None:
            assert (values == constant.get(key, 0)).all(), key
    # the other factors and the labels are unchanged: each strength affects only its factor
    np.testing.assert_array_equal(a.labels, b.labels)
    for key in a.factors:
        if key not in own:
            np.testing.assert_array_equal(a.factors[key], b.factors[key])


def test_texture_and_noise_zero_pixels():
    """texture 0 and noise 0: the background is exactly flat, the colour bg_rgb."""
    spec = ShapesSpec(side=32, position=0.0, **CLEAN)
    data = render(20, np.random.default_rng(4), spec)
    # with the shape centred, rows 0..5 are background (the shape spans 0.3 * side = 9.6 px)
    top = data.images[:, :, :6, :].astype(np.float64) / 255
    expect = data.factors["bg_rgb"][:, :, None, None]
    np.testing.assert_allclose(top, np.broadcast_to(expect, top.shape), atol=0.5 / 255 + 1e-9)


def test_texture_follows_documented_grating():
    spec = ShapesSpec(side=32, position=0.0, noise=0.0, texture=0.8)
    data = render(30, np.random.default_rng(5), spec)
    side = spec.side
    c = (np.arange(side) + 0.5 - side / 2) / side
    x, y = c[None, :], -c[:, None]
    for i in range(30):
        k = data.factors["texture"][i]
        angle = math.pi * k / spec.n_textures
        arg = 2 * math.pi * (2 + k % 2) * (x * math.cos(angle) + y * math.sin(angle))
        wave = np.sin(arg + data.factors["texture_phase"][i])
        expect = data.factors["bg_rgb"][i][:, None, None] + TEXTURE_GAIN * 0.8 * wave
        expect = np.clip(expect, 0, 1)[:, :6, :]
        got = data.images[i, :, :6, :].astype(np.float64) / 255
        np.testing.assert_allclose(got, expect, atol=0.5 / 255 + 1e-6)


def test_pixels_match_stored_colours():
    spec = ShapesSpec(side=16, n_classes=2, **CLEAN)  # class 0 is the circle
    data = render(40, np.random.default_rng(6), spec)
    for i in np.flatnonzero(data.labels == 0):
        col = math.floor(8 + data.factors["pos_x"][i])
        row = math.floor(8 + data.factors["pos_y"][i])
        centre = data.images[i, :, row, col].astype(np.float64) / 255
        np.testing.assert_allclose(centre, data.factors["shape_rgb"][i], atol=0.5 / 255 + 1e-9)
        for r, cc in ((0, 0), (0, 15), (15, 0), (15, 15)):
            corner = data.images[i, :, r, cc].astype(np.float64) / 255
            np.testing.assert_allclose(corner, data.factors["bg_rgb"][i], atol=0.5 / 255 + 1e-9)


def test_circle_area_matches_scale():
    spec = ShapesSpec(side=32, n_classes=2, **CLEAN)
    data = render(40, np.random.default_rng(7), spec)
    circles = np.flatnonzero(data.labels == 0)
    assert circles.size == 20
    for i in circles:
        radius = 0.9 * data.factors["scale"][i] * spec.max_radius  # circle radius 0.9 units
        area = _cov_from_pixels(data, i).sum()
        assert area == pytest.approx(math.pi * radius**2, rel=0.02)
        # and its centroid is the stored centre
        mx, my, *_ = _moments(_cov_from_pixels(data, i))
        assert mx == pytest.approx(data.factors["pos_x"][i], abs=0.05)
        assert -my == pytest.approx(data.factors["pos_y"][i], abs=0.05)


def test_rotation_moves_mass_as_stored():
    ellipse, tee = SHAPES.index("ellipse"), SHAPES.index("tee")
    spec = ShapesSpec(side=32, n_classes=max(ellipse, tee) + 1, scale=0.0, **CLEAN)
    data = render(40 * spec.n_classes // 10, np.random.default_rng(8), spec)
    n_checked = 0
    for i in np.flatnonzero(data.labels == ellipse):
        # long axis of the ellipse (u axis) at the stored angle, modulo 180 degrees
        _, _, xx, yy, xy = _moments(_cov_from_pixels(data, i))
        axis = math.degrees(0.5 * math.atan2(2 * xy, xx - yy))
        assert _angle_diff(axis, data.factors["rotation"][i], 180.0) < 2.0
        n_checked += 1
    for i in np.flatnonzero(data.labels == tee):
        # the bar of the T is at +v: the mass centroid lies at rotation + 90 degrees
        mx, my, *_ = _moments(_cov_from_pixels(data, i))
        dx, dy = mx - data.factors["pos_x"][i], my + data.factors["pos_y"][i]
        direction = math.degrees(math.atan2(dy, dx))
        assert _angle_diff(direction, data.factors["rotation"][i] + 90) < 5.0
        n_checked += 1
    assert n_checked >= 4


def test_noise_pattern_is_fixed_per_image():
    spec = ShapesSpec(side=16, noise=0.1, texture=0.0)
    noisy = render(80, np.random.default_rng(9), spec)
    clean = render(80, np.random.default_rng(9), ShapesSpec(side=16, noise=0.0, texture=0.0))
    np.testing.assert_array_equal(noisy.noise_patterns, clean.noise_patterns)
    diff = (noisy.images.astype(np.float64) - clean.images) / 255
    unclipped = (noisy.images > 0) & (noisy.images < 255)
    ids = noisy.factors["noise_pattern"]
    expect = 0.1 * noisy.noise_patterns[ids].astype(np.float64)
    assert unclipped.mean() > 0.95
    np.testing.assert_allclose(diff[unclipped], expect[unclipped], atol=1.0 / 255 + 1e-9)
    # the shape and the background both carry it
    cover = coverage(
        noisy.labels, *(noisy.factors[k] for k in ("pos_x", "pos_y", "scale", "rotation")), 16
    )
    for region in (cover == 1, cover == 0):
        mask = unclipped & region[:, None]
        assert mask.sum() > 1000
        assert np.abs(diff[mask]).mean() > 0.05
    # two images with the same pattern id differ from their clean images by the same pattern
    for k in range(spec.n_noise_patterns):
        same = np.flatnonzero(ids == k)
        assert same.size >= 2
        i, j = same[:2]
        both = unclipped[i] & unclipped[j]
        np.testing.assert_allclose(diff[i][both], diff[j][both], atol=2.0 / 255 + 1e-9)
    # and images with different ids do not
    i, j = np.flatnonzero(ids == 0)[0], np.flatnonzero(ids == 1)[0]
    assert np.abs(diff[i] - diff[j]).mean() > 0.05


def test_noise_patterns_can_be_shared():
    spec = ShapesSpec(side=8)
    train = render(10, np.random.default_rng(0), spec)
    test = render(10, np.random.default_rng(1), spec, noise_patterns=train.noise_patterns)
    np.testing.assert_array_equal(test.noise_patterns, train.noise_patterns)
    # the factors do not depend on whether the patterns were drawn or given
    again = render(10, np.random.default_rng(1), spec)
    for key in again.factors:
        np.testing.assert_array_equal(again.factors[key], test.factors[key])
    with pytest.raises(ValueError, match="noise_patterns"):
        render(10, np.random.default_rng(1), spec, noise_patterns=np.zeros((2, 3, 8, 8)))


def test_distinct_class_means():
    k = len(SHAPES)
    spec = ShapesSpec(side=16, n_classes=k, **PLAIN)
    data = render(2 * k, np.random.default_rng(10), spec)
    images = data.images.reshape(2 * k, -1).astype(np.float64) / 255
    means = np.stack([images[data.labels == c].mean(axis=0) for c in range(k)])
    dist = np.abs(means[:, None, :] - means[None, :, :]).sum(axis=2)
    off = dist[~np.eye(k, dtype=bool)]
    assert off.min() > 1.0  # at least one pixel's worth of full contrast in every pair


def test_shapes_differ_under_any_rotation():
    """No shape at scale 1 matches any rotation of another at scale 1 or 0.75."""
    side, k = 16, len(SHAPES)
    angles = np.arange(0.0, 360.0, 5.0)
    scales = np.array([1.0, 0.75])
    rot, sc = (a.ravel() for a in np.meshgrid(angles, scales, indexing="ij"))
    zeros = np.zeros(rot.size)
    posed = [coverage(np.full(rot.size, c), zeros, zeros, sc, rot, side) for c in range(k)]
    upright = coverage(np.arange(k), np.zeros(k), np.zeros(k), np.ones(k), np.zeros(k), side)
    for a in range(k):
        for b in range(k):
            if a != b:
                gap = np.abs(posed[b] - upright[a]).sum(axis=(1, 2)).min()
                assert gap > 1.0, (SHAPES[a], SHAPES[b], gap)


def test_coverage_is_antialiased():
    cov = coverage(np.array([0]), np.array([0.3]), np.array([-0.2]), np.array([1.0]), [0.0], 16)
    assert cov.shape == (1, 16, 16) and cov.dtype == np.float32
    assert cov.min() == 0 and cov.max() == 1
    partial = (cov > 0) & (cov < 1)
    assert partial.sum() > 8  # the boundary pixels are partly covered
    np.testing.assert_allclose(cov * 16, np.rint(cov * 16), atol=1e-5)  # 4 x 4 sub-pixels


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("side", 7, ">= 8"),
        ("side", 16.0, "integer"),
        ("n_classes", 1, ">= 2"),
        ("n_classes", 20, f"<= {len(SHAPES)}, the number of shapes"),
        ("position", -0.1, "[0, 1]"),
        ("scale", 1.5, "[0, 1]"),
        ("rotation", float("nan"), "[0, 1]"),
        ("shape_colour", "1", "number"),
        ("bg_colour", True, "number"),
        ("texture", 2.0, "[0, 1]"),
        ("noise", -1.0, "[0, 1]"),
        ("n_colours", 0, ">= 1"),
        ("n_textures", 0, ">= 1"),
        ("n_noise_patterns", 2.5, "integer"),
    ],
)
def test_bad_spec_names_field(field, value, words):
    spec = ShapesSpec(**{field: value})
    with pytest.raises(ValueError, match=f"shapes\\.{field} ") as info:
        spec.check()
    assert words in str(info.value)
    with pytest.raises(ValueError, match=f"shapes\\.{field} "):
        render(4, np.random.default_rng(0), spec)


def test_bad_render_arguments():
    with pytest.raises(ValueError, match="n "):
        render(-1, np.random.default_rng(0), ShapesSpec())
    with pytest.raises(ValueError, match="rng"):
        render(4, 0, ShapesSpec())  # type: ignore[arg-type]


def test_empty_render():
    data = render(0, np.random.default_rng(0), ShapesSpec(side=8))
    assert data.images.shape == (0, 3, 8, 8) and data.labels.shape == (0,)
    assert all(v.shape[0] == 0 for v in data.factors.values())
