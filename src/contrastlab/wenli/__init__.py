"""Wen & Li 2021: feature decoupling by random masking (arXiv 2105.15134).

Data x = M z + xi (sparse dictionary features plus dense noise), a one-layer
symmetric ReLU network with bias, InfoNCE, and masking augmentations.
"""

from contrastlab.wenli.data import SparseDenseConfig, make_sparse_dense
from contrastlab.wenli.train import WenLiConfig, train_wenli

__all__ = ["SparseDenseConfig", "make_sparse_dense", "WenLiConfig", "train_wenli"]
