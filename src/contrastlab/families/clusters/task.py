"""The training job of the clusters family, for the engine: all seeds and lambdas batched.

Seed is the leading dim of every trained tensor, the lambda grid the second
(``loss.lambdas`` for digits, ``[loss.lam]`` otherwise): one model per (seed,
lambda). The engine steps on the sum over seeds of each seed's loss summed over
its lambdas, so every model gets exactly the gradient of its own L_lambda. Every
random draw comes from the seed's own streams (``clusters/init``,
``clusters/batches``, ``clusters/augment``). One evaluation round =
``eval_every`` optimiser steps (the last may be shorter).

Metrics after every round (on the held-out data of the data stage), per seed and lambda:
the plug-in loss terms on the held-out positive pairs, phi (whitened positive-pair
distance), held-out probe relative MSEs (y = x_1, y = v^T x_(1..s), the cluster
one-hot, the sub-cluster one-hot; NaN where the data kind has no such label) and,
for a linear encoder on the hypercube, the principal angles to span(e_1..e_s).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import xarray as xr

from contrastlab.engine import Task, make_optimizer
from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.families.clusters.data import (
    digits_augment,
    hypercube_view,
    manifold_view,
    shapes_views,
)
from contrastlab.families.clusters.metrics import (
    invariant_angles,
    probe_relative_mse,
    whitened_pair_distance,
)
from contrastlab.families.clusters.model import (
    effective_weights,
    encode,
    init_encoder,
    lipschitz_bound,
)
from contrastlab.losses.spectral import spectral_loss, spectral_loss_plugin, spectral_terms
from contrastlab.results import cf

PROBES = ("mse_x1", "mse_lin", "mse_cluster", "mse_sub")


def _nanmin(a: np.ndarray) -> np.ndarray:
    """Minimum over the last axis ignoring NaN (NaN where all are NaN), without a warning."""
    return np.fmin.reduce(a, axis=-1)


def _onehot(ids: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(ids.long(), n).double()


class ClustersTask(Task):
    """HaoChen & Ma: an encoder class trained with L_lambda on positive pairs.

    Args:
        cfg: the job's config.
        data: output of :func:`contrastlab.families.clusters.data.synthesize`.
        device: where to train.
    """

    family = "clusters"
    round_dim = "step"

    def __init__(self, cfg: ClustersConfig, data: xr.Dataset, device: torch.device) -> None:
        super().__init__(data.seed.values)
        self.cfg = cfg
        self.device = device
        self.grid = cfg.grid
        S, L = len(self.seeds), len(self.grid)
        self.lam = torch.tensor(self.grid, device=device).expand(S, L)

        def t(name, dtype=torch.float32):
            return torch.as_tensor(data[name].values, device=device).to(dtype)

        self.x_train, self.x_eval = t("x_train"), t("x_eval")
        self.v1_eval, self.v2_eval = t("view1_eval"), t("view2_eval")
        self.cluster_train = t("cluster_train", torch.long)
        kind = cfg.data_kind
        if kind == "manifolds":
            self.sub_train = t("sub_train", torch.long)
            self.sub_centres, self.seg_dirs = t("sub_centres"), t("seg_dirs")
        self.labels = self._labels(data)
        self.step_rounds(cfg.steps, cfg.eval_every)
        self.conv = None
        if cfg.encoder == "convnet":  # one ConvNet per (seed, lambda), a seed's lambdas alike
            from contrastlab.encoders.convnet import BatchedConvNet

            gens = []
            for g in self.streams("init"):
                for _ in range(L):
                    twin = torch.Generator()
                    twin.set_state(g.get_state())
                    gens.append(twin)
            self.conv = BatchedConvNet(
                3,
                cfg.side,
                channels=tuple(cfg.channels),
                embed_dim=cfg.k,
                proj_hidden=0,
                gens=gens,
                device=device,
            )
            self.conv.normalize = False  # the spectral loss needs the raw f
            self.params = {
                k: v.view(S, L, *v.shape[1:]) for k, v in self.conv.named().items()
            }  # (seed, lam, ...) views of the (seed * lam, ...) leaves
        else:
            self.params = {
                k: v.to(device).requires_grad_()
                for k, v in init_encoder(cfg, self.streams("init"), L).items()
            }
        self.g_batch = self.streams("batches")
        self.g_aug = self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        self.rows = torch.arange(S, device=device)[:, None]
        self.augment = digits_augment(cfg) if kind == "digits" else None

    def _labels(self, data: xr.Dataset) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{probe: (y_train, y_eval)}``, Shape (seed, 1, n, q): the labels of this kind."""
        cfg, dev = self.cfg, self.device

        def pair(fn):
            return tuple(fn(split).unsqueeze(1) for split in ("train", "eval"))

        def x(split):
            return torch.as_tensor(data[f"x_{split}"].values, device=dev).double()

        def ids(name, split):
            return torch.as_tensor(data[f"{name}_{split}"].values, device=dev)

        out = {"mse_cluster": pair(lambda sp: _onehot(ids("cluster", sp), cfg.n_clusters))}
        if cfg.data_kind == "hypercube":
            v = torch.as_tensor(data["label_weights"].values, device=dev).double()
            out["mse_x1"] = pair(lambda sp: x(sp)[..., :1])
            out["mse_lin"] = pair(lambda sp: x(sp)[..., : cfg.s] @ v[:, :, None])
        if cfg.data_kind == "manifolds":
            out["mse_sub"] = pair(lambda sp: _onehot(ids("sub", sp), cfg.r * cfg.r0))
        return out

    # -- the engine's contract ------------------------------------------------------------------
    def parameters(self) -> dict[str, torch.Tensor]:
        return self.params

    def optimizer(self):
        leaves = self.conv.params if self.conv is not None else list(self.params.values())
        return make_optimizer(self.cfg.optimizer, leaves, self.cfg.lr)

    def state_dict(self) -> dict:
        """The parameters (and the ConvNet's BatchNorm running statistics)."""
        if self.conv is None:
            return dict(self.params)
        return {**self.conv.named(), **self.conv.buffers()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for k, v in self.state_dict().items():
                v.copy_(state[k].to(v.device))

    def conv_encode(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """f(x) of every ConvNet: flat shapes images shared by a seed's lambdas.

        Shape: (seed, n, 3 * side * side) -> (seed, lam, n, k).
        """
        S, n = x.shape[:2]
        L, side = len(self.grid), self.cfg.side
        imgs = x.reshape(S, 1, n, 3, side, side).expand(S, L, n, 3, side, side)
        self.conv.train(train)
        _, f = self.conv(imgs.reshape(S * L, n, 3, side, side))
        self.conv.train(True)
        return f.reshape(S, L, n, -1)

    def views(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of the training points ``idx`` (Shape: (seed, batch))."""
        cfg, g = self.cfg, self.g_aug
        if cfg.data_kind == "manifolds":
            sub = self.sub_train[self.rows, idx]
            return tuple(
                manifold_view(self.sub_centres, self.seg_dirs, sub, cfg, g) for _ in range(2)
            )
        x = self.x_train[self.rows, idx]
        if cfg.data_kind == "hypercube":
            return tuple(hypercube_view(x, cfg.s, cfg.augment, cfg.eps, g) for _ in range(2))
        if cfg.data_kind == "shapes":
            return shapes_views(x, cfg.side, g)
        from contrastlab.images.digits import two_views

        return two_views(x, self.augment, g)

    def batches(self, r: int):
        n = self.x_train.shape[1]
        for _ in range(self.steps_in_round(r)):
            idx = torch.stack(
                [torch.randint(n, (self.cfg.batch_size,), generator=g) for g in self.g_batch]
            )
            yield self.views(idx.to(self.device))

    def loss(self, batch) -> torch.Tensor:
        v1, v2 = batch
        both = torch.cat([v1, v2], dim=1)  # both views, one pass
        f = self.conv_encode(both, True) if self.conv else encode(self.params, both, self.cfg)
        f1, f2 = f.split(v1.shape[1], dim=2)
        form = spectral_loss if self.cfg.estimator == "unbiased" else spectral_loss_plugin
        return form(f1, f2, self.lam).sum(1)  # (seed,): each lambda's model its own loss

    @torch.no_grad()
    def evaluate(self, r: int) -> dict:
        cfg = self.cfg
        p = {k: v.detach().double() for k, v in self.params.items()}  # metrics in float64
        # a model with non-finite weights gets NaN metrics (the engine's guard names it)
        ok = torch.stack([v.isfinite().flatten(2).all(-1) for v in p.values()]).all(0)
        if self.conv is not None:  # the ConvNet in float32, eval mode; features in float64

            def f(x):
                return self.conv_encode(x, False).double()  # (S, L, n, k)

        else:
            p = {k: torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in p.items()}
            Ws = effective_weights(p, cfg)

            def f(x):
                return encode(p, x.double(), cfg, Ws)  # (S, L, n, k)

        f_train, f_eval, f1, f2 = f(self.x_train), f(self.x_eval), f(self.v1_eval), f(self.v2_eval)
        pos, reg = spectral_terms(f1, f2)
        nan = torch.full_like(pos, math.nan)
        out = {
            "loss_pos": pos,
            "loss_reg": reg,
            "loss_eval": pos + self.lam.double() * reg,
            "phi": whitened_pair_distance(f1, f2, cfg.phi_rank_tol),
        }
        for name in PROBES:
            if name in self.labels:
                y_tr, y_ev = self.labels[name]
                out[name] = probe_relative_mse(f_train, y_tr, f_eval, y_ev, cfg.probe_ridge)
            else:
                out[name] = nan
        if cfg.encoder == "linear" and cfg.data_kind == "hypercube":
            angles = invariant_angles(p["W0"], cfg.s)
            out["angle_max"], out["angle_mean"] = angles.amax(-1), angles.mean(-1)
        else:
            out["angle_max"] = out["angle_mean"] = nan
        out["lipschitz"] = lipschitz_bound(p, cfg) if self.conv is None else nan
        return {k: torch.where(ok, v, torch.nan) for k, v in out.items()}

    def summary(self, metrics: dict) -> str:
        phi = metrics["phi_min"] if "phi_min" in metrics else _nanmin(metrics["phi"])
        phi = f"{np.mean(phi[np.isfinite(phi)]):.3f}" if np.isfinite(phi).any() else "nan"
        return f"phi {phi} cluster-probe {np.mean(metrics['mse_cluster']):.3f}"

    def to_dataset(self, history: dict, coords: np.ndarray, final: dict) -> xr.Dataset:
        st, stl = ("seed", "step"), ("seed", "step", "lam")
        phi = history["phi"]
        h = history
        variables = {
            "loss": (
                st,
                h["loss"],
                cf("training loss L_lambda (mini-batch), summed over the lambda grid", "1"),
            ),
            "loss_eval": (stl, h["loss_eval"], cf("held-out L_lambda (plug-in)", "1")),
            "loss_pos": (stl, h["loss_pos"], cf("held-out E_pos |f(x) - f(x+)|^2", "1")),
            "loss_reg": (stl, h["loss_reg"], cf("held-out |E f f^T - I|_F^2", "1")),
            "phi": (stl, phi, cf("whitened positive-pair distance phi", "1")),
            "phi_min": (st, _nanmin(phi), cf("phi, minimum over the lambda grid", "1")),
            "mse_x1": (stl, h["mse_x1"], cf("probe relative MSE, y = x_1", "1")),
            "mse_lin": (
                stl,
                h["mse_lin"],
                cf("probe relative MSE, y = v^T x_(1..s)", "1"),
            ),
            "mse_cluster": (stl, h["mse_cluster"], cf("probe relative MSE, cluster one-hot", "1")),
            "mse_sub": (stl, h["mse_sub"], cf("probe relative MSE, sub-cluster one-hot", "1")),
            "angle_max": (
                stl,
                h["angle_max"],
                cf("largest principal angle to span(e_1..e_s)", "degree"),
            ),
            "angle_mean": (
                stl,
                h["angle_mean"],
                cf("mean principal angle to span(e_1..e_s)", "degree"),
            ),
            "lipschitz": (
                stl,
                h["lipschitz"],
                cf("product of the layers' spectral norms (Lipschitz bound)", "1"),
            ),
        }
        return xr.Dataset(
            variables,
            coords={
                "seed": ("seed", self.seeds, cf("seed", "1")),
                "step": ("step", coords, cf("training step", "1")),
                "lam": ("lam", np.asarray(self.grid), cf("lambda of L_lambda", "1")),
            },
            attrs={"title": "HaoChen & Ma clusters: metrics over training"},
        )
