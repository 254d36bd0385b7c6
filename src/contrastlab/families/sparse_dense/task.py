"""The training job of the sparse/dense family, for the engine: all seeds batched.

Seed is a tensor dimension: the weights have shape (seed, m, d1), every
random draw (initialisation, mini-batches, masks) comes from that seed's own
streams (``sparse_dense/init``, ``sparse_dense/batches``,
``sparse_dense/augment``), and the engine steps on the sum of the per-seed
losses, so each seed's slice gets exactly the gradient it would get alone.
One evaluation round = ``eval_every`` optimiser steps (the last may be shorter).

Members are taken by position: seed values may repeat (a job that trains several
sweep points at once), and ``cfg.masking`` may be one value or one per member.
The loss and its gradient come from
:func:`~contrastlab.families.sparse_dense.model.sym_relu_infonce_stacked` (a few
seeds at a time, in cache); every op works on one member's slice, so a member's numbers are
bit for bit those of a run of that member alone (on CPU).
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from contrastlab.engine import Task, make_optimizer
from contrastlab.families.sparse_dense.config import SparseDenseConfig
from contrastlab.families.sparse_dense.metrics import (
    atom_alignment,
    cosine_matrix,
    dense_fraction,
    support_probe_auc,
)
from contrastlab.families.sparse_dense.model import (
    RoundMasks,
    init_weights,
    member_maskings,
    sym_relu,
    sym_relu_infonce_stacked,
)
from contrastlab.results import cf


class SparseDenseTask(Task):
    """Wen & Li: one-layer symmetric ReLU network, InfoNCE on two masked views.

    Args:
        cfg: the job's config.
        data: output of :func:`~contrastlab.families.sparse_dense.data.make_sparse_dense`.
        device: where to train.
    """

    family = "sparse_dense"
    round_dim = "step"

    def __init__(
        self,
        cfg: SparseDenseConfig,
        data: xr.Dataset,
        device: torch.device,
        members: list[SparseDenseConfig] | None = None,
    ) -> None:
        super().__init__(data.seed.values, members)
        self.cfg = cfg
        self.device = device
        self.x_train = torch.as_tensor(data.x_train.values, device=device)
        self.x_eval = torch.as_tensor(data.x_eval.values, device=device)
        self.z_eval = torch.as_tensor(data.z_eval.values.astype("float32"), device=device)
        self.M = torch.as_tensor(data.M.values, device=device)
        self.atoms = data.atom.values
        self.step_rounds(cfg.steps, cfg.eval_every)
        W, b = init_weights(
            cfg.width, self.x_train.shape[2], self.seeds, self.streams("init"), cfg.bias_init
        )
        self.W = W.to(device).requires_grad_()
        self.b = b.to(device).requires_grad_()
        self.g_batch = self.streams("batches")
        self.g_aug = self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        self.masking = member_maskings(self.member_values(cfg, "masking"), len(self.seeds))
        if len(set(self.masking)) == 1:
            self.masking = self.masking[0]
        n = self.x_train.shape[1]
        self.row_offset = torch.arange(len(self.seeds), device=device).unsqueeze(1) * n

    def parameters(self) -> dict[str, torch.Tensor]:
        return {"W": self.W, "b": self.b}

    def optimizer(self):
        return make_optimizer(self.cfg.optimizer, [self.W, self.b], self.cfg.lr)

    def batches(self, r: int):
        K, n, d1 = self.x_train.shape
        B, steps = self.cfg.batch_size, self.steps_in_round(r)
        # the round's indices in one call per seed: the same numbers as one call per step
        idx = torch.stack([torch.randint(n, (steps, B), generator=g) for g in self.g_batch])
        # (step, seed, B): rows of x_train flattened over (seed, sample)
        rows = (idx.to(self.device) + self.row_offset.unsqueeze(2)).transpose(0, 1)
        flat = self.x_train.reshape(K * n, d1)
        # the round's masks: drawn now, one call per member for masks of keep probability 1/2
        masks = RoundMasks(self.masking, self.cfg.keep_prob, self.g_aug, steps, (B, d1))
        for t in range(steps):
            x = flat.index_select(0, rows[t].reshape(-1)).reshape(K, B, d1)
            yield masks.views(x, t)  # (seed, 2B, d1): the two views stacked

    def loss(self, batch) -> torch.Tensor:
        return sym_relu_infonce_stacked(batch, self.W, self.b, self.cfg.temperature)

    @torch.no_grad()
    def evaluate(self, r: int) -> dict:
        out = {
            "alignment": atom_alignment(self.W, self.M),
            "dense_fraction": dense_fraction(self.W, self.M),
            "probe_auc": support_probe_auc(sym_relu(self.x_eval, self.W, self.b), self.z_eval).mean(
                -1
            ),
            "bias_mean": self.b.mean(-1),
        }
        return out

    @torch.no_grad()
    def final_metrics(self) -> dict:
        return {"cos_final": cosine_matrix(self.W, self.M)}

    def summary(self, metrics: dict) -> str:
        return f"median alignment {np.median(metrics['alignment'], -1).mean():.3f}"

    def to_dataset(self, history: dict, coords: np.ndarray, final: dict) -> xr.Dataset:
        a = history["alignment"]  # (seed, step, atom)
        cos = final["cos_final"]
        st = ("seed", "step")
        return xr.Dataset(
            {
                "loss": (st, history["loss"], cf("InfoNCE training loss", "1")),
                "alignment": ((*st, "atom"), a, cf("atom alignment max_i |cos(w_i, M_j)|", "1")),
                "align_max": (st, a.max(-1), cf("alignment, best atom", "1")),
                "align_median": (st, np.median(a, -1), cf("alignment, median atom", "1")),
                "align_min": (st, a.min(-1), cf("alignment, worst atom", "1")),
                "dense_fraction": (
                    st,
                    history["dense_fraction"],
                    cf("dense fraction of the weights", "1"),
                ),
                "probe_auc": (st, history["probe_auc"], cf("support probe AUC (held-out)", "1")),
                "bias_mean": (st, history["bias_mean"], cf("mean bias b_i", "1")),
                "cos_final": (("seed", "neuron", "atom"), cos, cf("final |cos(w_i, M_j)|", "1")),
            },
            coords={
                "seed": ("seed", self.seeds, cf("seed", "1")),
                "step": ("step", coords, cf("training step", "1")),
                "atom": ("atom", self.atoms, cf("dictionary atom j", "1")),
                "neuron": ("neuron", np.arange(cos.shape[1]), cf("neuron i", "1")),
            },
            attrs={"title": "Wen & Li feature decoupling: metrics over training"},
        )
