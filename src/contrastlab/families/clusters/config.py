"""Config of the ``clusters`` family (HaoChen & Ma 2023): every key, default and range.

One flat dataclass for the three data kinds (``data.kind``): the keys of the other
kinds are ignored (each key's description says which kind reads it). The
single source of the family's defaults; the JSON schema is generated from it
(:mod:`contrastlab.params`) and ``config/config.yaml`` must agree with it. No
torch import here (the Snakefile imports it).

Defaults: d = 12, s = 3, lambda = 1 (papers.md §3's suggestion); a larger
hypercube in the size of Saunshi et al. 2022 is d = 50, s = 10 (then 2^s = 1024
clusters: with the default sizes only the linear encoder is meaningful, and
``data.n_train`` / ``train.steps`` must grow). Every other constant is ours [design].

References:
    - [0] HaoChen & Ma 2023, A Theoretical Study of Inductive Biases in Contrastive
      Learning, https://arxiv.org/abs/2211.14699
    - [1] Saunshi et al. 2022, Understanding Contrastive Learning Requires
      Incorporating Inductive Biases, https://arxiv.org/abs/2202.14037
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass

from contrastlab.params import param

KINDS = ("hypercube", "manifolds", "digits", "shapes")
HYPERCUBE_AUGMENTATIONS = ("resample", "additive", "multiplicative")
SUB_SHAPES = ("blob", "segment")
ENCODERS = ("linear", "mlp", "smooth", "convnet")
ESTIMATORS = ("unbiased", "plugin")
# The paper's lambda grid (Table 1); the digits grid is a part of it.
PAPER_LAMBDAS = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]
# scikit-learn's bundled digits (kept here so this module needs no sklearn).
DIGIT_IMAGES = 1797
DIGIT_PIXELS = 64
DIGIT_CLASSES = 10
DIGIT_SIDE = 8
SHAPES_CLASSES = 10  # the image layer's default shapes classes


@dataclass
class ClustersConfig:
    """One sweep point of the clusters family (all seeds and all lambdas share it)."""

    # -- data ----------------------------------------------------------------------------------
    data_kind: str = param(
        "hypercube",
        "data",
        "hypercube (x uniform on {+-1}^d, s invariant coordinates), manifolds (r clusters of "
        "r0 augmentation sub-clusters), digits (scikit-learn's 8x8 digits) or shapes (the "
        "procedural RGB shapes of the image layer, its default factors).",
        key="kind",
        choices=KINDS,
    )
    d: int = param(
        12,
        "data",
        "Input dimension of hypercube and manifolds (digits: 64 pixels, ignored).",
        minimum=2,
    )
    s: int = param(
        3, "data", "hypercube: invariant coordinates e_1..e_s (2^s clusters), s <= d.", minimum=1
    )
    r: int = param(4, "data", "manifolds: well-separated clusters r (r <= d).", minimum=2)
    r0: int = param(
        3, "data", "manifolds: augmentation sub-clusters per cluster r0 (on a ring).", minimum=1
    )
    cluster_sep: float = param(
        4.0,
        "data",
        "manifolds: distance between two cluster centres (orthogonal directions).",
        exclusive_minimum=0.0,
    )
    sub_sep: float = param(
        1.0,
        "data",
        "manifolds: distance between neighbouring sub-cluster centres on a cluster's ring.",
        exclusive_minimum=0.0,
    )
    spread: float = param(
        0.1,
        "data",
        "manifolds: std of every coordinate of a point around its sub-cluster (or segment).",
        minimum=0.0,
    )
    sub_shape: str = param(
        "blob",
        "data",
        "manifolds: sub-clusters are Gaussian blobs, or segments (points near a 1-D manifold).",
        choices=SUB_SHAPES,
    )
    segment_length: float = param(
        0.5,
        "data",
        "manifolds: length of a segment sub-cluster (random direction, uniform position).",
        minimum=0.0,
    )
    n_train: int = param(
        2000, "data", "hypercube, manifolds, shapes: training points per seed.", minimum=2
    )
    n_eval: int = param(
        1000,
        "data",
        "hypercube, manifolds, shapes: held-out points per seed (probes score and phi on them).",
        minimum=2,
    )
    test_fraction: float = param(
        0.2,
        "data",
        "digits: fraction of the 1797 digits held out (stratified split drawn from the seed).",
        exclusive_minimum=0.0,
        exclusive_maximum=1.0,
    )
    # -- augmentation --------------------------------------------------------------------------
    augment: str = param(
        "resample",
        "augmentation",
        "hypercube: a view keeps e_1..e_s and re-samples the other d - s coordinates "
        "(exactly 2^s clusters), adds U[-eps, eps] noise to them (the paper's Fig. 1) or "
        "scales each by U(0, 1] (Saunshi et al.).",
        key="kind",
        choices=HYPERCUBE_AUGMENTATIONS,
    )
    eps: float = param(
        0.5,
        "augmentation",
        "hypercube, additive: half-width eps < 1 of the noise on the spurious coordinates.",
        exclusive_minimum=0.0,
        exclusive_maximum=1.0,
    )
    hop_prob: float = param(
        0.1,
        "augmentation",
        "manifolds: probability that a view is drawn in a neighbouring sub-cluster of the "
        "same cluster (otherwise: anywhere in its own sub-cluster).",
        minimum=0.0,
        maximum=1.0,
    )
    shift: int = param(
        1,
        "augmentation",
        "digits: largest random shift of a view in pixels (zero padding).",
        minimum=0,
        maximum=4,
    )
    pixel_noise: float = param(
        0.1, "augmentation", "digits: std of the additive Gaussian pixel noise.", minimum=0.0
    )
    erase_prob: float = param(
        0.5,
        "augmentation",
        "digits: probability that a view has a square patch erased.",
        minimum=0.0,
        maximum=1.0,
    )
    erase_size: int = param(
        3,
        "augmentation",
        "digits: side of the erased square in pixels.",
        minimum=1,
        maximum=DIGIT_SIDE,
    )
    side: int = param(16, "data", "shapes: image side in pixels.", minimum=8, maximum=64)
    # -- model ---------------------------------------------------------------------------------
    encoder: str = param(
        "mlp",
        "model",
        "linear (f(x) = Wx), mlp (ReLU MLP, unrestricted), smooth (the same MLP with every "
        "layer's spectral norm clipped so that its Lipschitz constant is <= model.lipschitz) or "
        "convnet (shapes only: the image layer's ConvNet with a linear head to k).",
        choices=ENCODERS,
    )
    channels: list[int] = param(
        [16, 32, 64],
        "model",
        "convnet: channels of each conv stage (3x3 conv, BatchNorm, ReLU, 2x2 max-pool).",
        minimum=1,
        max_items=6,
    )
    k: int = param(3, "model", "Output dimension k of the encoder (the paper's m).", minimum=1)
    width: int = param(64, "model", "mlp, smooth: hidden units of every hidden layer.", minimum=1)
    depth: int = param(2, "model", "mlp, smooth: hidden ReLU layers.", minimum=1, maximum=6)
    lipschitz: float = param(
        1.5,
        "model",
        "smooth: bound on the encoder's Lipschitz constant (each of the depth + 1 layers gets "
        "spectral norm <= lipschitz^(1/(depth + 1))).",
        exclusive_minimum=0.0,
    )
    # -- loss ----------------------------------------------------------------------------------
    loss_kind: str = param(
        "spectral",
        "loss",
        "The spectral contrastive loss L_lambda (HaoChen & Ma 2023; papers.md §3).",
        key="kind",
        const=True,
    )
    lam: float = param(
        1.0, "loss", "hypercube, manifolds: the weight lambda of L_lambda.", exclusive_minimum=0.0
    )
    lambdas: list[float] = param(
        [1.0, 3.0, 10.0],
        "loss",
        "digits, shapes: the lambda grid (a part of the paper's 0.1 .. 1000); one model per "
        "lambda, trained batched; phi_m is the minimum over it.",
        exclusive_minimum=0.0,
        max_items=16,
    )
    estimator: str = param(
        "unbiased",
        "loss",
        "Mini-batch estimate of L_lambda: unbiased (|C - I|^2 from the off-diagonal pairs of "
        "the batch) or plugin (|C_batch - I|^2, biased by O(1/batch)).",
        choices=ESTIMATORS,
    )
    # -- train ---------------------------------------------------------------------------------
    steps: int = param(600, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(128, "train", "Positive pairs per step.", minimum=2)
    lr: float = param(0.003, "train", "Learning rate.", exclusive_minimum=0.0)
    optimizer: str = param("adam", "train", "adam or sgd (plain).", choices=("adam", "sgd"))
    eval_every: int = param(
        100, "train", "Steps between two evaluations (last round may be shorter).", minimum=1
    )
    probe_ridge: float = param(
        0.001,
        "train",
        "Ridge penalty per sample of the linear probes (fit on the training points).",
        minimum=0.0,
    )
    phi_rank_tol: float = param(
        0.001,
        "train",
        "phi is NaN (that lambda is left out of the minimum) where the smallest eigenvalue of "
        "the held-out E[f f^T] is below this fraction of the largest (collapsed outputs).",
        exclusive_minimum=0.0,
        exclusive_maximum=1.0,
    )
    checkpoint_every: int = param(
        2, "train", "Evaluation rounds between two checkpoints.", minimum=1
    )

    # -- derived -------------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        """Dimension of an input x (64 pixels for digits, 3 x side x side for shapes)."""
        if self.data_kind == "shapes":
            return 3 * self.side * self.side
        return DIGIT_PIXELS if self.data_kind == "digits" else self.d

    @property
    def n_clusters(self) -> int:
        """Classes of the cluster label: 2^s, r, the 10 digits or the shapes' classes."""
        return {
            "hypercube": 2**self.s,
            "manifolds": self.r,
            "digits": DIGIT_CLASSES,
            "shapes": SHAPES_CLASSES,
        }[self.data_kind]

    def split_sizes(self) -> tuple[int, int]:
        """``(n_train, n_eval)`` of this kind (digits: scikit-learn's rounding of the split)."""
        if self.data_kind == "digits":
            n_eval = math.ceil(self.test_fraction * DIGIT_IMAGES)
            return DIGIT_IMAGES - n_eval, n_eval
        return self.n_train, self.n_eval

    @property
    def grid(self) -> list[float]:
        """The lambdas trained (batched): ``loss.lambdas`` for the images (digits, shapes),
        else ``[loss.lam]``."""
        images = self.data_kind in ("digits", "shapes")
        return [float(v) for v in self.lambdas] if images else [self.lam]

    def warnings(self) -> list[str]:
        """Keys set away from their default that this data kind or encoder never reads."""
        synthetic = self.data_kind in ("hypercube", "manifolds")
        reads = {
            "d": synthetic,
            "s": self.data_kind == "hypercube",
            "n_train": synthetic or self.data_kind == "shapes",
            "n_eval": synthetic or self.data_kind == "shapes",
            "side": self.data_kind == "shapes",
            "channels": self.encoder == "convnet",
            "test_fraction": self.data_kind == "digits",
            "augment": self.data_kind == "hypercube",
            "eps": self.data_kind == "hypercube" and self.augment == "additive",
            "lam": synthetic,
            "lambdas": self.data_kind in ("digits", "shapes"),
            "width": self.encoder in ("mlp", "smooth"),
            "depth": self.encoder in ("mlp", "smooth"),
            "lipschitz": self.encoder == "smooth",
            "segment_length": self.data_kind == "manifolds" and self.sub_shape == "segment",
        }
        for name in ("r", "r0", "cluster_sep", "sub_sep", "spread", "sub_shape", "hop_prob"):
            reads[name] = self.data_kind == "manifolds"
        for name in ("shift", "pixel_noise", "erase_prob", "erase_size"):
            reads[name] = self.data_kind == "digits"
        out = []
        fields = self.__dataclass_fields__
        for name, read in reads.items():
            f = fields[name]
            default = f.default if f.default_factory is MISSING else f.default_factory()
            if not read and getattr(self, name) != default:
                key = f"{f.metadata['section']}.{f.metadata.get('key') or name}"
                out.append(
                    f"{key} ({getattr(self, name)}) is not read with data.kind "
                    f"{self.data_kind} and model.encoder {self.encoder}: it changes nothing"
                )
        return out

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part (rough: the data as
        read and as tensors, the probes' labels and fits, the float64 features of every
        evaluation, the weights with Adam's state, one step's activations), all models
        of the lambda grid included."""
        n_train, n_eval = self.split_sizes()
        dim, n_lam, q = self.input_dim, len(self.grid), self.n_clusters
        if self.data_kind == "manifolds":
            q += self.r * self.r0
        hidden = 0 if self.encoder == "linear" else self.width * self.depth
        n_weights = (
            self.k * dim
            if self.encoder == "linear"
            else self.width * (dim + 1)
            + (self.depth - 1) * self.width * (self.width + 1)
            + self.k * (self.width + 1)
        )
        labels = 8.0 * n_seeds * (n_train + n_eval) * (q + 2) * (1 + n_lam)
        label_key = "data.s" if self.data_kind == "hypercube" else "data.n_train"
        return {
            "data.n_train": 3.0 * 4 * n_seeds * n_train * dim,
            "data.n_eval": 3.0 * 4 * n_seeds * 3 * n_eval * dim,
            label_key: labels,
            "model.width": 8.0 * n_seeds * n_lam * (n_train + 3 * n_eval) * (hidden + self.k)
            + 4.0 * 5 * n_seeds * n_lam * n_weights,
            "train.batch_size": 4.0 * 4 * n_seeds * n_lam * 2 * self.batch_size
            * (dim + hidden + self.k),
        }  # fmt: skip

    def check(self) -> None:
        """Cross-field rules (ranges are the schema's job, repeated here for direct use)."""
        if self.k < 1:
            raise ValueError(f"model.k ({self.k}) must be >= 1")
        if self.r0 < 1:
            raise ValueError(f"data.r0 ({self.r0}) must be >= 1")
        if not self.lambdas:
            raise ValueError("loss.lambdas must not be empty")
        if len(set(self.lambdas)) != len(self.lambdas):
            raise ValueError(f"loss.lambdas ({self.lambdas}) must be distinct")
        if self.data_kind == "hypercube" and self.s > self.d:
            raise ValueError(f"data.s ({self.s}) must be <= data.d ({self.d})")
        if self.data_kind == "manifolds" and self.r > self.d:
            raise ValueError(
                f"data.r ({self.r}) must be <= data.d ({self.d}): cluster centres lie on "
                "orthogonal directions"
            )
        n_train, n_eval = self.split_sizes()
        where = "data.test_fraction" if self.data_kind == "digits" else "data.n_train/n_eval"
        if min(n_train, n_eval) <= self.k:
            raise ValueError(
                f"model.k ({self.k}) must be < the training ({n_train}) and held-out ({n_eval}) "
                f"points ({where}): the probes and the whitening of phi need more points than "
                "output dimensions"
            )
        if self.encoder == "linear" and self.k > self.input_dim:
            raise ValueError(
                f"model.k ({self.k}) must be <= the input dimension ({self.input_dim}) for "
                "model.encoder linear: E[f f^T] = W E[x x^T] W^T has rank <= the input dimension"
            )
        if self.encoder == "convnet" and self.data_kind != "shapes":
            raise ValueError(
                f"model.encoder convnet needs data.kind shapes (images), not {self.data_kind}"
            )
        if self.encoder in ("mlp", "smooth") and self.k > self.width + 1:
            raise ValueError(
                f"model.k ({self.k}) must be <= model.width + 1 ({self.width + 1}): the outputs "
                "W h + b of an MLP span at most width + 1 dimensions"
            )
        if self.batch_size > n_train:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be <= the training points "
                f"({n_train}, {where})"
            )
