"""Training loop of the Wen & Li experiment, all seeds as one batched model.

Seed is a tensor dimension: the weights have shape (seed, m, d1), every
random draw (initialisation, mini-batches, masks) comes from that seed's own
generator, and the loss is the sum of the per-seed losses, so each seed's
slice receives exactly the gradient it would receive alone.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import xarray as xr

from contrastlab.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from contrastlab.losses import info_nce
from contrastlab.results import cf
from contrastlab.utils import generator
from contrastlab.wenli.metrics import (
    atom_alignment,
    cosine_matrix,
    dense_fraction,
    support_probe_auc,
)
from contrastlab.wenli.model import MASKINGS, init_weights, sym_relu, views


@dataclass
class WenLiConfig:
    """Model, augmentation, loss and optimiser of one training job.

    Args:
        width: neurons m of the one-layer network (default 50, over-complete).
        bias_init: initial bias b_i of every neuron (default 0.1); learned.
        masking: ``none`` | ``independent`` | ``complementary``.
        keep_prob: keep probability of the independent masks (default 0.5).
        temperature: InfoNCE temperature tau (default 0.05).
        steps: optimiser steps (default 2000).
        batch_size: samples per step (default 512), the in-batch negatives.
        lr: learning rate (default 0.01).
        optimizer: ``adam`` | ``sgd`` (default adam).
        eval_every: steps between two metric evaluations (default 100).
        log_every: steps between two progress lines (default 200).
        checkpoint_every: steps between two checkpoints (default 500).
    """

    width: int = 50
    bias_init: float = 0.1
    masking: str = "complementary"
    keep_prob: float = 0.5
    temperature: float = 0.05
    steps: int = 2000
    batch_size: int = 512
    lr: float = 0.01
    optimizer: str = "adam"
    eval_every: int = 100
    log_every: int = 200
    checkpoint_every: int = 500

    def __post_init__(self):
        if self.masking not in MASKINGS:
            raise ValueError(f"augmentation.masking must be one of {MASKINGS}: {self.masking!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"train.optimizer must be adam or sgd: {self.optimizer!r}")
        if not 0 < self.keep_prob <= 1:
            raise ValueError(f"augmentation.keep_prob must be in (0, 1]: {self.keep_prob}")

    @classmethod
    def from_experiment(cls, exp: dict) -> WenLiConfig:
        """Build from an experiment's config sections (model/augmentation/loss/train)."""
        flat = {}
        for section in ("model", "augmentation", "loss", "train"):
            flat.update({k: v for k, v in exp.get(section, {}).items() if k != "kind"})
        return cls(**flat)


