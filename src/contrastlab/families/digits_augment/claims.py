"""The claims of the Wen & Li digits substitute, declared before the run.

Wen & Li 2021 show on CIFAR-10 (Sec. 1 and its figures of the features a WideResNet learns
under different augmentations) that without proper augmentation contrastive learning
learns dense, less useful features, and that stronger augmentations give the better
representations. Our digits substitute turns that into two claims [design]:

* **ordering** -- the final held-out linear-probe accuracy orders the augmentation
  strengths none < weak < strong: Page's trend test over the strengths in the sweep
  (in the order none, weak, strong), every seed (x any other sweep axis) a block; the
  effect is strong - none (the last level minus the first);
* **gain** -- with strong augmentation, training raises the probe accuracy over the
  randomly initialised encoder: the last evaluation minus step 0, per seed (paired t),
  other sweep axes as blocks. Without it, the ordering could come from training that
  only hurts the weaker settings;
* **dense** (``shapes`` only) -- without augmentation the network learns the dense
  feature: the final held-out probe accuracy of the per-image fixed noise pattern (the
  dense feature xi of the paper's data model, identical in both views unless augmentation
  changes it) is higher with no augmentation than with strong augmentation, per seed
  (paired t), other sweep axes as blocks. Smallest effect that counts: 0.05 of accuracy
  (chance is 1/8 with the default 8 patterns).

The seed is the unit of replication: every strength of a seed shares its images and
initial weights. Smallest effect that counts: 0.01 of accuracy (10 of the 1000 held-out
shapes, 4 of the 360 held-out digits). A claim whose strengths are not in the aggregate
is left out.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, named, trend
from contrastlab.families.digits_augment.config import STRENGTHS

PAPER = "Wen & Li 2021"
SOURCE = (
    "Sec. 1 and the CIFAR-10 figures of learned features under no / weak / strong "
    "augmentation (WideResNet, t-SNE); on shapes or the digits [design]"
)
MIN_EFFECT = 0.01  # probe accuracy
DENSE_MIN_EFFECT = 0.05  # probe accuracy of the noise pattern
DYNAMICS = "digits_augment_dynamics"

# name: the declared claim (figure: the family's figure that shows its quantity).
CLAIMS: dict[str, Claim] = named(
    {
        "ordering": Claim(
            PAPER,
            "linear-probe accuracy orders the augmentation strengths: strong > weak > none",
            SOURCE,
            "design",
            "final held-out probe accuracy, rising over strength none < weak < strong "
            "(effect: strong - none)",
            "page",
            0.05,
            MIN_EFFECT,
            figure=DYNAMICS,
        ),
        "gain": Claim(
            PAPER,
            "with strong augmentation, contrastive training raises the probe accuracy over "
            "the random encoder",
            SOURCE,
            "design",
            "held-out probe accuracy, strong augmentation: last step - step 0",
            "paired_t",
            0.05,
            MIN_EFFECT,
            figure=DYNAMICS,
        ),
        "dense": Claim(
            PAPER,
            "without augmentation the network learns the dense feature: the fixed noise "
            "pattern is more readable from the representation than with strong augmentation",
            "Sec. 1 and Theorem 1 (feature decoupling: without augmentation the dense features "
            "are learned); the dense feature is our shapes' per-image noise pattern",
            "design",
            "final held-out probe accuracy of the noise-pattern id: none - strong",
            "paired_t",
            0.05,
            DENSE_MIN_EFFECT,
            figure="digits_augment_factors",
        ),
    }
)
ORDERING, GAIN, DENSE = CLAIMS["ordering"], CLAIMS["gain"], CLAIMS["dense"]


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """The declared claims (:data:`CLAIMS`: ordering, gain, dense) that the sweep's
    strengths (and source) allow.

    Args:
        agg: the aggregated results: the task's variables with the sweep axes in front;
            without a ``strength`` axis (one strength only) no claim is decidable.

    Returns:
        The table of :func:`contrastlab.claims.claims_frame`.
    """
    if "strength" not in agg.dims:
        return claims_frame([])
    probe = agg["probe_acc"]
    present = [s for s in STRENGTHS if s in set(agg["strength"].values.tolist())]
    rows = []
    if len(present) >= 2:
        final = probe.isel(step=-1).sel(strength=present)
        rows.append(trend(ORDERING, final, "strength", increasing=True))
    if "strong" in present:
        strong = probe.sel(strength="strong")
        rows.append(contrast(GAIN, strong.isel(step=-1) - strong.isel(step=0)))
    if {"none", "strong"} <= set(present) and "factor_probe" in agg:
        noise = agg["factor_probe"].sel(factor="noise_pattern")
        rows.append(contrast(DENSE, noise.sel(strength="none") - noise.sel(strength="strong")))
    return claims_frame(rows)
