"""The training job of the temperature family: an encoder per seed on an image source.

Every step draws, per seed, ``batch_size`` distinct training images (stream
``temperature/batches``) and two augmented views of each (stream
``temperature/augment``), and minimises the configured loss with in-batch
negatives. Every ``eval_every`` steps the held-out split is evaluated:
uniformity -L_unif, tolerance, alignment, local separation (positive and
top-10 negative similarity), the entropy of the relative penalty r_i, a
logistic-regression probe and a 2-D PCA picture. The held-out views are drawn
from the stream ``temperature/eval_augment`` afresh each round, so every round sees the
same pairs.
Data tensors, the encoder, the batches and the metrics shared with the digits_augment
family are :class:`contrastlab.families.image_task.ImageContrastTask`'s; this module adds
the losses, the temperature-specific metrics and the result variables.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from contrastlab.families.image_task import ImageContrastTask, Views
from contrastlab.families.temperature.config import TemperatureConfig
from contrastlab.families.temperature.metrics import penalty_entropy
from contrastlab.images.digits import Augment
from contrastlab.losses.hard import hard_infonce_in_batch, hard_simple_in_batch, n_hard
from contrastlab.losses.infonce import infonce_in_batch
from contrastlab.losses.memory_bank import bank_infonce, ema_update
from contrastlab.losses.ntxent import nt_xent
from contrastlab.losses.simple import simple_in_batch
from contrastlab.metrics.embedding import local_separation, tolerance
from contrastlab.results import cf

TOP_K = 10  # negatives of the local-separation measure, as the paper
ANALYTIC_VARS = (
    "penalty_curve",
    "penalty_entropy_analytic",
    "hard_mass_analytic",
    "penalty_max_analytic",
    "penalty_tv_uniform",
)


def contrastive_loss(
    z1: torch.Tensor, z2: torch.Tensor, cfg: TemperatureConfig, tau: torch.Tensor | None = None
) -> torch.Tensor:
    """The configured loss of two views' embeddings, symmetric over the views.

    Args:
        z1, z2: embeddings. Shape: (seed, batch, dim).
        cfg: the config (``loss`` section).
        tau: the temperature per seed (a fused job's members), Shape: (seed, 1, 1);
            default ``cfg.temperature``.

    Returns:
        Shape: (seed,).
    """
    kind = cfg.kind
    tau = cfg.temperature if tau is None else tau
    if kind == "infonce":
        if cfg.negatives == "nt_xent":
            return nt_xent(z1, z2, tau)
        return infonce_in_batch(z1, z2, tau)
    if kind == "hard":
        return hard_infonce_in_batch(z1, z2, tau, cfg.hard_fraction)
    if kind == "simple":
        return simple_in_batch(z1, z2, cfg.lam())
    if kind == "hard_simple":
        return hard_simple_in_batch(z1, z2, cfg.lam(), cfg.hard_fraction)
    raise ValueError(f"loss.kind must be infonce, hard, simple or hard_simple, got {kind!r}")


class TemperatureTask(ImageContrastTask):
    """All seeds of one sweep point of the temperature family: the arguments of
    :class:`ImageContrastTask`, ``data`` from :func:`.data.synthesize`."""

    family = "temperature"
    summary_metrics = (
        ("probe", "probe_acc", 3),
        ("-L_unif", "neg_unif", 2),
        ("tol", "tolerance", 2),
    )

    def __init__(self, cfg, data, seeds, device="cpu", members=None) -> None:
        super().__init__(cfg, data, seeds, device, members)
        # tau per member (fusable: a fused job trains several temperatures at once)
        self.tau = self.member_tensor(cfg, "temperature", self.device).view(-1, 1, 1)
        self.bank = None
        if cfg.negatives == "memory_bank":  # one EMA feature per image a batch can draw
            gens = self.streams("bank_init")
            n = self.index["batch"].shape[1]
            init = torch.stack([torch.randn(n, cfg.embed_dim, generator=g) for g in gens])
            self.bank = torch.nn.functional.normalize(init, dim=-1).to(self.device)
            self.g_bank = self.streams("bank")
            self.rng = self.rng + self.g_bank

    def strength(self, cfg: TemperatureConfig) -> str:
        return cfg.strength

    def digits_augmentation(self, cfg: TemperatureConfig) -> Augment:
        return Augment(cfg.shift, cfg.noise, cfg.erase_prob, cfg.erase_size)

    def loss(self, batch: Views) -> torch.Tensor:
        if self.bank is not None:
            return self.bank_loss(batch)
        v1, v2 = batch
        return contrastive_loss(self.embed(v1), self.embed(v2), self.cfg, self.tau)

    def bank_loss(self, batch: Views) -> torch.Tensor:
        """InfoNCE (or the hard loss) of view 1 against the memory bank, then the bank's
        EMA update of the batch's images (:mod:`contrastlab.losses.memory_bank`)."""
        cfg, rows = self.cfg, self._seed_index
        f = self.embed(batch[0])
        n = self.bank.shape[1]
        neg = torch.stack(
            [torch.randperm(n, generator=g)[: cfg.bank_negatives] for g in self.g_bank]
        ).to(self.device)
        hard = cfg.hard_fraction if cfg.kind == "hard" else None
        loss = bank_infonce(f, self.bank[rows, batch.idx], self.bank[rows, neg], self.tau, hard)
        ema_update(self.bank, batch.idx, f.detach(), cfg.bank_momentum)
        return loss

    def state_dict(self) -> dict:
        """The encoder's state and, with a memory bank, the bank."""
        out = super().state_dict()
        if self.bank is not None:
            out["memory_bank"] = self.bank
        return out

    @torch.no_grad()
    def evaluate(self, r: int) -> dict[str, np.ndarray]:
        h_train, h_test, z_test, e1, e2 = self.embeddings()
        pos, neg = local_separation(e1, e2, TOP_K)
        return {
            **self.shared_metrics(h_train, h_test, z_test, e1, e2),
            "tolerance": tolerance(z_test, self.y_test_t),
            "pos_sim": pos.mean(-1),
            "neg_top_sim": neg.mean(-1),
            "penalty_entropy": penalty_entropy(e1, e2, self.tau),
        }

    def point_attrs(self, cfg: TemperatureConfig) -> dict:
        """Title, loss kind, temperature and hard-negative count of one point."""
        k = n_hard(cfg.batch_size, cfg.hard_fraction)
        lam = f"{cfg.lam():.4g}"
        loss_name = {
            "infonce": f"InfoNCE (tau = {cfg.temperature})",
            "hard": f"hard contrastive (tau = {cfg.temperature}, {k} nearest negatives)",
            "simple": f"simple (lambda = {lam})",
            "hard_simple": f"HardSimple (lambda = {lam}, {k} nearest negatives)",
        }[cfg.kind]
        return {
            "title": f"Wang & Liu 2021 on {cfg.source}: {loss_name}",
            "loss_kind": cfg.kind,
            "loss_temperature": float(cfg.temperature),
            "hard_negatives": int(k),
            "loss_negatives": cfg.negatives,
        }

    def to_dataset(
        self, history: dict[str, np.ndarray], coords: np.ndarray, final: dict[str, np.ndarray]
    ) -> xr.Dataset:
        ss = ("seed", "step")
        n_test = self.n_test

        def f64(name):
            return np.asarray(history[name], dtype=np.float64)

        ds = xr.Dataset(
            {
                **self.shared_variables(history, final),
                "tolerance": (
                    ss,
                    f64("tolerance"),
                    cf("tolerance: mean same-class cosine (held out)", "1"),
                ),
                "pos_sim": (ss, f64("pos_sim"), cf("positive similarity s_ii (held out)", "1")),
                "neg_top_sim": (
                    ss,
                    f64("neg_top_sim"),
                    cf(f"mean of the top-{TOP_K} negative similarities (held out)", "1"),
                ),
                "penalty_entropy": (
                    ss,
                    f64("penalty_entropy"),
                    cf(
                        f"entropy of r_i at the point's tau over {n_test - 1} held-out negatives",
                        "nat",
                    ),
                ),
            },
            coords=self.shared_coords(coords),
            attrs=self.point_attrs(self.cfg) if self.members is None else {},
        )
        return ds.merge(self.data[list(ANALYTIC_VARS)])
