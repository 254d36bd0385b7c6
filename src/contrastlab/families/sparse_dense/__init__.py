"""Wen & Li 2021: feature decoupling by random masking (arXiv 2105.15134).

Data x = M z + xi (sparse dictionary features plus dense noise), a one-layer
symmetric ReLU network with bias, InfoNCE, and masking augmentations.

Modules: :mod:`.config` (keys and defaults), :mod:`.data` (generator),
:mod:`.model` (network, masking), :mod:`.metrics`, :mod:`.task` (the training
job for the engine), :mod:`.plots`, :mod:`.claims`. This module is the plug:
it stays light to import (no torch) and loads the others on demand.
"""

from __future__ import annotations

from contrastlab.families.sparse_dense.config import SparseDenseConfig
from contrastlab.registry import Family, Figure

_PLOTS = "contrastlab.families.sparse_dense.plots"


class SparseDense(Family):
    name = "sparse_dense"
    title = "Wen & Li 2021"
    config_class = SparseDenseConfig
    description = (
        "**Wen & Li 2021** (`arXiv 2105.15134 <https://arxiv.org/abs/2105.15134>`_), *Toward "
        "Understanding the Feature Learning Process of Self-supervised Contrastive Learning*. A "
        "synthetic instance of the paper's theoretical data model (the paper's own figures use "
        "CIFAR-10): x = Mz + xi with an orthonormal dictionary M, sparse signed z and dense "
        "Gaussian xi; a one-layer symmetric ReLU network with bias trained with InfoNCE; "
        "augmentation by no masking, independent masks or complementary masks (feature "
        "decoupling). Sizes, noise level, optimiser and training length are ours [design]."
    )
    tiny = {
        "data": {"d1": 12, "d": 4, "n_train": 200, "n_eval": 100},
        "model": {"width": 8},
        "train": {"steps": 30, "batch_size": 32, "eval_every": 10, "checkpoint_every": 1},
    }
    figures = (
        Figure(
            "sparse_dense_dynamics",
            f"{_PLOTS}:plot_dynamics",
            "dynamics",
            "Over training: atom alignment max_i \\|cos(w_i, M_j)\\| (best, median and worst "
            "atom j), the dense fraction of the weights \\|(I − MMᵀ)w_i\\|²/\\|w_i\\|² (mean over "
            "neurons; random weights give about (d1 − d)/d1), and the held-out support-probe AUC "
            "(a ridge read-out of \\|f(x)\\| predicting 1[z_j ≠ 0], 0.5 = chance), per "
            "augmentation. Lines: mean over seeds; bands: ±1 sd.",
        ),
        Figure(
            "sparse_dense_cosine",
            f"{_PLOTS}:plot_cosine",
            "cosine matrix",
            "The final \\|cos(w_i, M_j)\\| between every neuron i and every dictionary atom j, "
            "per augmentation, for the first seed. Neurons are sorted by the atom they match "
            "best: learning the sparse features shows as bright entries (near 1), one per atom; "
            "learning dense features shows as a uniformly dim matrix.",
        ),
    )

    def synthesize(self, cfg, seeds):
        from contrastlab.families.sparse_dense.data import make_sparse_dense

        return make_sparse_dense(cfg, seeds)

    fusable = ("augmentation.masking",)

    def task(self, cfg, data, seeds, device, members=None):
        from contrastlab.families.sparse_dense.task import SparseDenseTask

        return SparseDenseTask(cfg, data, device, members)

    def claims(self, agg):
        from contrastlab.families.sparse_dense.claims import claims

        return claims(agg)


FAMILY = SparseDense()
