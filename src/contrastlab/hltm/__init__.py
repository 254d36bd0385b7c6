"""HLTM experiment of Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578, Sec. 6).

SimCLR-style contrastive learning on data from a hierarchical latent tree
model, with a tree-shaped ReLU network; measures how well each node's units
correlate with its latent variable, and the covariance operator.

Public API:
    - :class:`HLTMConfig` -- the run's configuration (authors' key names).
    - :class:`LatentTree`, :class:`HLTMSampler`, :func:`tree_dataset` -- data.
    - :class:`TreeNet` -- the batched tree network.
    - :func:`hltm_loss` and the four losses -- per-seed losses.
    - :func:`evaluate_epoch` -- the per-epoch metrics.
    - :func:`train_hltm` -- training of a batch of seeds, returns an xarray.Dataset.
    - :func:`hltm_claims` -- the claims table of a sweep.
    - :mod:`contrastlab.hltm.plots` -- figures (imported on demand: matplotlib).
"""

from contrastlab.hltm.claims import hltm_claims
from contrastlab.hltm.config import HLTMConfig
from contrastlab.hltm.data import HLTMSampler, LatentTree, Triplets, tree_dataset
from contrastlab.hltm.losses import (
    hltm_loss,
    infonce_loss,
    nce_loss,
    soft_triplet_loss,
    subtract_loss,
)
from contrastlab.hltm.metrics import EpochMetrics, evaluate_epoch
from contrastlab.hltm.model import TreeNet
from contrastlab.hltm.train import train_hltm

__all__ = [
    "EpochMetrics",
    "HLTMConfig",
    "HLTMSampler",
    "LatentTree",
    "TreeNet",
    "Triplets",
    "evaluate_epoch",
    "hltm_claims",
    "hltm_loss",
    "infonce_loss",
    "nce_loss",
    "soft_triplet_loss",
    "subtract_loss",
    "train_hltm",
    "tree_dataset",
]
