"""Data and training job of the toy family (figure and claim: light.py, no torch)."""

from __future__ import annotations

import math

import torch
import xarray as xr

from contrastlab.engine import Task, make_optimizer, streams
from contrastlab.losses import infonce_in_batch
from contrastlab.metrics.probes import ridge_fit_predict
from contrastlab.results import cf


def synthesize(cfg, seeds) -> xr.Dataset:
    xs, ys = [], []
    for g in streams(seeds, "toy", "data"):
        means = 2.0 * torch.randn(cfg.k, cfg.dim, generator=g)
        y = torch.randint(cfg.k, (cfg.n,), generator=g)
        xs.append(means[y] + torch.randn(cfg.n, cfg.dim, generator=g))
        ys.append(y)
    return xr.Dataset(
        {
            "x": (("seed", "sample", "dim"), torch.stack(xs).numpy(), cf("input", "1")),
            "y": (("seed", "sample"), torch.stack(ys).numpy(), cf("cluster id", "1")),
        },
        coords={"seed": ("seed", list(seeds), cf("seed", "1"))},
    )


class ToyTask(Task):
    family = "toy"

    def __init__(self, cfg, data, device):
        super().__init__(data.seed.values)
        self.cfg = cfg
        self.x = torch.as_tensor(data.x.values, device=device)
        self.y = torch.as_tensor(data.y.values, device=device)
        g = self.streams("init")
        self.W = torch.stack([torch.randn(cfg.dim, cfg.out, generator=gi) for gi in g])
        self.W = (self.W / math.sqrt(cfg.dim)).to(device).requires_grad_()
        self.g_batch, self.g_aug = self.streams("batches"), self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        self.step_rounds(cfg.steps, cfg.eval_every)
        self.rows = torch.arange(len(self.seeds), device=device)[:, None]

    def parameters(self):
        return {"W": self.W}

    def optimizer(self):
        return make_optimizer("adam", [self.W], self.cfg.lr)

    def batches(self, r):
        c = self.cfg
        for _ in range(self.steps_in_round(r)):
            idx = torch.stack(
                [torch.randint(c.n, (c.batch_size,), generator=g) for g in self.g_batch]
            )
            x = self.x[self.rows, idx]
            noise = [torch.randn(2, *x.shape[1:], generator=g) for g in self.g_aug]
            noise = torch.stack(noise, 1).to(x.device) * c.noise  # (2, seed, batch, dim)
            yield x + noise[0], x + noise[1]

    def loss(self, batch):
        v1, v2 = batch
        return infonce_in_batch(v1 @ self.W, v2 @ self.W, self.cfg.temperature)

    @torch.no_grad()
    def evaluate(self, r):
        f = self.x @ self.W
        onehot = torch.nn.functional.one_hot(self.y, self.cfg.k).double()
        h = f.shape[1] // 2
        pred = ridge_fit_predict(f[:, :h], onehot[:, :h], f[:, h:]).argmax(-1)
        return {"probe_acc": (pred == self.y[:, h:]).double().mean(-1)}

    def to_dataset(self, history, coords, final):
        st = ("seed", "step")
        return xr.Dataset(
            {
                "loss": (st, history["loss"], cf("InfoNCE loss", "1")),
                "probe_acc": (st, history["probe_acc"], cf("probe accuracy", "1")),
            },
            coords={
                "seed": ("seed", self.seeds, cf("seed", "1")),
                "step": ("step", coords, cf("training step", "1")),
            },
        )
