"""A toy experiment family in a user's own package, found through the
``contrastlab.families`` entry point (see ../contrastlab_toy-0.1.dist-info, what
``pip install`` of a package with ``[project.entry-points."contrastlab.families"]``
writes). It follows the README's "Adding a family" list; tests/test_toy_family.py checks
that the workflow runs it without any change to contrastlab.

Gaussian clusters, two noisy views, a linear encoder, InfoNCE; metric: a held-out
linear probe of the cluster id. Claim: training raises the probe accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.params import param
from contrastlab.registry import Family, Figure, Table


@dataclass
class ToyConfig:
    k: int = param(4, "data", "Number of clusters.", minimum=2)
    dim: int = param(8, "data", "Input dimension.", minimum=2)
    n: int = param(400, "data", "Points per seed (half for the probe's test).", minimum=8)
    noise: float = param(0.5, "augmentation", "Std of the view noise.", minimum=0)
    out: int = param(4, "model", "Embedding dimension.", minimum=1)
    temperature: float = param(0.2, "loss", "InfoNCE temperature.", exclusive_minimum=0)
    steps: int = param(30, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(64, "train", "Mini-batch size.", minimum=2)
    lr: float = param(0.05, "train", "Adam learning rate.", exclusive_minimum=0)
    eval_every: int = param(10, "train", "Steps per evaluation round.", minimum=1)
    checkpoint_every: int = param(1, "train", "Rounds between checkpoints.", minimum=1)

    def check(self) -> None:
        if self.batch_size > self.n:
            raise ValueError(f"train.batch_size ({self.batch_size}) must be <= data.n ({self.n})")


class Toy(Family):
    name = "toy"
    title = "Toy family (entry point)"
    description = "A toy family registered by another package [design]."
    config_class = ToyConfig
    tiny = {"train": {"steps": 20}}
    figures = (Figure("toy_probe", "contrastlab_toy.light:plot_probe", "probe", "Probe accuracy."),)
    tables = (Table("toy_final", "contrastlab_toy.light:table", "final", "Final accuracy."),)

    def synthesize(self, cfg, seeds):
        from contrastlab_toy.core import synthesize

        return synthesize(cfg, seeds)

    def task(self, cfg, data, seeds, device):
        from contrastlab_toy.core import ToyTask

        return ToyTask(cfg, data, device)

    def claims(self, agg):
        from contrastlab_toy.light import claims

        return claims(agg)


FAMILY = Toy()
