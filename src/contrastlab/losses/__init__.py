"""Contrastive losses, one module per loss; every loss is batched over leading dims.

Every function returns one value per leading (seed) index, so training on
``loss.sum()`` gives each seed the gradient of its own loss.

Modules:
    - :mod:`.infonce` -- InfoNCE: with in-batch negatives on cosine similarities
      (:func:`infonce_in_batch`: the cross-view form of Wang & Liu's Eq. 1, B - 1
      negatives from the other view), and per anchor with
      independent negatives on squared distances (:func:`infonce_distance`,
      Tian et al. 2020 Sec. 3).
    - :mod:`.ntxent` -- SimCLR's NT-Xent: 2B anchors, 2B - 2 negatives, and Tian et al.'s
      beta variant (:func:`nt_xent`).
    - :mod:`.exact_cov` -- Tian et al.'s exact-covariance loss with detached weights
      (:func:`exact_cov`).
    - :mod:`.batch_nce` -- the batch-level ``nce`` and ``subtract`` losses of the
      HLTM code (:func:`batch_nce`, :func:`batch_subtract`).
    - :mod:`.soft_triplet` -- the soft-triplet loss (:func:`soft_triplet`).
    - :mod:`.simple` -- Wang & Liu's Simple loss -s_ii + lambda sum_j s_ij
      (:func:`simple_in_batch`).
    - :mod:`.hard` -- the hard contrastive loss and HardSimple on the nearest negatives
      (:func:`hard_infonce_in_batch`, :func:`hard_simple_in_batch`).
    - :mod:`.spectral` -- HaoChen & Ma's spectral contrastive loss L_lambda and its
      unbiased mini-batch form (:func:`spectral_loss`, :func:`spectral_terms`).
"""

from contrastlab.losses.batch_nce import batch_nce, batch_subtract
from contrastlab.losses.exact_cov import exact_cov
from contrastlab.losses.hard import hard_infonce_in_batch, hard_simple_in_batch
from contrastlab.losses.infonce import infonce_distance, infonce_in_batch
from contrastlab.losses.ntxent import nt_xent
from contrastlab.losses.simple import simple_in_batch
from contrastlab.losses.soft_triplet import soft_triplet
from contrastlab.losses.spectral import (
    spectral_contrastive,
    spectral_loss,
    spectral_loss_plugin,
    spectral_terms,
)

__all__ = [
    "batch_nce",
    "batch_subtract",
    "exact_cov",
    "hard_infonce_in_batch",
    "hard_simple_in_batch",
    "infonce_distance",
    "infonce_in_batch",
    "nt_xent",
    "simple_in_batch",
    "soft_triplet",
    "spectral_contrastive",
    "spectral_loss",
    "spectral_loss_plugin",
    "spectral_terms",
]
