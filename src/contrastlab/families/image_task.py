"""The training job every family that trains on images shares: an encoder per seed on two
views of an image source.

:class:`ImageContrastTask` is a :class:`contrastlab.engine.Task` with all that the
temperature family (Wang & Liu 2021) and the digits_augment family (Wen & Li 2021's
image experiments) have in common; a family subclass adds its loss, its own metrics and
its result variables:

* data (:func:`image_dataset`, the data stage): per seed, the images of ``data.source``
  (:mod:`contrastlab.images.sources`): the digits' flat pixels, the ``shapes`` images
  (uint8) with every image's factors, or a real data set's indices into the files of
  ``data.root`` (the images are read from there, never copied per seed);
* inputs: digits centred on the training split's mean image; images scaled to [0, 1],
  augmented, then standardised per channel by the training split's mean and std
  [design]; uint8 images stay resident on the job's device and the views are made there
  (:mod:`contrastlab.images.augment`, one generator per seed);
* model: the encoder of ``model.encoder`` (:func:`contrastlab.encoders.make_encoder`),
  initialised from the stream ``<family>/init``;
* batches: every step draws, per seed, ``batch_size`` distinct training images (stream
  ``<family>/batches``) and two augmented views of each (stream ``<family>/augment``);
* evaluation every ``eval_every`` steps on the held-out split, whose two views are drawn
  afresh from the stream ``<family>/eval_augment`` at every round (so every round sees the
  same pairs without storing them): uniformity -L_unif, alignment and a
  logistic-regression probe of the class on the representation (the MLP's embedding, the
  conv encoders' pooled backbone features), plus a final 2-D PCA of the embedding.

The config needs the :class:`contrastlab.images.config.ImageDataConfig` and
:class:`contrastlab.encoders.config.EncoderConfig` keys and ``steps``, ``eval_every``,
``batch_size``, ``lr``, ``optimizer`` and a ``check()`` method.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from contrastlab.encoders import make_encoder
from contrastlab.engine import Task, make_optimizer
from contrastlab.images import augment as image_augment
from contrastlab.images import digits
from contrastlab.images.sources import load_pools
from contrastlab.metrics.embedding import alignment, neg_uniformity, pca_2d, spread
from contrastlab.metrics.probes import probe_accuracy
from contrastlab.results import cf

UNIFORMITY_T = 2.0  # the t of L_unif used by Wang & Isola and Wang & Liu


class Views(tuple):
    """A training batch: the pair ``(view1, view2)``, with ``idx`` the batch's images
    (positions in the seed's batch pool, Shape (seed, B)) for losses that need them (a
    memory bank)."""

    idx: torch.Tensor

    def __new__(cls, views: tuple[torch.Tensor, torch.Tensor], idx: torch.Tensor):
        out = super().__new__(cls, views)
        out.idx = idx
        return out


EVAL_CHUNK = 1024  # images per forward pass in an evaluation


class ImageContrastTask(Task):
    """All seeds of one sweep point of an image family (subclasses set ``family``).

    Args:
        cfg: the config of the point (see the module docstring for what it needs).
        data: the data stage's dataset (:func:`contrastlab.images.sources.source_dataset`).
        seeds: the seeds (must be those of ``data``, in any order).
        device: where to train.
        members: a fused job's typed config per member (``data`` then holds the
            members in order); the views' augmentation is then per member.

    Subclasses say which augmentation strength a config asks for (:meth:`strength`),
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
        self.device = dev = torch.device(device)
        self.flat = cfg.source == "digits"
        pools = load_pools(cfg, data)  # shared image pools and per-seed indices into them
        self.pools = {k: torch.as_tensor(pools[k], device=dev) for k in ("train", "test")}
        self.index = {
            k: torch.as_tensor(pools[f"{k}_index"], device=dev) for k in ("train", "test", "batch")
        }
        self.n_train, self.n_test = (self.index[k].shape[1] for k in ("train", "test"))
        if self.flat:
            self.shift = self.x_train.mean(1, keepdim=True)
            self.scale = torch.ones_like(self.shift)
        else:  # per-channel mean and std of every seed's training split, in chunks
            self.shift, self.scale = self._channel_stats()
        self.y_train = data["y_train"].values.astype(np.int64)
        self.y_test = data["y_test"].values.astype(np.int64)
        self.y_test_t = torch.as_tensor(self.y_test, device=dev)
        per_member = [cfg] * len(self.seeds) if self.members is None else self.members
        specs = [self.augmentation(m) for m in per_member]
        self.aug = specs[0] if self.members is None else specs
        self.model = make_encoder(cfg, self.image_shape(), self.streams("init"), dev)
        self.g_batch = self.streams("batches")
        self.g_aug = self.streams("augment")
        self.rng = self.g_batch + self.g_aug
        self.step_rounds(cfg.steps, cfg.eval_every)
        self._seed_index = torch.arange(len(self.seeds), device=dev)[:, None]

    # -- what a family says -------------------------------------------------------------------
    @abstractmethod
    def strength(self, cfg: Any) -> str:
        """The augmentation level of a config: ``none``, ``weak`` or ``strong``."""

    def digits_augmentation(self, cfg: Any) -> digits.Augment:
        """The digits' augmentation of a config (default: its level's
        ``cfg.level()``)."""
        return digits.Augment(**cfg.level(self.strength(cfg)))

    def augmentation(self, cfg: Any):
        """The views' augmentation of one member: the digits' own, or
        :class:`contrastlab.images.augment.AugmentSpec` of the image level."""
        if self.flat:
            return self.digits_augmentation(cfg)
        return image_augment.AugmentSpec(**cfg.image_level(self.strength(cfg)))

    # -- inputs and the encoder -----------------------------------------------------------------
    def images(self, split: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Raw images ``start:stop`` of every seed's ``train`` or ``test`` split (uint8, or
        the digits' floats). Shape: (seed, n, ...)."""
        return self.pools[split][self.index[split][:, start:stop]]

    @property
    def x_train(self) -> torch.Tensor:
        """Every seed's training images. Shape: (seed, n_train, ...)."""
        return self.images("train")

    @property
    def x_test(self) -> torch.Tensor:
        """Every seed's held-out images. Shape: (seed, n_test, ...)."""
        return self.images("test")

    def _channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of every seed's training images in [0, 1], float64
        sums over chunks. Shape: (seed, 1, C, 1, 1) each."""
        S, C = len(self.seeds), self.pools["train"].shape[1]
        dev = self.device
        total = torch.zeros(S, C, dtype=torch.float64, device=dev)
        total_sq = torch.zeros_like(total)
        for a in range(0, self.n_train, EVAL_CHUNK):
            x = self.images("train", a, a + EVAL_CHUNK).double() / 255
            total += x.sum((1, 3, 4))
            total_sq += x.pow(2).sum((1, 3, 4))
        n = self.n_train * self.pools["train"].shape[2] * self.pools["train"].shape[3]
        mean = total / n
        std = (total_sq / n - mean**2).clamp_min(1e-12).sqrt()
        return mean.float()[:, None, :, None, None], std.float()[:, None, :, None, None]

    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.cfg.image_shape())

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.flat else x.float().div_(255.0)

    def two_views(self, x: torch.Tensor, gens) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views of raw images (uint8 or the digits' floats), in [0, 1]."""
        x = self._float(x)
        if self.flat:
            return digits.two_views(x, self.aug, gens)
        return image_augment.two_views(x, self.aug, gens)

    def represent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(h, z)`` of images in [0, 1]: the representation the probe reads and the
        L2-normalised embedding the loss sees. Shape: (seed, n, ...) -> (seed, n, dim)."""
        x = (x - self.shift) / self.scale
        if self.model.kind == "mlp":
            z = self.model(x.flatten(2))
            return z, z
        return self.model(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The L2-normalised embedding of images in [0, 1]. Shape: (seed, n, embed_dim)."""
        return self.represent(x)[1]

    def parameters(self) -> dict[str, torch.Tensor]:
        return self.model.named()

    def state_dict(self) -> dict:
        """The parameters and the encoder's buffers (BatchNorm's running statistics)."""
        return {**self.model.named(), **self.model.buffers()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for k, v in self.state_dict().items():
                v.copy_(state[k].to(v.device))

    def optimizer(self):
        cfg = self.cfg
        return make_optimizer(
            cfg.optimizer, self.model.params, cfg.lr, cfg.momentum, cfg.weight_decay
        )

    def batches(self, r: int) -> Iterator[Views]:
        """The two views of ``batch_size`` distinct training images per seed and step."""
        self.model.train(True)
        pool, index = self.pools["train"], self.index["batch"]
        n = index.shape[1]
        B = self.cfg.batch_size
        for _ in range(self.steps_in_round(r)):
            idx = torch.stack([torch.randperm(n, generator=g)[:B] for g in self.g_batch])
            idx = idx.to(self.device)
            x = pool[index[self._seed_index, idx]]  # (seed, B, ...)
            yield Views(self.two_views(x, self.g_aug), idx)

    # -- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def _chunked(self, split: str, views: bool = False):
        """``(h, z)`` of a split's raw images in chunks (eval mode); with ``views``, also
        the embeddings of their two held-out views."""
        self.model.train(False)
        gens = self.streams("eval_augment") if views else None
        hs, zs, e1s, e2s = [], [], [], []
        for a in range(0, self.index[split].shape[1], EVAL_CHUNK):
            chunk = self.images(split, a, a + EVAL_CHUNK)
            h, z = self.represent(self._float(chunk))
            hs.append(h)
            zs.append(z)
            if views:
                v1, v2 = self.two_views(chunk, gens)
                e1s.append(self.embed(v1))
                e2s.append(self.embed(v2))
        self.model.train(True)
        cat = [torch.cat(t, 1) for t in (hs, zs)]
        return (*cat, torch.cat(e1s, 1), torch.cat(e2s, 1)) if views else cat

    @property
    @torch.no_grad()
    def eval_views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out split's two views as every evaluation draws them (in [0, 1])."""
        gens = self.streams("eval_augment")
        views = [self.two_views(self.images("test", a, a + EVAL_CHUNK), gens)
                 for a in range(0, self.n_test, EVAL_CHUNK)]  # fmt: skip
        return tuple(torch.cat([v[i] for v in views], 1) for i in range(2))

    @torch.no_grad()
    def embeddings(self) -> tuple[torch.Tensor, ...]:
        """``(h_train, h_test, z_test, e1, e2)``: the representations of the training and
        held-out images, the held-out embedding and those of the held-out views.
        Shape: (seed, n, dim) each."""
        h_train, _ = self._chunked("train")
        h_test, z_test, e1, e2 = self._chunked("test", views=True)
        return h_train, h_test, z_test, e1, e2

    def shared_metrics(
        self,
        h_train: torch.Tensor,
        h_test: torch.Tensor,
        z_test: torch.Tensor,
        e1: torch.Tensor,
        e2: torch.Tensor,
    ) -> dict[str, Any]:
        """-L_unif of the held-out embedding, alignment of the held-out views, the
        held-out accuracy of a logistic-regression probe of the class fit on the training
        split's representation, and the spread of the held-out representation (what the
        probe reads; :func:`contrastlab.metrics.embedding.spread`: near 0 = collapsed)."""
        return {
            "spread": spread(h_test),
            "neg_unif": neg_uniformity(z_test, UNIFORMITY_T),
            "align": alignment(e1, e2),
            "probe_acc": probe_accuracy(
                h_train.double().cpu().numpy(),
                self.y_train,
                h_test.double().cpu().numpy(),
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
        _, z_test = self._chunked("test")
        return {"pca": pca_2d(z_test.double().cpu().numpy())}

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
            "spread": (
                ss,
                f64("spread"),
                cf("spread tr Cov(h) / E|h|^2 of the held-out representation", "1"),
            ),
            "pca": (
                ("seed", "test_sample", "component"),
                np.asarray(final["pca"], dtype=np.float64),
                cf("final held-out embedding on its first two principal components", "1"),
            ),
            "y_test": (("seed", "test_sample"), self.y_test, cf("class (held out)", "1")),
        }

    def shared_coords(self, coords: np.ndarray) -> dict[str, tuple]:
        """Coordinates ``seed``, ``step``, ``test_sample`` and ``component``."""
        return {
            "seed": ("seed", np.asarray(self.seeds, dtype=np.int64), cf("seed", "1")),
            "step": ("step", np.asarray(coords, dtype=np.int64), cf("training step", "1")),
            "test_sample": (
                "test_sample",
                np.arange(self.n_test),
                cf("held-out sample", "1"),
            ),
            "component": ("component", np.array([1, 2]), cf("principal component", "1")),
        }


# the discrete factors of the shapes source a probe asks about (the dense features first)
PROBED_FACTORS = ("noise_pattern", "texture", "bg_colour", "shape_colour")


@torch.no_grad()
def factor_probes(
    task: ImageContrastTask, h_test: torch.Tensor | None = None
) -> dict[str, np.ndarray]:
    """Held-out accuracy of a logistic-regression probe of every discrete nuisance factor
    of the ``shapes`` source from the final representation (what the embedding encodes
    of the dense features), and the chance level of each (its most frequent level's
    share of the held-out split). Empty for other sources.

    Args:
        task: the trained task.
        h_test: the held-out representation if already computed (Shape (seed, n, dim)).

    Returns:
        ``{"factor_probe": (seed, factor), "factor_chance": (seed, factor)}``.
    """
    if task.cfg.source != "shapes":
        return {}
    h_train, _ = task._chunked("train")
    if h_test is None:
        h_test, _ = task._chunked("test")
    h_train, h_test = h_train.double().cpu().numpy(), h_test.double().cpu().numpy()
    acc, chance = [], []
    for name in PROBED_FACTORS:
        y_tr = task.data[f"train_{name}"].values.astype(np.int64)
        y_te = task.data[f"test_{name}"].values.astype(np.int64)
        if min(len(np.unique(y)) for y in y_tr) < 2:  # a constant factor: nothing to probe
            acc.append(np.full(len(task.seeds), np.nan))
        else:
            acc.append(probe_accuracy(h_train, y_tr, h_test, y_te))
        chance.append(np.array([np.bincount(y).max() / len(y) for y in y_te]))
    return {"factor_probe": np.stack(acc, 1), "factor_chance": np.stack(chance, 1)}


def factor_variables(final: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The result variables and coordinate of :func:`factor_probes` (empty without)."""
    if "factor_probe" not in final:
        return {}, {}
    dims = ("seed", "factor")
    return (
        {
            "factor_probe": (
                dims,
                np.asarray(final["factor_probe"], dtype=np.float64),
                cf("final linear-probe accuracy of a nuisance factor (held out)", "1"),
            ),
            "factor_chance": (
                dims,
                np.asarray(final["factor_chance"], dtype=np.float64),
                cf("chance level of the factor probe (held-out majority share)", "1"),
            ),
        },
        {"factor": ("factor", np.array(PROBED_FACTORS), cf("nuisance factor of shapes", "1"))},
    )
