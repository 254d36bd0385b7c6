"""Batched SimCLR augmentations: torchvision's numbers, per-member streams, the presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from contrastlab.images.augment import (
    PRESETS,
    AugmentSpec,
    _crop_boxes,
    _crop_flip,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    augment,
    blur_kernel_size,
    gaussian_blur,
    hflip,
    resized_crop,
    rgb_to_grayscale,
    two_views,
)

REF = Path(__file__).resolve().parent / "data" / "torchvision_reference.npz"
# The ops evaluate torchvision's float32 formulas in another order (separable passes for
# the 2-D blur kernel, lerp for the bilinear weights, one blend expression), so they agree
# to a few float32 ulps (~1e-7); 1e-5 leaves a margin and still catches any formula slip,
# which shows at 1e-3 or more.
ATOL = 1e-5


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(REF) as data:
        return {k: data[k] for k in data.files}


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _close(ours: torch.Tensor, theirs: np.ndarray) -> None:
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=ATOL)


def _gens(seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(1000 + s) for s in seeds]


def _batch(K: int, B: int, C: int = 3, H: int = 12, W: int = 12) -> torch.Tensor:
    return torch.rand(K, B, C, H, W, generator=torch.Generator().manual_seed(7))


# ------------------------------------------------------------------ against torchvision


def test_reference_file_records_torchvision(ref):
    assert str(ref["torchvision_version"]).startswith("0.")
    assert REF.stat().st_size < 200_000


def test_resized_crop_matches_torchvision(ref):
    images, odd = _t(ref["images"]), _t(ref["odd"])
    for m, (i, on_odd, box, size) in enumerate(
        zip(ref["crop_idx"], ref["crop_odd"], ref["crop_box"], ref["crop_size"], strict=True)
    ):
        img = odd if on_odd else images[i]
        top, left, h, w = (torch.tensor([int(v)]) for v in box)
        out = resized_crop(img[None], top, left, h, w, (int(size[0]), int(size[1])))
        _close(out[0], ref[f"crop_out_{m}"])
    # the whole batch at once, one box per image
    boxes = _t(ref["crop_box"][:6])
    sizes = ref["crop_size"][:6]
    same = [m for m in range(6) if tuple(sizes[m]) == (16, 16)]
    batch = images[_t(ref["crop_idx"][same])]
    out = resized_crop(batch, *boxes[same].T, 16)
    for row, m in enumerate(same):
        _close(out[row], ref[f"crop_out_{m}"])


def test_hflip_and_grey_match_torchvision(ref):
    images = _t(ref["images"])
    flags = torch.tensor([True, False, True, False])
    flipped = hflip(images, flags)
    _close(flipped[flags], ref["hflip_out"][flags.numpy()])
    assert torch.equal(flipped[~flags], images[~flags])
    grey = rgb_to_grayscale(images, flags)
    _close(grey[flags], ref["grey_out"][flags.numpy()])
    assert torch.equal(grey[~flags], images[~flags])


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("brightness", adjust_brightness),
        ("contrast", adjust_contrast),
        ("saturation", adjust_saturation),
        ("hue", adjust_hue),
    ],
)
def test_colour_ops_match_torchvision(ref, name, op):
    images = _t(ref["images"])
    out = op(images[_t(ref[f"{name}_idx"])], _t(ref[f"{name}_factor"]))
    _close(out, ref[f"{name}_out"])
    odd = op(_t(ref["odd"])[None], _t(ref[f"{name}_odd_factor"]).reshape(1))
    _close(odd[0], ref[f"{name}_odd_out"])


def test_identity_factors_are_exact(ref):
    images = _t(ref["images"])
    ones = torch.ones(len(images))
    for op in (adjust_brightness, adjust_contrast, adjust_saturation):
        assert torch.equal(op(images, ones), images)
    assert torch.equal(gaussian_blur(images, torch.zeros(4), 5), images)


def test_gaussian_blur_matches_torchvision(ref):
    images = _t(ref["images"])
    for m, (i, sigma, k) in enumerate(
        zip(ref["blur_idx"], ref["blur_sigma"], ref["blur_kernel"], strict=True)
    ):
        out = gaussian_blur(images[int(i)][None], torch.tensor([float(sigma)]), int(k))
        _close(out[0], ref["blur_out"][m])
    # one kernel size, a sigma per image
    same = [m for m, k in enumerate(ref["blur_kernel"]) if k == 3]
    out = gaussian_blur(images[_t(ref["blur_idx"][same])], _t(ref["blur_sigma"][same]), 3)
    _close(out, ref["blur_out"][same])
    sigma = torch.tensor([float(ref["blur_odd_sigma"])])
    odd = gaussian_blur(_t(ref["odd"])[None], sigma, int(ref["blur_odd_kernel"]))
    _close(odd[0], ref["blur_odd_out"])


def test_grey_images_skip_colour_ops():
    x = torch.rand(3, 1, 5, 5)
    f = torch.tensor([0.3, 1.0, 1.7])
    assert torch.equal(adjust_saturation(x, f), x)
    assert torch.equal(adjust_hue(x, torch.tensor([0.2, 0.0, -0.4])), x)
    assert torch.equal(rgb_to_grayscale(x, torch.tensor([True, True, False])), x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    expected = (f.reshape(3, 1, 1, 1) * x + (1 - f.reshape(3, 1, 1, 1)) * mean).clamp(0, 1)
    assert torch.allclose(adjust_contrast(x, f), expected, rtol=0, atol=1e-6)


def test_blur_kernel_size():
    assert [blur_kernel_size(s) for s in (8, 16, 32, 64, 96, 224)] == [3, 3, 3, 7, 9, 23]


# ------------------------------------------------------------------------ the pipeline


@pytest.mark.parametrize("name", ["weak", "strong"])
def test_member_alone_equals_member_in_batch(name):
    spec = dataclasses.replace(PRESETS[name], blur_prob=0.5, noise=0.05)
    x = _batch(3, 16)
    seeds = [0, 1, 2]
    v1, v2 = two_views(x, spec, _gens(seeds))
    for k, s in enumerate(seeds):
        a1, a2 = two_views(x[k : k + 1], spec, _gens([s]))
        assert torch.equal(a1[0], v1[k])
        assert torch.equal(a2[0], v2[k])
    assert not torch.equal(v1, v2)
    assert not torch.equal(v1[0], v1[1])


def test_shapes_and_range_rgb_and_grey():
    spec = dataclasses.replace(PRESETS["strong"], blur_prob=0.5, noise=0.1)
    for C, H, W in ((3, 12, 12), (1, 12, 12), (3, 9, 13)):
        x = _batch(2, 8, C, H, W)
        out = augment(x, spec, _gens([0, 1]))
        assert out.shape == x.shape and out.dtype == x.dtype
        assert out.min() >= 0 and out.max() <= 1
        assert torch.isfinite(out).all()


def test_grey_prob_one_makes_every_image_grey():
    spec = dataclasses.replace(PRESETS["strong"], grey_prob=1.0)
    out = augment(_batch(1, 8), spec, _gens([3]))
    assert torch.equal(out[0, :, 0], out[0, :, 1]) and torch.equal(out[0, :, 1], out[0, :, 2])


def test_none_is_identity_and_draws_nothing():
    x = _batch(2, 4)
    gens = _gens([0, 1])
    states = [g.get_state() for g in gens]
    v1, v2 = two_views(x, PRESETS["none"], gens)
    assert torch.equal(v1, x) and torch.equal(v2, x)
    assert all(torch.equal(g.get_state(), s) for g, s in zip(gens, states, strict=True))


def test_flip_only_draws_one_number_per_image_and_flips():
    spec = AugmentSpec(crop_scale=1.0, flip_prob=0.5, jitter_prob=0.0, grey_prob=0.0)
    x = _batch(1, 64)
    g = _gens([5])
    out = augment(x, spec, g)
    replay = _gens([5])[0]
    flags = torch.rand(64, 1, generator=replay)[:, 0] < 0.5
    assert 0 < int(flags.sum()) < 64
    assert torch.equal(out[0], hflip(x[0], flags))
    assert torch.equal(g[0].get_state(), replay.get_state())


def test_crop_boxes_are_valid_and_cover_the_scale_range():
    # crop without flip or jitter: the view is a resized crop of an inside box, so a
    # constant image stays constant and a ramp stays monotone
    spec = AugmentSpec(crop_scale=0.08, flip_prob=0.0, jitter_prob=0.0, grey_prob=0.0)
    ramp = torch.arange(16.0).div(15).expand(1, 256, 3, 16, 16).contiguous()
    out = augment(ramp, spec, _gens([2]))
    assert (out[..., 1:] >= out[..., :-1] - 1e-6).all()
    span = out[..., -1] - out[..., 0]  # crop width / 16 roughly
    assert span.min() < 0.4 and span.max() > 0.9


def test_flip_folded_into_the_crop_equals_crop_then_flip():
    x = _batch(1, 6, H=10, W=14)[0]
    top, left = torch.tensor([0, 1, 2, 0, 3, 1]), torch.tensor([0, 2, 5, 1, 0, 3])
    h, w = torch.tensor([10, 5, 8, 3, 7, 9]), torch.tensor([14, 6, 9, 13, 4, 11])
    flags = torch.tensor([True, False, True, True, False, True])
    folded = _crop_flip(x, top, left, h, w, (10, 14), flags)
    assert torch.equal(folded, hflip(resized_crop(x, top, left, h, w, (10, 14)), flags))


def test_crop_boxes_follow_random_resized_crop():
    n, H, W = 4000, 16, 16
    g = torch.Generator().manual_seed(0)
    area_u, ratio_u, pos_u = (torch.rand(n, k, generator=g) for k in (10, 10, 2))
    top, left, h, w = _crop_boxes(area_u, ratio_u, pos_u, 0.08, H, W)
    assert ((h >= 1) & (w >= 1) & (top >= 0) & (left >= 0)).all()
    assert ((top + h <= H) & (left + w <= W)).all()
    frac = h * w / (H * W)
    assert frac.min() >= 0.08 * 0.5 and frac.max() <= 1.0  # rounding of small boxes
    assert ((w / h >= 0.5) & (w / h <= 2.0)).all()
    assert 0.45 < float(frac.mean()) < 0.6  # E[scale] = 0.54 before rejections
    # every attempt too wide (scale 1, ratio 4/3): torchvision's fallback, the whole image
    wide = torch.full((3, 10), 1.0 - 1e-7)
    top, left, h, w = _crop_boxes(torch.ones(3, 10), wide, torch.rand(3, 2), 1e-3, H, W)
    assert top.eq(0).all() and left.eq(0).all() and h.eq(16).all() and w.eq(16).all()
    # the first valid attempt is used: attempt 0 too wide, attempt 1 the whole square
    area_u = torch.ones(1, 10)
    ratio_u = torch.tensor([[1.0] + [0.5] * 9])
    _, _, h, w = _crop_boxes(area_u, ratio_u, torch.zeros(1, 2), 0.08, H, W)
    assert (int(h), int(w)) == (16, 16)


def test_strong_draws_one_block_of_uniforms_per_view_and_leaves_input():
    x = _batch(2, 16)
    before = x.clone()
    gens = _gens([0, 1])
    two_views(x, PRESETS["strong"], gens)
    assert torch.equal(x, before)
    n = 10 + 10 + 2 + 1 + (1 + 4) + 1  # crop, flip, jitter flag + 4 factors, grey
    for s, g in zip([0, 1], gens, strict=True):
        replay = _gens([s])[0]
        torch.rand(16, n, generator=replay)
        torch.rand(16, n, generator=replay)
        assert torch.equal(g.get_state(), replay.get_state())


def test_fused_specs_equal_each_run_alone():
    specs = [PRESETS["strong"], PRESETS["strong"], PRESETS["weak"], PRESETS["none"]]
    specs.append(dataclasses.replace(PRESETS["weak"], noise=0.1))
    x = _batch(len(specs), 8)
    seeds = list(range(len(specs)))
    v1, v2 = two_views(x, specs, _gens(seeds))
    for k, (s, spec) in enumerate(zip(seeds, specs, strict=True)):
        a1, a2 = two_views(x[k : k + 1], spec, _gens([s]))
        assert torch.equal(a1[0], v1[k]) and torch.equal(a2[0], v2[k])
    assert torch.equal(v1[3], x[3])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hue", 0.7, r"augmentation\.hue \(0\.7\) must be in \[0, 0\.5\]"),
        ("crop_scale", 0.0, r"augmentation\.crop_scale \(0\.0\) must be in \(0, 1\]"),
        ("flip_prob", 1.5, r"augmentation\.flip_prob \(1\.5\) must be in \[0, 1\]"),
        ("brightness", -0.1, r"augmentation\.brightness \(-0\.1\) must be >= 0"),
        ("noise", float("nan"), r"augmentation\.noise \(nan\) must be finite"),
        ("grey_prob", "high", r"augmentation\.grey_prob \('high'\) must be a number"),
    ],
)
def test_bad_spec_names_the_key(field, value, message):
    spec = dataclasses.replace(AugmentSpec(), **{field: value})
    with pytest.raises(ValueError, match=message):
        spec.check()
    with pytest.raises(ValueError, match=message.replace("augmentation", "images.aug")):
        spec.check("images.aug")
    with pytest.raises(ValueError, match=message):
        augment(_batch(1, 2), spec, _gens([0]))


def test_presets_are_valid_and_documented_values():
    for spec in PRESETS.values():
        spec.check()
    assert PRESETS["none"].is_identity
    strong = PRESETS["strong"]
    assert (strong.crop_scale, strong.jitter_prob, strong.grey_prob, strong.blur_prob) == (
        0.08,
        0.8,
        0.2,
        0.0,
    )
    weak = PRESETS["weak"]
    assert (weak.crop_scale, weak.hue, weak.grey_prob) == (0.5, 0.05, 0.0)


def test_bad_shapes():
    with pytest.raises(ValueError, match="one generator per member"):
        augment(_batch(2, 2), PRESETS["strong"], _gens([0]))
    with pytest.raises(ValueError, match="one augmentation per member"):
        augment(_batch(2, 2), [PRESETS["strong"]], _gens([0, 1]))
    with pytest.raises(ValueError, match="C in"):
        augment(torch.rand(1, 2, 2, 4, 4), PRESETS["strong"], _gens([0]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    spec = dataclasses.replace(PRESETS["strong"], blur_prob=0.5, noise=0.05)
    x = _batch(3, 32)
    cpu = augment(x, spec, _gens([0, 1, 2]))
    gpu = augment(x.cuda(), spec, _gens([0, 1, 2]))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5)
