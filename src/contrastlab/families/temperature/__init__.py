"""Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss (arXiv 2012.09740).

The temperature tau of the contrastive loss controls how hard it presses on
the nearest negatives (the relative penalty r_i, analytic: Fig. 3), and so the
trade-off between uniformity and tolerance to semantically similar samples.
Digits substitute for the paper's image data sets: a batched MLP encoder on
the scikit-learn digits, in-batch negatives, a tau sweep of the contrastive
and the hard contrastive loss, plus the Simple and HardSimple losses.

Modules (imported on demand; this plug stays light: no torch, matplotlib or
scikit-learn at import):
    - :mod:`.config` -- :class:`TemperatureConfig`, every key, default and range.
    - :mod:`.analytic` -- r_i, its entropy, the gradient limits (no training).
    - :mod:`.data` -- :func:`synthesize`: per-seed digits split + analytic part.
    - :mod:`.metrics` -- the penalty entropy r_i on embeddings.
    - :mod:`.task` -- :class:`TemperatureTask` for :class:`contrastlab.engine.Engine`
      (on :class:`contrastlab.families.image_task.ImageContrastTask`: the shared batched MLP of
      :mod:`contrastlab.encoders.mlp`, batches, probe and PCA).
    - :mod:`.axes` -- the aggregate in a standard (kind, temperature, seed) layout.
    - :mod:`.claims`, :mod:`.plots` -- claims table and figures.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contrastlab.families.temperature.config import TAU_FREE, TemperatureConfig
from contrastlab.registry import Family, Figure, Table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    import xarray as xr

    from contrastlab.families.temperature.task import TemperatureTask

_PLOTS = "contrastlab.families.temperature.plots"
_DEFAULT = TemperatureConfig()


def _loss(point: dict) -> tuple[str, float]:
    """(loss.kind, loss.temperature) of a sweep point's config."""
    loss = point.get("loss") or {}
    return loss.get("kind", _DEFAULT.kind), loss.get("temperature", _DEFAULT.temperature)


def two_temperatures(points: list[dict]) -> bool:
    """A loss that has a temperature is trained at two or more: the tau figures draw a curve
    against tau (with one temperature they would show single points)."""
    taus = {tau for kind, tau in map(_loss, points) if kind not in TAU_FREE}
    return len(taus) >= 2


def several_embeddings(points: list[dict]) -> bool:
    """The embedding picture has two panels to compare: two temperatures of a loss that has
    one (its smallest and largest), or two losses (e.g. Simple against InfoNCE)."""
    return two_temperatures(points) or len({kind for kind, _ in map(_loss, points)}) >= 2


_SETUP = (
    "Setting (the defaults) [design]: scikit-learn's 8x8 digits, a stratified 80/20 split per "
    "seed; two views per image by a random shift of up to 1 pixel with zero padding and "
    "Gaussian pixel noise (std 0.05); inputs centred on the training split's mean image; an "
    "MLP encoder (64-256-128, ReLU) with an L2-normalised 128-d output; in-batch negatives "
    "(batch 128, symmetric over the views); Adam, learning rate 0.005, 400 steps. Held-out "
    "split; mean over seeds, band +-1 sd."
)

