"""HLTM experiment of Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578, Sec. 6).

SimCLR-style contrastive learning on data from a hierarchical latent tree
model, with a tree-shaped ReLU network; measures how well each node's units
correlate with its latent variable, and the covariance operator.

Modules: :mod:`.config` (keys and defaults, authors' names), :mod:`.data`
(tree, vectorised sampler), :mod:`.model` (batched tree network and its
hand-written backward pass), :mod:`.metrics` (best correlation, covariance
operator), :mod:`.task` (the training job for the engine), :mod:`.plots`,
:mod:`.claims`. This module is the plug: light to import, the rest on demand.
"""

from __future__ import annotations

from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.registry import Family, Figure

_PLOTS = "contrastlab.families.hltm.plots"


class HLTM(Family):
    name = "hltm"
    title = "Tian et al. 2020"
    config_class = HLTMConfig
    description = (
        "**Tian, Yu, Chen & Ganguli 2020** (`arXiv 2010.00578 "
        "<https://arxiv.org/abs/2010.00578>`_), *Understanding Self-supervised Learning with "
        "Dual Deep Networks*, Sec. 6. The hierarchical latent tree model as published, with the "
        "protocol of the authors' code (facebookresearch/luckmatters, ``ssl/hltm``): binary "
        "latent tree of depth L, polarities rho = ±U[delta_lower, 1], positives that keep only "
        "the root, one independent negative per anchor, a tree-shaped ReLU network, the code's "
        "batch-level ``nce`` loss, plain SGD, fresh samples every epoch. Metrics: best \\|corr\\| "
        "of each latent with its node's units, and the covariance operator. Our departures "
        "[design]: the final epoch is evaluated too, the metrics use each epoch's own samples, "
        "and the covariance operator is estimated on ``cov_samples`` anchors per epoch."
    )
    tiny = {
        "data": {"depth": 3},
        "model": {"hid": 4},
        "train": {"epochs": 3, "samples_per_epoch": 640, "batch_size": 64, "cov_samples": None},
    }
    figures = (
        Figure(
            "hltm_corr_by_height",
            f"{_PLOTS}:plot_corr_by_height",
            "correlation by height",
            "For every latent node, the best \\|Pearson correlation\\| between its latent "
            "variable and one of its ``hid`` pre-activation units, averaged over the nodes of "
            "each height (1 = parents of the leaves, L = the root), vs epoch (epoch 0 = "
            "initialisation). Columns: ``hid``; rows: ``delta_lower`` (polarity \\|rho\\| ~ "
            "U[delta_lower, 1]). Band: ±1 sd over seeds.",
        ),
        Figure(
            "hltm_root_corr",
            f"{_PLOTS}:plot_root_corr",
            "root correlation",
            "Best correlation of the root node with the root latent at initialisation and "
            "after training, for every ``hid`` (over-parameterisation) and ``delta_lower`` "
            "(polarity); points and bars: mean ±1 sd over seeds, dots: single trained seeds, "
            "red crosses: seeds whose root units died (collapsed, best \\|corr\\| < 0.05), "
            "counted in the claims table's *degenerate* column. The paper reports that "
            "training, more ``hid`` and stronger polarity all raise it.",
        ),
        Figure(
            "hltm_cov_op",
            f"{_PLOTS}:plot_cov_op",
            "covariance operator",
            "Frobenius norm of the covariance operator (log scale) vs epoch, per node height. "
            "The paper reports it grows by orders of magnitude during training.",
        ),
    )

    def synthesize(self, cfg, seeds):
        from contrastlab.families.hltm.data import HLTMSampler

        return HLTMSampler.from_config(cfg, seeds).to_dataset()

    fusable = ("data.delta_lower",)

    def task(self, cfg, data, seeds, device, members=None):
        from contrastlab.families.hltm.data import HLTMSampler
        from contrastlab.families.hltm.task import HLTMTask

        return HLTMTask(cfg, HLTMSampler.from_dataset(data), device, members=members)

    def claims(self, agg):
        from contrastlab.families.hltm.claims import claims

        return claims(agg)


FAMILY = HLTM()
