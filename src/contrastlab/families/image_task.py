"""The training job both digits families share: a batched MLP on two views of the digits.

:class:`DigitsContrastTask` is a :class:`contrastlab.engine.Task` with all that the
temperature family (Wang & Liu 2021) and the digits_augment family (Wen & Li 2021's
digits substitute) have in common; a family subclass adds its loss, its own metrics
and its result variables:

* data: the per-seed split of :func:`contrastlab.digits.split_dataset`; inputs are
  centred on the training split's mean image [design: the MLP's embeddings then start
  spread out instead of nearly collapsed];
* model: :class:`contrastlab.mlp.BatchedMLP` (64 pixels -> ``depth`` x ``width`` ->
  ``embed_dim``, L2-normalised), initialised from the stream ``<family>/init``;
* batches: every step draws, per seed, ``batch_size`` distinct training images
  (stream ``<family>/batches``) and two augmented views of each
  (stream ``<family>/augment``), :func:`contrastlab.digits.two_views`;
* evaluation every ``eval_every`` steps on the held-out split, whose two views are
  drawn once (stream ``<family>/eval_augment``) so every round sees the same pairs:
  :meth:`~DigitsContrastTask.embeddings` and the shared metrics
  (:meth:`~DigitsContrastTask.shared_metrics`: uniformity -L_unif, alignment and a
  logistic-regression probe), plus a final 2-D PCA of the held-out embedding.

The config object needs the attributes ``width``, ``depth``, ``embed_dim``, ``steps``,
``eval_every``, ``batch_size``, ``lr``, ``optimizer`` and a ``check()`` method.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from contrastlab.digits import PIXELS, Augment, two_views
from contrastlab.engine import Task, make_optimizer
from contrastlab.metrics.embedding import alignment, neg_uniformity, pca_2d
from contrastlab.metrics.probes import probe_accuracy
from contrastlab.mlp import BatchedMLP
from contrastlab.results import cf

UNIFORMITY_T = 2.0  # the t of L_unif used by Wang & Isola and Wang & Liu


class DigitsContrastTask(Task):
    """All seeds of one sweep point of a digits family (subclasses set ``family``).

    Args:
        cfg: the config of the point (see the module docstring for what it needs).
        data: a dataset with the variables of :func:`contrastlab.digits.split_dataset`.
        seeds: the seeds (must be those of ``data``, in any order).
        device: where to train.
        members: a fused job's typed config per member (``data`` then holds the
            members in order); the views' augmentation is then per member.

    Subclasses say how their config sets the views' augmentation (:meth:`augmentation`),
    and add :meth:`loss`, :meth:`evaluate` and :meth:`to_dataset`.
    """

    round_dim = "step"
    # the progress line's metrics: (label, metric, decimals)
    summary_metrics: tuple[tuple[str, str, int], ...] = (
        ("probe", "probe_acc", 3),
        ("-L_unif", "neg_unif", 2),
        ("align", "align", 3),
    )

    def __init__(
        self,
        cfg: Any,
        data: xr.Dataset,
        seeds: Sequence[int],
        device: str | torch.device = "cpu",
        members: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(seeds, members)
        cfg.check()
        missing = sorted(set(self.seeds) - {int(s) for s in data.seed.values})
        if missing:
            raise ValueError(f"the data file has no seeds {missing}; rerun the data stage")
        if [int(s) for s in data.seed.values] != self.seeds:
            data = data.sel(seed=self.seeds)
        self.data = data
        self.cfg = cfg
        self.device = torch.device(device)
        dev = self.device

        def tensor(name, dtype=torch.float32):
            return torch.as_tensor(np.asarray(data[name].values), dtype=dtype, device=dev)

        self.x_train = tensor("x_train")
        self.x_test = tensor("x_test")
        self.x_mean = self.x_train.mean(1, keepdim=True)
        self.y_train = data["y_train"].values.astype(np.int64)
        self.y_test = data["y_test"].values.astype(np.int64)
        self.y_test_t = torch.as_tensor(self.y_test, device=dev)
        self.aug = (
            self.augmentation(cfg)
            if self.members is None
            else [self.augmentation(m) for m in self.members]
        )
        self.model = BatchedMLP(
            PIXELS, cfg.width, cfg.depth, cfg.embed_dim, self.streams("init"), dev
        )
        self.g_batch = self.streams("batches")
        self.g_aug = self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        with torch.no_grad():
            self.eval_views = two_views(self.x_test, self.aug, self.streams("eval_augment"))
        self.step_rounds(cfg.steps, cfg.eval_every)
        self._seed_index = torch.arange(len(self.seeds), device=dev)[:, None]

    @abstractmethod
    def augmentation(self, cfg: Any) -> Augment:
        """The augmentation of the views (all strengths 0: two identical views)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of images: the MLP on the pixels minus the training split's mean image.

        Shape: (seed, n, 64) -> (seed, n, embed_dim).
        """
        return self.model(x - self.x_mean)

    def parameters(self) -> dict[str, torch.Tensor]:
        return self.model.named()

    def optimizer(self):
        return make_optimizer(self.cfg.optimizer, self.model.params, self.cfg.lr)

    def batches(self, r: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The two views of ``batch_size`` distinct training images per seed and step."""
        n_train = self.x_train.shape[1]
        B = self.cfg.batch_size
        for _ in range(self.steps_in_round(r)):
            idx = torch.stack([torch.randperm(n_train, generator=g)[:B] for g in self.g_batch])
            x = self.x_train[self._seed_index, idx.to(self.device)]  # (seed, B, 64)
            yield two_views(x, self.aug, self.g_aug)

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, ...]:
        """``(z_train, z_test, e1, e2)``: the training and held-out images' embeddings and
        those of the held-out views. Shape: (seed, n, embed_dim) each."""
        e1, e2 = (self.embed(v) for v in self.eval_views)
        return self.embed(self.x_train), self.embed(self.x_test), e1, e2

    def shared_metrics(
        self, z_train: torch.Tensor, z_test: torch.Tensor, e1: torch.Tensor, e2: torch.Tensor
    ) -> dict[str, Any]:
        """-L_unif of the held-out embedding, alignment of the held-out views and the
        held-out accuracy of a logistic-regression probe fit on the training split."""
        return {
            "neg_unif": neg_uniformity(z_test, UNIFORMITY_T),
            "align": alignment(e1, e2),
            "probe_acc": probe_accuracy(
                z_train.double().cpu().numpy(),
                self.y_train,
                z_test.double().cpu().numpy(),
                self.y_test,
            ),
        }

    def summary(self, metrics: dict) -> str:
        return " ".join(
            f"{label} {np.mean(metrics[name]):.{digits}f}"
            for label, name, digits in self.summary_metrics
        )

    @torch.no_grad()
    def final_metrics(self) -> dict[str, np.ndarray]:
        return {"pca": pca_2d(self.embed(self.x_test).double().cpu().numpy())}

    def shared_variables(
        self, history: dict[str, np.ndarray], final: dict[str, np.ndarray]
    ) -> dict[str, tuple]:
        """The result variables of :meth:`shared_metrics`, the loss, the PCA and the labels."""
        ss = ("seed", "step")

        def f64(name):
            return np.asarray(history[name], dtype=np.float64)

        return {
            "loss": (ss, f64("loss"), cf("training loss, mean over the round", "1")),
            "neg_unif": (ss, f64("neg_unif"), cf("uniformity -L_unif (t = 2, held out)", "1")),
            "align": (ss, f64("align"), cf("alignment E|f(x) - f(x+)|^2 (held out)", "1")),
            "probe_acc": (ss, f64("probe_acc"), cf("linear-probe accuracy (held out)", "1")),
            "pca": (
                ("seed", "test_sample", "component"),
                np.asarray(final["pca"], dtype=np.float64),
                cf("final held-out embedding on its first two principal components", "1"),
            ),
            "y_test": (("seed", "test_sample"), self.y_test, cf("digit class (held out)", "1")),
        }

    def shared_coords(self, coords: np.ndarray) -> dict[str, tuple]:
        """Coordinates ``seed``, ``step``, ``test_sample`` and ``component``."""
        return {
            "seed": ("seed", np.asarray(self.seeds, dtype=np.int64), cf("seed", "1")),
            "step": ("step", np.asarray(coords, dtype=np.int64), cf("training step", "1")),
            "test_sample": (
                "test_sample",
                np.arange(self.x_test.shape[1]),
                cf("held-out sample", "1"),
            ),
            "component": ("component", np.array([1, 2]), cf("principal component", "1")),
        }
