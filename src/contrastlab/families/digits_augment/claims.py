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
  only hurts the weaker settings.

The seed is the unit of replication: every strength of a seed shares its digits split
and initial weights. Smallest effect that counts: 0.01 of accuracy (4 of the 360
held-out digits). A claim whose strengths are not in the aggregate is left out.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, trend
from contrastlab.families.digits_augment.config import STRENGTHS

PAPER = "Wen & Li 2021"
SOURCE = (
    "Sec. 1 and the CIFAR-10 figures of learned features under no / weak / strong "
    "augmentation (WideResNet, t-SNE); digits substitute"
)
MIN_EFFECT = 0.01  # probe accuracy, 4 of 360 held-out digits

ORDERING = Claim(
    PAPER,
    "linear-probe accuracy orders the augmentation strengths: strong > weak > none",
    SOURCE,
    "design",
    "final held-out probe accuracy, rising over strength none < weak < strong "
    "(effect: strong - none)",
    "page",
    0.05,
    MIN_EFFECT,
)
GAIN = Claim(
    PAPER,
    "with strong augmentation, contrastive training raises the probe accuracy over the "
    "random encoder",
    SOURCE,
    "design",
    "held-out probe accuracy, strong augmentation: last step - step 0",
    "paired_t",
    0.05,
    MIN_EFFECT,
)


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """The declared claims (:data:`ORDERING`, :data:`GAIN`) that the sweep's strengths allow.

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
    return claims_frame(rows)