def train_wenli(
    data: xr.Dataset,
    cfg: WenLiConfig,
    device: str | torch.device = "cpu",
    log=print,
    checkpoint_path=None,
    job_config: dict | None = None,
) -> xr.Dataset:
    """Train one network per seed of ``data`` (batched) and log metrics over training.

    Args:
        data: output of :func:`contrastlab.wenli.data.make_sparse_dense`.
        cfg: the job's hyper-parameters.
        device: torch device for the forward/backward passes.
        log: a print-like function for progress lines.
        checkpoint_path: where to save/resume checkpoints (None: never).
        job_config: the resolved config the checkpoint fingerprint is made of
            (defaults to ``cfg`` itself).

    Returns:
        Dataset with dims ``seed``, ``step`` (0 = initialisation), ``atom``,
        ``neuron``: alignment statistics, dense fraction, probe AUC and the
        training loss over steps, and the final |cos(w_i, M_j)| matrix.
    """
    device = torch.device(device)
    seeds = [int(s) for s in data.seed.values]
    S = len(seeds)
    x_train = torch.as_tensor(data.x_train.values, device=device)
    x_eval = torch.as_tensor(data.x_eval.values, device=device)
    z_eval = torch.as_tensor(data.z_eval.values.astype("float32"), device=device)
    M = torch.as_tensor(data.M.values, device=device)
    n, d1 = x_train.shape[1:]
    g_init = [generator(s, "init") for s in seeds]
    g_batch = [generator(s, "batches") for s in seeds]
    g_aug = [generator(s, "augment") for s in seeds]

    W, b = init_weights(cfg.width, d1, seeds, g_init, cfg.bias_init)
    W = W.to(device).requires_grad_()
    b = b.to(device).requires_grad_()
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam([W, b], lr=cfg.lr)
    else:
        opt = torch.optim.SGD([W, b], lr=cfg.lr)

    fp = fingerprint(job_config if job_config is not None else asdict(cfg), seeds)
    hist = {k: [] for k in ("step", "loss", "alignment", "dense_fraction", "probe_auc", "bias")}
    start = 0
    running = torch.zeros(S, device=device)
    n_running = 0
    state = load_checkpoint(checkpoint_path, fp, log)
    if state is not None:
        with torch.no_grad():
            W.copy_(state["W"].to(device))
            b.copy_(state["b"].to(device))
        opt.load_state_dict(state["opt"])
        for g, st in zip(g_batch + g_aug, state["rng"], strict=True):
            g.set_state(st)
        hist = state["hist"]
        start = state["step"]

    def evaluate(step: int, loss_mean: np.ndarray) -> None:
        with torch.no_grad():
            hist["step"].append(step)
            hist["loss"].append(loss_mean)
            hist["alignment"].append(atom_alignment(W, M).cpu().numpy())
            hist["dense_fraction"].append(dense_fraction(W, M).cpu().numpy())
            feats = sym_relu(x_eval, W, b)
            hist["probe_auc"].append(support_probe_auc(feats, z_eval).mean(-1))
            hist["bias"].append(b.mean(-1).cpu().numpy())

    if start == 0:
        evaluate(0, np.full(S, np.nan))
    t0 = time.perf_counter()
    seed_index = torch.arange(S, device=device).unsqueeze(1)
    for step in range(start + 1, cfg.steps + 1):
        idx = torch.stack([torch.randint(n, (cfg.batch_size,), generator=g) for g in g_batch])
        x = x_train[seed_index, idx.to(device)]  # (seed, batch, d1)
        v1, v2 = views(x, cfg.masking, cfg.keep_prob, g_aug)
        loss = info_nce(sym_relu(v1, W, b), sym_relu(v2, W, b), cfg.temperature)  # (seed,)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        running += loss.detach()
        n_running += 1
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step, (running / n_running).cpu().numpy())
            running.zero_()
            n_running = 0
        if step % cfg.log_every == 0 or step == cfg.steps:
            rate = (step - start) / max(time.perf_counter() - t0, 1e-9)
            log(
                f"step {step}/{cfg.steps}  loss {loss.mean().item():.4f}  "
                f"{rate:.1f} steps/s  eta {(cfg.steps - step) / rate:.0f}s"
            )
        if checkpoint_path is not None and step % cfg.checkpoint_every == 0 and n_running == 0:
            save_checkpoint(
                checkpoint_path,
                {
                    "W": W.detach().cpu(),
                    "b": b.detach().cpu(),
                    "opt": opt.state_dict(),
                    "rng": [g.get_state() for g in g_batch + g_aug],
                    "hist": hist,
                    "step": step,
                },
                fp,
            )
    with torch.no_grad():
        cos = cosine_matrix(W, M).cpu().numpy()
    return _to_dataset(hist, cos, seeds, data)


def _to_dataset(hist, cos, seeds, data) -> xr.Dataset:
    a = np.stack(hist["alignment"], axis=1)  # (seed, step, atom)
    ds = xr.Dataset(
        {
            "loss": (("seed", "step"), np.stack(hist["loss"], 1), cf("InfoNCE training loss", "1")),
            "alignment": (
                ("seed", "step", "atom"),
                a,
                cf("atom alignment max_i |cos(w_i, M_j)|", "1"),
            ),
            "align_max": (("seed", "step"), a.max(-1), cf("alignment, best atom", "1")),
            "align_median": (("seed", "step"), np.median(a, -1), cf("alignment, median atom", "1")),
            "align_min": (("seed", "step"), a.min(-1), cf("alignment, worst atom", "1")),
            "dense_fraction": (
                ("seed", "step"),
                np.stack(hist["dense_fraction"], 1),
                cf("dense fraction of the weights", "1"),
            ),
            "probe_auc": (
                ("seed", "step"),
                np.stack(hist["probe_auc"], 1),
                cf("support probe AUC (held-out)", "1"),
            ),
            "bias_mean": (("seed", "step"), np.stack(hist["bias"], 1), cf("mean bias b_i", "1")),
            "cos_final": (
                ("seed", "neuron", "atom"),
                cos,
                cf("final |cos(w_i, M_j)|", "1"),
            ),
        },
        coords={
            "seed": ("seed", seeds, cf("seed", "1")),
            "step": ("step", np.asarray(hist["step"]), cf("training step", "1")),
            "atom": ("atom", data.atom.values, cf("dictionary atom j", "1")),
            "neuron": ("neuron", np.arange(cos.shape[1]), cf("neuron i", "1")),
        },
        attrs={"title": "Wen & Li feature decoupling: metrics over training"},
    )
    return ds
