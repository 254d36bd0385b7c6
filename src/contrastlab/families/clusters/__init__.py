"""HaoChen & Ma 2023: inductive biases of the encoder class and the spectral contrastive loss.

The ``clusters`` family (arXiv 2211.14699): data whose positive-pair graph has
many clusters (a hypercube with invariant coordinates, well-separated manifolds
made of augmentation sub-clusters, and the scikit-learn digits), encoders of
limited capacity (linear, Lipschitz-limited MLP) or not (MLP), the spectral
contrastive loss L_lambda, and what each class recovers with k output dimensions.

Modules: :mod:`.config` (keys and defaults), :mod:`.data` (generators and
augmentations), :mod:`.model` (encoders), :mod:`.metrics` (phi, probes, angles),
:mod:`.task` (the training job for the engine), :mod:`.plots`, :mod:`.claims`.
This module is the plug: it stays light to import (no torch) and loads the
others on demand.
"""

from __future__ import annotations

from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.registry import Family, Figure, Table

_PLOTS = "contrastlab.families.clusters.plots"
_DEFAULT = ClustersConfig()


def linear_on_hypercube(points: list[dict]) -> bool:
    """Some sweep point trains a linear encoder on the hypercube (the only points with a
    principal angle to the invariant span)."""
    return any(
        (p.get("data") or {}).get("kind", _DEFAULT.data_kind) == "hypercube"
        and (p.get("model") or {}).get("encoder", _DEFAULT.encoder) == "linear"
        for p in points
    )


class Clusters(Family):
    name = "clusters"
    title = "HaoChen & Ma 2023"
    config_class = ClustersConfig
    data_sections = ("data", "augmentation")
    description = (
        "**HaoChen & Ma 2023** (`arXiv 2211.14699 <https://arxiv.org/abs/2211.14699>`_), *A "
        "Theoretical Study of Inductive Biases in Contrastive Learning*. The spectral "
        "contrastive loss L_λ(f) = E_pos ‖f(x) − f(x⁺)‖² + λ‖E[f(x)f(x)ᵀ] − I‖²_F minimised "
        "over a limited encoder class recovers only the clusters the class can implement, so "
        "k = (number of those clusters) output dimensions suffice, far fewer than the clusters "
        "of the positive-pair graph. Three data kinds: (i) the hypercube x ∈ {±1}^d whose "
        "views keep the s invariant coordinates (2^s clusters): a linear encoder with k = s "
        "recovers span(e₁..e_s) and solves linear labels but not the cluster one-hot, an MLP "
        "with k = 2^s solves the one-hot; (ii) r well-separated clusters made of r₀ close "
        "augmentation sub-clusters [design]: a Lipschitz-limited MLP with k = r recovers the r "
        "clusters; (iii) the paper's only experiment (CIFAR-10, Table 1) at small scale on "
        "scikit-learn's 8×8 digits: φ_m, the whitened positive-pair distance of an encoder "
        "trained with k = m (minimum over a part of the paper's λ grid), rises with m for "
        "every architecture. Sizes (d = 12, s = 3, λ = 1 from our reading of the paper), the "
        "manifold geometry, the augmentations' laws, encoders, optimiser (Adam instead of the "
        "paper's SGD with a cosine schedule), training length, the m grid and the "
        "thresholds of the claims (relative probe MSE < 0.1, principal angle < 10°) are ours "
        "[design]."
    )
    tiny = {
        "data": {"d": 6, "s": 2, "n_train": 200, "n_eval": 120},
        "model": {"encoder": "linear", "k": 2},
        "train": {"steps": 30, "batch_size": 64, "eval_every": 10, "checkpoint_every": 1},
    }
    figures = (
        Figure(
            "clusters_probe",
            f"{_PLOTS}:plot_probe",
            "probe MSE vs k",
            "Held-out linear-probe relative MSE (fraction of the label's variance a ridge "
            "read-out of f(x), fitted on the training points, leaves unexplained; 0 = solved) "
            "after training, against the output dimension k, one line per encoder and one "
            "panel per label: y = x₁ and y = vᵀx₍₁..s₎ (linear labels of the hypercube), the "
            "cluster one-hot (2^s invariant patterns, r manifolds, or the 10 digits) and the "
            "sub-cluster one-hot (r·r₀ manifold sub-clusters). With a λ grid, at the λ of the "
            "smallest φ. Lines: mean over seeds; bands: ±1 sd. A linear encoder's optimum with "
            "k = s leaves (2^s − 1 − s)/(2^s − 1) of the cluster one-hot unexplained (4/7 for "
            "s = 3).",
        ),
        Figure(
            "clusters_angle",
            f"{_PLOTS}:plot_angle",
            "principal angle",
            "Linear encoders on the hypercube: the largest principal angle between the row "
            "space of W (its top-s right singular directions when k > s) and the invariant "
            "span(e₁..e_s) over training, one line per k. 0° = the invariant span recovered; "
            "random directions in d = 12 start near 90°. Lines: mean over seeds; bands: ±1 sd.",
            applies=linear_on_hypercube,
        ),
        Figure(
            "clusters_phi",
            f"{_PLOTS}:plot_phi",
            "φ_m vs m",
            "The paper's Table 1 as a figure: φ_m, the positive-pair distance of the outputs "
            "whitened so that E[f̄f̄ᵀ] = I/m (minimum over the λ grid; 2 × the fraction of "
            "positive pairs crossing the partition for a hard m-way partition, 0 = no leakage), "
            "after training with k = m output dimensions, against m, one line per encoder. "
            "Lines: mean over seeds; bands: ±1 sd.",
        ),
    )
    tables = (
        Table(
            "clusters_phi_table",
            f"{_PLOTS}:table_phi",
            "phi_m table (Table 1)",
            "The paper's Table 1 layout: phi_m, the whitened positive-pair distance of the "
            "learned m-dimensional features (the minimum over the lambda grid), for every "
            "encoder and m = k, mean +- sd over seeds; undefined (collapsed) seeds are counted. "
            "On the digits this is Table 1 at small scale [design].",
        ),
    )

    def synthesize(self, cfg, seeds):
        from contrastlab.families.clusters.data import synthesize

        return synthesize(cfg, seeds)

    def task(self, cfg, data, seeds, device):
        from contrastlab.families.clusters.task import ClustersTask

        return ClustersTask(cfg, data, device)

    def claims(self, agg):
        from contrastlab.families.clusters.claims import claims

        return claims(agg)


FAMILY = Clusters()