FIGURES = (
    Figure(
        "temperature_penalty",
        f"{_PLOTS}:plot_penalty",
        "relative penalty r_i (Fig. 3)",
        "Fig. 3 of Wang & Liu 2021, analytic (no training): the relative penalty "
        "r_i(s) = exp(s/tau) / sum_k exp(s_k/tau) that the contrastive loss puts on a "
        "negative of similarity s, for negatives s_k ~ U[-1, 1] (4096 per seed [design]), "
        "on a linear and a log scale; right: its entropy and its share on the hardest "
        "negatives (s > 0.9) against tau. Small tau concentrates the penalty on the "
        "hardest negatives; large tau spreads it evenly, as the simple loss does.",
    ),
    Figure(
        "temperature_uniformity_tolerance",
        f"{_PLOTS}:plot_uniformity_tolerance",
        "uniformity and tolerance vs tau",
        "The uniformity-tolerance dilemma: uniformity -L_unif (t = 2, larger = more uniform) "
        "and tolerance (mean cosine of held-out same-class pairs) of the final embedding, "
        "against tau, one line per loss; Simple and HardSimple (no tau) dashed. The paper: "
        "uniformity falls and tolerance rises with tau, the hard loss keeps uniformity "
        "nearly flat, the simple loss is the least uniform. " + _SETUP,
        applies=two_temperatures,
    ),
    Figure(
        "temperature_probe",
        f"{_PLOTS}:plot_probe",
        "linear probe vs tau",
        "Accuracy on the held-out digits of a logistic-regression probe (standardised "
        "features, C = 1 [design]) fit on the frozen embeddings of the training split, "
        "against tau. The paper finds a reverse U (best around tau = 0.2-0.5). "
        "On the digits a probe on raw pixels is already ~96% accurate, so differences are "
        "small. " + _SETUP,
        applies=two_temperatures,
    ),
    Figure(
        "temperature_separation",
        f"{_PLOTS}:plot_separation",
        "local separation vs tau",
        "Local separation on held-out pairs of views: each anchor's positive similarity, "
        "the mean of its 10 largest negative similarities (negatives from the other view "
        "[design]) and their gap, against tau. The paper: as tau grows the positive "
        "similarity approaches 1 and the gap narrows. " + _SETUP,
        applies=two_temperatures,
    ),
    Figure(
        "temperature_pca",
        f"{_PLOTS}:plot_pca",
        "embedding picture",
        "The final held-out embedding of the first seed projected on its first two "
        "principal components [design: PCA instead of the paper's similarity "
        "histograms], at the smallest and the largest tau of each loss, coloured by digit: "
        "small tau spreads the digits over the sphere, large tau gathers each class. " + _SETUP,
        applies=several_embeddings,
    ),
)


class TemperatureFamily(Family):
    """The plug of the temperature family (Wang & Liu 2021)."""

    name = "temperature"
    title = "Wang & Liu 2021"
    description = (
        "**Wang & Liu 2021** (`arXiv 2012.09740 <https://arxiv.org/abs/2012.09740>`_), "
        "*Understanding the Behaviour of Contrastive Loss*. The relative penalty r_i that the "
        "contrastive loss puts on each negative is computed exactly for similarities "
        "s ~ U[-1, 1] (the paper's Fig. 3, no training). The trained part substitutes the "
        "paper's CIFAR/SVHN/ImageNet-100 ResNets with memory banks by scikit-learn's 8x8 "
        "digits, an MLP encoder with an L2-normalised 128-d embedding and in-batch negatives "
        "[design]: a temperature sweep of the contrastive (InfoNCE) and the hard contrastive "
        "loss (the nearest alpha = 8% of the negatives), plus the Simple and HardSimple losses "
        "(lambda = 1/N, the tau -> inf limit) [design]. Uniformity -L_unif, tolerance, local "
        "separation and a linear probe are measured on the held-out split. Augmentations, "
        "sizes, optimiser and training length are ours [design]."
    )
    config_class = TemperatureConfig
    figures = FIGURES
    tables = (
        Table(
            "temperature_table1",
            f"{_PLOTS}:table_summary",
            "Table 1 (loss x tau)",
            "The paper's Table 1 on the digits substitute [design]: for every loss and tau, the "
            "final held-out linear-probe accuracy, -L_unif (uniformity, larger = more uniform) "
            "and tolerance (mean cosine over same-class pairs), mean +- sd over seeds. " + _SETUP,
        ),
    )
    tiny = {
        "data": {"source": "shapes", "side": 8, "n_train": 48, "n_test": 24, "n_classes": 4},
        "model": {"encoder": "convnet", "channels": [4, 8], "proj_hidden": 8, "embed_dim": 8},
        "train": {"steps": 6, "eval_every": 3, "batch_size": 16, "checkpoint_every": 1},
        "analytic": {"n_draws": 64, "taus": [0.1, 0.5, 1.0]},
    }
    data_sections = ("data", "analytic")

    fusable = ("loss.temperature",)

    def synthesize(self, cfg: TemperatureConfig, seeds: list[int]) -> xr.Dataset:
        from contrastlab.families.temperature.data import synthesize

        return synthesize(cfg, seeds)

    def task(
        self,
        cfg: TemperatureConfig,
        data: xr.Dataset,
        seeds: list[int],
        device: torch.device,
        members: list[TemperatureConfig] | None = None,
    ) -> TemperatureTask:
        from contrastlab.families.temperature.task import TemperatureTask

        return TemperatureTask(cfg, data, seeds, device, members)

    def claims(self, agg: xr.Dataset) -> pd.DataFrame:
        from contrastlab.families.temperature.claims import claims

        return claims(agg)


FAMILY = TemperatureFamily()

__all__ = [
    "FAMILY",
    "TemperatureConfig",
    "TemperatureFamily",
    "several_embeddings",
    "two_temperatures",
]
