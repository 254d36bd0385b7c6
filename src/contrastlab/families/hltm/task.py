"""The training job of the HLTM family, for the engine: all seeds in one batched model.

Protocol (authors' ``simCLR_hltm.py``, main loop), one engine round = one epoch:

1. ``begin_round(e)``: draw N fresh anchors, positives and negatives per seed
   (stream ``hltm/data``);
2. ``evaluate(e)``: the metrics on these anchors with the current (frozen)
   parameters -- epoch 0 is therefore the initialisation;
3. if e < epochs, ``batches(e)``: one epoch of plain SGD on them in
   mini-batches of ``batch_size`` (in order; the last batch may be smaller);
   the engine records the mean batch loss as ``loss[e + 1]``.

So ``epoch = k`` holds the state after k epochs of training; ``loss[0]`` is NaN.
Differences from the authors' script, all statistically neutral: the code
draws a separate fresh set for the evaluation pass (we reuse the training
samples of the epoch, halving the sampling cost), it never evaluates after
its last training epoch (we do: ``epoch = epochs``), it shuffles a fresh
i.i.d. set (order is irrelevant), and its correlation sums are float32
(ours float32 within a chunk of anchors, float64 across chunks).

Random streams per seed (:func:`contrastlab.engine.streams`): ``hltm/tree``
(polarities, drawn by the data stage and read back from its file),
``hltm/data`` (samples, on ``device``), ``hltm/init`` (weights).

Fused sweep points (``members``): the data of several points concatenated
along ``seed``, one config per member; a member uses its own position's tree
and its seed's streams, so it gets its point's solo numbers bit for bit
(tests/hltm/test_fused.py); only the data section may differ between them.

Speed: without BN, :class:`~contrastlab.families.hltm.model.TreeBackward`
(hand-written backward pass, one bmm per height in a feature-major layout,
heights 1 and 2 through the leaf patterns) with the engine's
:class:`~contrastlab.optim.ManualSGD` replaces autograd + ``torch.optim.SGD``;
with BN the autograd path is used. On CPU, one thread per job is about as
fast as two (the ops are too small to split): run jobs in parallel instead.
At the paper's size (N = 64000, hid 10, L = 5) an epoch takes ~0.23 s per seed
with 8 seeds on one thread, sampling and metrics included
(``benchmarks/bench_hltm.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from contrastlab.engine import Task, make_optimizer
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler
from contrastlab.families.hltm.metrics import evaluate_epoch
from contrastlab.families.hltm.model import TreeBackward, TreeNet
from contrastlab.losses import batch_nce, batch_subtract, infonce_distance, soft_triplet

NODE_METRICS = ("best_corr", "cov_op_norm", "cov_op_norm_paper", "weight_norm")

ATTRS = {
    "best_corr": {
        "long_name": "best |corr| of latent with node units",
        "units": "1",
        "description": "max over the node's hid pre-activation units of |Pearson corr| "
        "with the node's latent z_mu, over the epoch's N anchors",
    },
    "best_corr_height": {
        "long_name": "mean best |corr| at height",
        "units": "1",
        "description": "mean of best_corr over the latent nodes of one height",
    },
    "cov_op_norm": {
        "long_name": "covariance operator norm",
        "units": "1",
        "description": "Frobenius norm of sum_k p_k (Kbar_k - Kbar)(Kbar_k - Kbar)^T, "
        "K = input (x) J unfolded as in the authors' code: rows (input, root unit)",
    },
    "cov_op_norm_paper": {
        "long_name": "covariance operator norm (paper unfolding)",
        "units": "1",
        "description": "as cov_op_norm with the paper's K_l = f_{l-1} (x) J_l^T: rows "
        "(input, node unit), contracted over the root units",
    },
    "weight_norm": {
        "long_name": "weight norm",
        "units": "1",
        "description": "Frobenius norm of the node's weight matrix (bias excluded)",
    },
    "loss": {
        "long_name": "training loss",
        "units": "1",
        "description": "mean mini-batch loss of the training epoch ending at this epoch "
        "(NaN at epoch 0)",
    },
}


def hltm_loss(cfg: HLTMConfig, f3: torch.Tensor) -> torch.Tensor:
    """The configured loss of a forward pass over [anchors; positives; negatives].

    Args:
        cfg: the run's config (``loss``, ``temperature``, ``triplet_margin``).
        f3: outputs of the concatenated batch. Shape: (seed, 3 B, d).

    Returns:
        Shape: (seed,).
    """
    f, f_pos, f_neg = f3.chunk(3, dim=1)
    if cfg.loss == "nce":
        return batch_nce(f, f_pos, f_neg, cfg.temperature)
    if cfg.loss == "subtract":
        return batch_subtract(f, f_pos, f_neg)
    if cfg.loss == "infonce":
        return infonce_distance(f, f_pos, f_neg, cfg.temperature)
    if cfg.loss == "soft_triplet":
        return soft_triplet(f, f_pos, f_neg, cfg.temperature, cfg.triplet_margin)
    raise ValueError(f"unknown HLTM loss {cfg.loss!r}")


def build_model(cfg: HLTMConfig, sampler: HLTMSampler, task: Task) -> TreeNet:
    """The batched network of the sampler's seeds, initialised from their ``hltm/init``
    streams (on the CPU)."""
    model = TreeNet(sampler.tree, cfg.hid, len(sampler.seeds), bn=cfg.bn, eps=cfg.eps)
    model.reset_parameters(task.streams("init"))
    return model


class HLTMTask(Task):
    """Tian et al. 2020 HLTM: tree network, fresh samples every epoch, SGD.

    Args:
        cfg: the run's config.
        sampler: the trees of the seeds (:meth:`HLTMSampler.from_dataset` of the
            data stage's file).
        device: where to train.
        eval_chunk: anchors per forward pass of the metrics (memory only).
        fast: use the hand-written backward pass (default: whenever ``bn`` is off).
    """

    family = "hltm"
    round_dim = "epoch"

    def __init__(
        self,
        cfg: HLTMConfig,
        sampler: HLTMSampler,
        device: torch.device | str = "cpu",
        eval_chunk: int = 512,
        fast: bool | None = None,
        members: Sequence[HLTMConfig] | None = None,
    ) -> None:
        super().__init__(sampler.seeds, members)
        self.cfg = cfg
        self.sampler = sampler
        self._check_data()
        self.device = torch.device(device)
        self.eval_chunk = eval_chunk
        self.fast = (not cfg.bn) if fast is None else fast
        self.model = build_model(cfg, sampler, self).to(self.device)
        self.rng = self.streams("data", self.device)
        self.n_rounds = cfg.epochs
        self._backward = TreeBackward(self.model) if self.fast else None
        self.samples = None

    def _check_data(self) -> None:
        """The tree data must be those of the config's data section: same tree, and each
        member's polarities within its |rho| range (the data of a fused job are the
        points' data concatenated along ``seed``; their delta attributes may then
        differ and be dropped)."""
        cfg, smp, t = self.cfg, self.sampler, self.sampler.tree
        stale = (t.depth, t.num_children) != (cfg.depth, cfg.num_children)
        for name in ("delta_lower", "delta_upper"):  # when known (not dropped)
            value = getattr(smp, name)
            stale |= not math.isnan(value) and value != getattr(cfg, name)
        lo = torch.tensor(self.member_values(cfg, "delta_lower"), dtype=torch.float64)
        hi = torch.tensor(self.member_values(cfg, "delta_upper"), dtype=torch.float64)
        rho, tol = smp.rho.abs(), 1e-12  # rho = +-(lo + (hi - lo) v): within rounding
        stale |= bool(((rho < lo[:, None] - tol) | (rho > hi[:, None] + tol)).any())
        if stale:
            raise ValueError(
                f"the tree data ({t}, delta {smp.delta_lower}..{smp.delta_upper}) do not "
                "match the config's data section; delete the stale data file and rerun"
            )

    def parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.model.named_parameters())

    def optimizer(self):
        if self._backward is not None:
            return self._backward.optimizer(self.cfg.lr, lambda f3: hltm_loss(self.cfg, f3))
        return make_optimizer("sgd", self.model.parameters(), self.cfg.lr)

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def begin_round(self, r: int) -> None:
        self.samples = self.sampler.sample_triplets(self.cfg.samples_per_epoch, self.rng)

    def evaluate(self, r: int) -> dict:
        return evaluate_epoch(
            self.model,
            self.samples.anchors,
            chunk=self.eval_chunk,
            cov_samples=self.cfg.cov_samples,
        )

    def batches(self, r: int):
        """[anchors | positives | negatives] of each mini-batch, feature-major
        (:meth:`Triplets.batches`: one buffer, each batch is used before the next)."""
        self.model.train()
        yield from self.samples.batches(self.cfg.batch_size)

    def loss(self, batch: torch.Tensor) -> torch.Tensor:
        return hltm_loss(self.cfg, self.model(batch, bn_groups=3))

    def summary(self, metrics: dict) -> str:
        root = metrics["best_corr"][:, 0]
        return f"root_corr {root.mean():.3f} (min {root.min():.3f})"

    def to_dataset(self, history: dict, coords: np.ndarray, final: dict) -> xr.Dataset:
        return metrics_dataset(history, self.seeds, self.sampler.tree)


def metrics_dataset(metrics: dict[str, np.ndarray], seeds: Sequence[int], tree) -> xr.Dataset:
    """Wrap the metric arrays into the documented ``xarray.Dataset``."""
    S, E1 = metrics["loss"].shape
    dims_node = ("seed", "epoch", "node")
    data_vars = {k: (dims_node, metrics[k], dict(ATTRS[k])) for k in NODE_METRICS}
    data_vars["best_corr_height"] = (
        ("seed", "epoch", "height"),
        metrics["best_corr_height"],
        dict(ATTRS["best_corr_height"]),
    )
    data_vars["loss"] = (("seed", "epoch"), metrics["loss"], dict(ATTRS["loss"]))
    n = tree.n_latent
    coords = {
        "seed": ("seed", np.asarray(seeds, dtype=np.int64), {"long_name": "seed", "units": "1"}),
        "epoch": (
            "epoch",
            np.arange(E1, dtype=np.int64),
            {"long_name": "epochs of training", "units": "1"},
        ),
        "node": (
            "node",
            np.arange(n, dtype=np.int64),
            {"long_name": "latent node (breadth-first, 0 = root)", "units": "1"},
        ),
        "height": (
            "height",
            np.arange(1, tree.depth + 1, dtype=np.int64),
            {"long_name": "height above the leaves (L = root)", "units": "1"},
        ),
        "node_height": (
            "node",
            tree.node_height[:n],
            {"long_name": "height above the leaves", "units": "1"},
        ),
        "node_level": (
            "node",
            tree.node_level[:n],
            {"long_name": "tree level (0 = root)", "units": "1"},
        ),
        "node_name": (
            "node",
            np.array(tree.node_name[:n]).astype(str),
            {"long_name": "node name (authors' naming)", "units": "1"},
        ),
    }
    return xr.Dataset(data_vars=data_vars, coords=coords)
