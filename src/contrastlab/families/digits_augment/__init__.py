"""Wen & Li 2021's CIFAR-10 experiments, substituted by the scikit-learn digits.

Wen & Li 2021 (arXiv 2105.15134) argue that contrastive learning needs strong
augmentations to learn the useful (sparse) features rather than dense ones, and show
the features a network learns on CIFAR-10 under different augmentations. This family
is our digits substitute [design]: the temperature family's encoder (a batched MLP
with an L2-normalised embedding) and InfoNCE with in-batch negatives, trained with no
(identical views), weak or strong augmentation; per strength, a linear probe over
training and a 2-D embedding picture; the claim that probe accuracy orders
strong > weak > none. Reported under the same paper as the synthetic sparse/dense
experiment (``sparse_dense``).

Modules (imported on demand; this plug stays light: no torch, matplotlib or
scikit-learn at import):
    - :mod:`.config` -- :class:`DigitsAugmentConfig`, every key, default and range,
      and what each strength means.
    - :mod:`.data` -- :func:`synthesize`: the per-seed digits split.
    - :mod:`.task` -- :class:`DigitsAugmentTask` for :class:`contrastlab.engine.Engine`
      (on :class:`contrastlab.families.image_task.ImageContrastTask`).
    - :mod:`.claims`, :mod:`.plots` -- claims table and figures.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contrastlab.families.digits_augment.config import DigitsAugmentConfig
from contrastlab.registry import Family, Figure

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    import xarray as xr

    from contrastlab.families.digits_augment.task import DigitsAugmentTask

_PLOTS = "contrastlab.families.digits_augment.plots"
_D = DigitsAugmentConfig()


def _views(level: str) -> str:
    v = _D.level(level)
    erase = (
        f", a {v['erase_size']}x{v['erase_size']} patch erased with probability {v['erase_prob']:g}"
        if v["erase_prob"] > 0
        else ", no erasing"
    )
    return f"shift up to {v['shift']} px, pixel noise std {v['noise']:g}{erase}"


_SETUP = (
    "Setting (the defaults) [design]: scikit-learn's 8x8 digits, a stratified "
    f"{1 - _D.test_fraction:.0%}/{_D.test_fraction:.0%} split per seed; inputs centred on the "
    f"training split's mean image; an MLP encoder (64-{_D.width}-{_D.embed_dim}, ReLU) with an "
    f"L2-normalised {_D.embed_dim}-d output; InfoNCE with in-batch negatives (tau = "
    f"{_D.temperature:g}, batch {_D.batch_size}, symmetric over the views); Adam, learning rate "
    f"{_D.lr:g}, {_D.steps} steps. Views: none = two identical copies; weak = "
    f"{_views('weak')}; strong = {_views('strong')} (zero padding, views clipped to [0, 1]). "
    "Mean over seeds, band +-1 sd."
)

FIGURES = (
    Figure(
        "digits_augment_dynamics",
        f"{_PLOTS}:plot_dynamics",
        "probe accuracy vs step per strength",
        "Over training, per augmentation strength: the held-out accuracy of a "
        "logistic-regression probe (standardised features, C = 1 [design]) fit on the frozen "
        "embeddings of the training split; uniformity -L_unif (t = 2) of the held-out "
        "embedding; alignment E\\|f(x) - f(x+)\\|² of two held-out views (0 for identical "
        "views). Step 0 is the random encoder. The paper (on CIFAR-10): without a proper "
        "augmentation the network learns dense features, so we expect the probe to order "
        "strong > weak > none. On the digits a probe on raw pixels is already ~96% "
        "accurate. " + _SETUP,
    ),
    Figure(
        "digits_augment_embedding",
        f"{_PLOTS}:plot_embedding",
        "embedding per strength",
        "The final held-out embedding of the first seed on its first two principal "
        "components, one panel per augmentation strength, coloured by digit [design: PCA "
        "instead of the paper's t-SNE]; the panel title gives that seed's final probe "
        "accuracy. Classes that form separate groups are linearly readable. " + _SETUP,
    ),
    Figure(
        "digits_augment_factors",
        f"{_PLOTS}:plot_factors",
        "nuisance factors per strength",
        "On the procedural shapes only: the final held-out accuracy of a logistic-regression "
        "probe of each nuisance factor read from the representation, per augmentation "
        "strength (mean over seeds, bar +-1 sd; grey: the factor's chance level, its "
        "majority share). noise_pattern is the fixed per-image noise, Wen & Li's dense "
        "feature: the paper expects it more readable without augmentation. " + _SETUP,
        applies=lambda points: any(p["data"].get("source") == "shapes" for p in points),
    ),
)


class DigitsAugmentFamily(Family):
    """The plug of the digits_augment family (Wen & Li 2021's CIFAR-10 figures on digits)."""

    name = "digits_augment"
    title = "Wen & Li 2021"
    description = (
        "**Wen & Li 2021** (`arXiv 2105.15134 <https://arxiv.org/abs/2105.15134>`_), *Toward "
        "Understanding the Feature Learning Process of Self-supervised Contrastive Learning*: "
        "the digits substitute of the paper's CIFAR-10 experiments (features a WideResNet "
        "learns under different augmentations), our design throughout [design]. Scikit-learn's "
        "8x8 digits, the same MLP encoder and InfoNCE with in-batch negatives as the Wang & Liu "
        "digits experiment, trained with no augmentation (two identical views), weak or strong "
        "augmentation (random shift, erasing and pixel noise; each level's parameters are "
        "config keys). Per strength: a logistic-regression probe on the held-out digits over "
        "training, uniformity and alignment, and a PCA picture of the held-out embedding. "
        "Claim: probe accuracy orders strong > weak > none (Page's trend test, seeds as "
        "blocks), and strong augmentation improves on the random encoder."
    )
    config_class = DigitsAugmentConfig
    figures = FIGURES
    tiny = {
        "data": {"source": "shapes", "side": 8, "n_train": 48, "n_test": 24, "n_classes": 4},
        "model": {"encoder": "convnet", "channels": [4, 8], "proj_hidden": 8, "embed_dim": 8},
        "train": {"steps": 6, "eval_every": 3, "batch_size": 16, "checkpoint_every": 1},
    }

    fusable = ("augmentation.strength",)

    def synthesize(self, cfg: DigitsAugmentConfig, seeds: list[int]) -> xr.Dataset:
        from contrastlab.families.digits_augment.data import synthesize

        return synthesize(cfg, seeds)

    def task(
        self,
        cfg: DigitsAugmentConfig,
        data: xr.Dataset,
        seeds: list[int],
        device: torch.device,
        members: list[DigitsAugmentConfig] | None = None,
    ) -> DigitsAugmentTask:
        from contrastlab.families.digits_augment.task import DigitsAugmentTask

        return DigitsAugmentTask(cfg, data, seeds, device, members)

    def claims(self, agg: xr.Dataset) -> pd.DataFrame:
        from contrastlab.families.digits_augment.claims import claims

        return claims(agg)


FAMILY = DigitsAugmentFamily()

__all__ = ["FAMILY", "DigitsAugmentConfig", "DigitsAugmentFamily"]
