"""The training job of the temperature family: one batched MLP per seed on the digits.

Every step draws, per seed, ``batch_size`` distinct training images (stream
``temperature/batches``) and two augmented views of each (stream
``temperature/augment``), and minimises the configured loss with in-batch
negatives. Every ``eval_every`` steps the held-out split is evaluated:
uniformity -L_unif, tolerance, alignment, local separation (positive and
top-10 negative similarity), the entropy of the relative penalty r_i, a
logistic-regression probe and a 2-D PCA picture. The held-out views are drawn
once (stream ``temperature/eval_augment``) so every round sees the same pairs.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import xarray as xr

from contrastlab.digits import PIXELS, Augment, two_views
from contrastlab.engine import Task, make_optimizer
from contrastlab.families.temperature.config import TemperatureConfig
from contrastlab.families.temperature.metrics import pca_2d, penalty_entropy, probe_accuracy
from contrastlab.families.temperature.model import BatchedMLP
from contrastlab.losses.hard import hard_infonce_in_batch, hard_simple_in_batch, n_hard
from contrastlab.losses.infonce import infonce_in_batch
from contrastlab.losses.simple import simple_in_batch
from contrastlab.metrics.embedding import alignment, local_separation, neg_uniformity, tolerance
from contrastlab.results import cf

UNIFORMITY_T = 2.0  # the t of L_unif used by Wang & Isola and Wang & Liu
TOP_K = 10  # negatives of the local-separation measure, as the paper
ANALYTIC_VARS = (
    "penalty_curve",
    "penalty_entropy_analytic",
    "hard_mass_analytic",
    "penalty_max_analytic",
    "penalty_tv_uniform",
)


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, cfg: TemperatureConfig) -> torch.Tensor:
    """The configured loss of two views' embeddings, symmetric over the views.

    Args:
        z1, z2: embeddings. Shape: (seed, batch, dim).
        cfg: the config (``loss`` section).

    Returns:
        Shape: (seed,).
    """
    kind = cfg.kind
    if kind == "infonce":
        return infonce_in_batch(z1, z2, cfg.temperature)
    if kind == "hard":
        return hard_infonce_in_batch(z1, z2, cfg.temperature, cfg.hard_fraction)
    if kind == "simple":
        return simple_in_batch(z1, z2, cfg.lam())
    if kind == "hard_simple":
        return hard_simple_in_batch(z1, z2, cfg.lam(), cfg.hard_fraction)
    raise ValueError(f"loss.kind must be infonce, hard, simple or hard_simple, got {kind!r}")


class TemperatureTask(Task):
    """All seeds of one sweep point of the temperature family.

    Args:
        cfg: the config of the point.
        data: the output of :func:`contrastlab.families.temperature.data.synthesize`.
        seeds: the seeds (must be those of ``data``, in any order).
        device: where to train.
    """

    family = "temperature"
    round_dim = "step"

    def __init__(
        self,
        cfg: TemperatureConfig,
        data: xr.Dataset,
        seeds: Sequence[int],
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(seeds)
        cfg.check()
        missing = sorted(set(self.seeds) - {int(s) for s in data.seed.values})
        if missing:
            raise ValueError(f"the data file has no seeds {missing}; rerun the data stage")
        data = data.sel(seed=self.seeds)
        self.cfg = cfg
        self.device = torch.device(device)
        dev = self.device

        def tensor(name, dtype=torch.float32):
            return torch.as_tensor(np.asarray(data[name].values), dtype=dtype, device=dev)

        self.x_train = tensor("x_train")
        self.x_test = tensor("x_test")
        # inputs are centred on the training split's mean image [design]: the MLP's
        # embeddings then start spread out instead of nearly collapsed
        self.x_mean = self.x_train.mean(1, keepdim=True)
        self.y_train = data["y_train"].values.astype(np.int64)
        self.y_test = data["y_test"].values.astype(np.int64)
        self.y_test_t = torch.as_tensor(self.y_test, device=dev)
        self.analytic = data[list(ANALYTIC_VARS)]
        self.aug = Augment(cfg.shift, cfg.noise, cfg.erase_prob, cfg.erase_size)
        self.model = BatchedMLP(
            PIXELS, cfg.width, cfg.depth, cfg.embed_dim, self.streams("init"), dev
        )
        self.g_batch = self.streams("batches")
        self.g_aug = self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        with torch.no_grad():
            self.eval_views = two_views(self.x_test, self.aug, self.streams("eval_augment"))
        self.n_rounds = cfg.n_rounds()
        self._seed_index = torch.arange(len(self.seeds), device=dev)[:, None]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of images: the MLP on the pixels minus the training split's mean image.

        Shape: (seed, n, 64) -> (seed, n, embed_dim).
        """
        return self.model(x - self.x_mean)

    def parameters(self) -> dict[str, torch.Tensor]:
        return self.model.named()

    def optimizer(self):
        return make_optimizer(self.cfg.optimizer, self.model.params, self.cfg.lr)

    def round_coord(self, r: int) -> int:
        return min(r * self.cfg.eval_every, self.cfg.steps)

    def batches(self, r: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n_train = self.x_train.shape[1]
        B = self.cfg.batch_size
        for _ in range(self.round_coord(r + 1) - self.round_coord(r)):
            idx = torch.stack([torch.randperm(n_train, generator=g)[:B] for g in self.g_batch])
            x = self.x_train[self._seed_index, idx.to(self.device)]  # (seed, B, 64)
            yield two_views(x, self.aug, self.g_aug)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        v1, v2 = batch
        return contrastive_loss(self.embed(v1), self.embed(v2), self.cfg)

    @torch.no_grad()
    def evaluate(self, r: int) -> dict[str, np.ndarray]:
        z_train = self.embed(self.x_train)
        z_test = self.embed(self.x_test)
        e1, e2 = (self.embed(v) for v in self.eval_views)
        pos, neg = local_separation(e1, e2, TOP_K)
        zte = z_test.double().cpu().numpy()
        return {
            "neg_unif": neg_uniformity(z_test, UNIFORMITY_T),
            "tolerance": tolerance(z_test, self.y_test_t),
            "align": alignment(e1, e2),
            "pos_sim": pos.mean(-1),
            "neg_top_sim": neg.mean(-1),
            "penalty_entropy": penalty_entropy(e1, e2, self.cfg.temperature),
            "probe_acc": probe_accuracy(
                z_train.double().cpu().numpy(), self.y_train, zte, self.y_test
            ),
        }

    @torch.no_grad()
    def final_metrics(self) -> dict[str, np.ndarray]:
        return {"pca": pca_2d(self.embed(self.x_test).double().cpu().numpy())}

    def summary(self, metrics: dict) -> str:
        return (
            f"probe {np.mean(metrics['probe_acc']):.3f} "
            f"-L_unif {np.mean(metrics['neg_unif']):.2f} "
            f"tol {np.mean(metrics['tolerance']):.2f}"
        )

    def to_dataset(
        self, history: dict[str, np.ndarray], coords: np.ndarray, final: dict[str, np.ndarray]
    ) -> xr.Dataset:
        cfg = self.cfg
        ss = ("seed", "step")
        n_test = self.x_test.shape[1]
        k = n_hard(cfg.batch_size, cfg.hard_fraction)
        lam = f"{cfg.lam():.4g}"
        loss_name = {
            "infonce": f"InfoNCE (tau = {cfg.temperature})",
            "hard": f"hard contrastive (tau = {cfg.temperature}, {k} nearest negatives)",
            "simple": f"simple (lambda = {lam})",
            "hard_simple": f"HardSimple (lambda = {lam}, {k} nearest negatives)",
        }[cfg.kind]

        def f64(name):
            return np.asarray(history[name], dtype=np.float64)

        ds = xr.Dataset(
            {
                "loss": (ss, f64("loss"), cf("training loss, mean over the round", "1")),
                "neg_unif": (
                    ss,
                    f64("neg_unif"),
                    cf("uniformity -L_unif (t = 2, held out)", "1"),
                ),
                "tolerance": (
                    ss,
                    f64("tolerance"),
                    cf("tolerance: mean same-class cosine (held out)", "1"),
                ),
                "align": (
                    ss,
                    f64("align"),
                    cf("alignment E|f(x) - f(x+)|^2 (held out)", "1"),
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
                        f"entropy of r_i at tau = {cfg.temperature} over "
                        f"{n_test - 1} held-out negatives",
                        "nat",
                    ),
                ),
                "probe_acc": (
                    ss,
                    f64("probe_acc"),
                    cf("linear-probe accuracy (held out)", "1"),
                ),
                "pca": (
                    ("seed", "test_sample", "component"),
                    np.asarray(final["pca"], dtype=np.float64),
                    cf("final held-out embedding on its first two principal components", "1"),
                ),
                "y_test": (("seed", "test_sample"), self.y_test, cf("digit class (held out)", "1")),
            },
            coords={
                "seed": ("seed", np.asarray(self.seeds, dtype=np.int64), cf("seed", "1")),
                "step": ("step", np.asarray(coords, dtype=np.int64), cf("training step", "1")),
                "test_sample": ("test_sample", np.arange(n_test), cf("held-out sample", "1")),
                "component": ("component", np.array([1, 2]), cf("principal component", "1")),
            },
            attrs={
                "title": f"Wang & Liu 2021 on the digits: {loss_name}",
                "loss_kind": cfg.kind,
                "loss_temperature": float(cfg.temperature),
                "hard_negatives": int(k),
            },
        )
        return ds.merge(self.analytic)
