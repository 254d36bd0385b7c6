"""Write ``data/torchvision_reference.npz``: torchvision's outputs for the batched image ops.

The project's environment cannot import torchvision (it pins a CPU torch that torchvision
wheels clash with), so ``test_augment.py`` compares :mod:`contrastlab.images.augment`
against outputs saved by this script, run once in a separate environment that has
torchvision:

    python -m venv /tmp/tvref
    /tmp/tvref/bin/pip install torch torchvision numpy
    /tmp/tvref/bin/python tests/images/make_torchvision_reference.py

(written with torch 2.14.1 and torchvision 0.29.1; the versions are recorded in the file
as ``torch_version`` and ``torchvision_version``). The inputs come from a fixed numpy seed:
four 3x16x16 images (two uniform, one with grey pixels, one with values in {0, 0.5, 1}
for the ties of the HSV conversion) and one 3x9x13 image.

Saved arrays (float32 unless noted), ``idx`` always indexing ``images``:

- ``images`` (4, 3, 16, 16), ``odd`` (3, 9, 13): the inputs;
- ``crop_box`` (M, 4) int ``top, left, height, width``, ``crop_size`` (M, 2) int,
  ``crop_idx`` (M,), ``crop_odd`` (M,) bool (the box is on ``odd``) and ``crop_out_{m}``:
  ``resized_crop(img, *box, size, antialias=False)``;
- ``hflip_out`` (4, 3, 16, 16): ``horizontal_flip(images)``;
- for op in brightness, contrast, saturation, hue: ``{op}_factor`` (M,), ``{op}_idx`` (M,),
  ``{op}_out`` (M, 3, 16, 16): ``adjust_{op}(images[idx[m]], factor[m])``, and
  ``{op}_odd_factor`` (scalar), ``{op}_odd_out`` (3, 9, 13) for the odd image;
- ``grey_out`` (4, 3, 16, 16): ``rgb_to_grayscale(images, num_output_channels=3)``;
- ``blur_sigma`` (M,), ``blur_kernel`` (M,) int, ``blur_idx`` (M,), ``blur_out``
  (M, 3, 16, 16): ``gaussian_blur(images[idx[m]], [k, k], [sigma, sigma])``, and
  ``blur_odd_sigma``, ``blur_odd_kernel``, ``blur_odd_out`` (3, 9, 13).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.transforms.v2 import functional as TF

OUT = Path(__file__).resolve().parent / "data" / "torchvision_reference.npz"


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240611)
    images = rng.random((4, 3, 16, 16), dtype=np.float32)
    images[2, :, 4:8, :] = images[2, 0:1, 4:8, :]  # grey rows: r = g = b
    images[3] = rng.integers(0, 3, size=(3, 16, 16)).astype(np.float32) / 2.0
    odd = rng.random((3, 9, 13), dtype=np.float32)
    return images, odd


def main() -> None:
    images, odd = _inputs()
    imgs = torch.from_numpy(images)
    odd_t = torch.from_numpy(odd)
    data: dict[str, np.ndarray] = {
        "images": images,
        "odd": odd,
        "torch_version": np.array(torch.__version__),
        "torchvision_version": np.array(torchvision.__version__),
    }

    # (idx, on odd, top, left, height, width, out_h, out_w)
    crops = [
        (0, False, 0, 0, 16, 16, 16, 16),  # whole image, same size (torchvision: no resize)
        (1, False, 3, 2, 5, 7, 16, 16),  # upscale, non-square box
        (2, False, 1, 4, 15, 12, 16, 16),  # mild upscale
        (3, False, 0, 0, 16, 16, 7, 5),  # downscale to a non-square size
        (0, False, 5, 6, 11, 10, 4, 6),  # downscale of a box
        (1, False, 9, 0, 7, 16, 16, 16),  # bottom band
        (0, True, 2, 3, 5, 6, 9, 13),  # odd image, upscale to its own size
        (0, True, 0, 0, 9, 13, 9, 13),  # odd image, whole
        (0, True, 1, 2, 8, 9, 16, 16),  # odd image to a square
    ]
    data["crop_idx"] = np.array([c[0] for c in crops], dtype=np.int64)
    data["crop_odd"] = np.array([c[1] for c in crops], dtype=bool)
    data["crop_box"] = np.array([c[2:6] for c in crops], dtype=np.int64)
    data["crop_size"] = np.array([c[6:8] for c in crops], dtype=np.int64)
    for m, (i, on_odd, top, left, h, w, oh, ow) in enumerate(crops):
        img = odd_t if on_odd else imgs[i]
        out = TF.resized_crop(img, top, left, h, w, [oh, ow], antialias=False)
        data[f"crop_out_{m}"] = out.numpy()

    data["hflip_out"] = TF.horizontal_flip(imgs).numpy()

    colour = {
        "brightness": (TF.adjust_brightness, [0.0, 0.6, 1.0, 1.4], 1.3),
        "contrast": (TF.adjust_contrast, [0.0, 0.6, 1.0, 1.4], 0.7),
        "saturation": (TF.adjust_saturation, [0.0, 0.6, 1.0, 1.4], 1.35),
        "hue": (TF.adjust_hue, [-0.5, -0.23, 0.0, 0.1, 0.37, 0.5], -0.08),
    }
    for name, (fn, factors, odd_factor) in colour.items():
        idx = np.arange(len(factors)) % len(images)
        data[f"{name}_factor"] = np.array(factors, dtype=np.float32)
        data[f"{name}_idx"] = idx
        data[f"{name}_out"] = np.stack(
            [fn(imgs[i], float(np.float32(f))).numpy() for i, f in zip(idx, factors, strict=True)]
        )
        data[f"{name}_odd_factor"] = np.float32(odd_factor)
        data[f"{name}_odd_out"] = fn(odd_t, float(np.float32(odd_factor))).numpy()

    data["grey_out"] = TF.rgb_to_grayscale(imgs, num_output_channels=3).numpy()

    blurs = [(0, 0.1, 3), (1, 0.7, 3), (2, 2.0, 5), (3, 1.3, 7)]
    data["blur_idx"] = np.array([b[0] for b in blurs], dtype=np.int64)
    data["blur_sigma"] = np.array([b[1] for b in blurs], dtype=np.float32)
    data["blur_kernel"] = np.array([b[2] for b in blurs], dtype=np.int64)
    data["blur_out"] = np.stack(
        [TF.gaussian_blur(imgs[i], [k, k], [float(np.float32(s))] * 2).numpy() for i, s, k in blurs]
    )
    data["blur_odd_sigma"] = np.float32(0.9)
    data["blur_odd_kernel"] = np.int64(5)
    data["blur_odd_out"] = TF.gaussian_blur(odd_t, [5, 5], [float(np.float32(0.9))] * 2).numpy()

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
