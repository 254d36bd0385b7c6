"""Training loop of the HLTM experiment, all seeds in one batched model.

Protocol (authors' ``simCLR_hltm.py``, main loop), for epoch e = 0..epochs:

1. draw N fresh anchors, positives and negatives per seed;
2. evaluate the metrics on these anchors with the current (frozen)
   parameters -- epoch 0 is therefore the initialisation;
3. if e < epochs, train one epoch of plain SGD on them in mini-batches of
   ``batch_size`` (in order; the last batch may be smaller) and record the
   mean batch loss as ``loss[e + 1]``.

So ``epoch = k`` holds the state after k epochs of training; ``loss[0]`` is NaN.
Differences from the authors' script, all statistically neutral: the code
draws a separate fresh set for the evaluation pass (we reuse the training
samples of the epoch, halving the sampling cost), it never evaluates after
its last training epoch (we do: ``epoch = epochs``), it shuffles a fresh
i.i.d. set (order is irrelevant), and its correlation sums are float32
(ours float64).

Random streams per seed (:func:`contrastlab.utils.generator`): ``hltm/tree``
(polarities), ``hltm/data`` (samples, on ``device``), ``hltm/init`` (weights).

Speed: without BN, :class:`FlatSGD` (hand-written backward pass, one GEMM per
height) replaces autograd + ``torch.optim.SGD``; with BN the autograd path is
used. On CPU, one thread per job is about as fast as two (the ops are too
small to split): run independent jobs in parallel rather than more threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import xarray as xr

from contrastlab.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from contrastlab.hltm.config import HLTMConfig
from contrastlab.hltm.data import DATA_STREAM, HLTMSampler, make_generators
from contrastlab.hltm.losses import hltm_loss
from contrastlab.hltm.metrics import evaluate_epoch
from contrastlab.hltm.model import TreeNet, block_diagonal, block_diagonal_view

INIT_STREAM = "hltm/init"

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


def build_model(cfg: HLTMConfig, seeds: Sequence[int], tree) -> TreeNet:
    """The batched network of ``seeds``, initialised from their ``hltm/init`` streams (CPU)."""
    model = TreeNet(tree, cfg.hid, len(seeds), bn=cfg.bn, eps=cfg.eps)
    model.reset_parameters(make_generators(seeds, INIT_STREAM))
    return model


class FlatSGD:
    """Plain SGD (no momentum, no weight decay) with a hand-written backward pass.

    For a :class:`TreeNet` without BN. Computes what ``TreeNet.forward`` +
    ``loss.sum().backward()`` + ``torch.optim.SGD.step()`` compute (the tests
    check gradients and steps against autograd) with far fewer tensor
    operations: at hid 10 every op is tiny and CPU time goes to per-op
    overhead. Autograd is only used for d loss / d f.

    Each height runs either as one GEMM with the block-diagonal matrix of its
    nodes (flat layout, no copies; wasteful in FLOPs when a height has many
    nodes with many inputs) or as a bmm over (seed, node) after a permute
    (exact FLOPs; per-matrix overhead and two copies). :func:`use_bmm` picks
    the cheaper one; the block-diagonal matrices are kept in sync with
    ``model.weight``.

    Args:
        model: the network (``bn=False``), updated in place.
        lr: learning rate.
    """

    def __init__(self, model: TreeNet, lr: float) -> None:
        if model.bn:
            raise ValueError("FlatSGD supports bn=False only")
        self.model = model
        self.lr = float(lr)
        self.bmm = [
            use_bmm(n, i, model.hid) for n, i in zip(model.n_nodes, model.in_dims, strict=True)
        ]
        self.W = [
            None if nm else block_diagonal(w.detach())
            for nm, w in zip(self.bmm, model.weight, strict=True)
        ]

    def _linear(self, h: int, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pre-activation of height h (flat layout) and the node-major input, if used."""
        m = self.model
        S, B, _ = inp.shape
        n, i, o = m.n_nodes[h], m.in_dims[h], m.hid
        if not self.bmm[h]:
            return torch.baddbmm(m.bias[h].reshape(S, 1, -1), inp, self.W[h]), None
        x = inp.view(S, B, n, i).transpose(1, 2).reshape(S * n, B, i)  # node-major copy
        w = m.weight[h].detach().reshape(S * n, o, i).transpose(1, 2)
        pre = torch.baddbmm(m.bias[h].reshape(S * n, 1, o), x, w)  # (S*n, B, o)
        return pre.view(S, n, B, o).transpose(1, 2).reshape(S, B, n * o), x

    @torch.no_grad()
    def gradients(self, xb: torch.Tensor, loss_fn) -> tuple[torch.Tensor, list, list]:
        """Loss and parameter gradients for one batch (no update).

        Args:
            xb: inputs. Shape: (seed, B, n_leaves).
            loss_fn: maps the network output f (seed, B, hid) to a loss per seed.

        Returns:
            loss (seed,), weight grads (seed, n_h, hid, in_h) and bias grads
            (seed, n_h, hid) per height.
        """
        m = self.model
        S, B, _ = xb.shape
        L, o = m.tree.depth, m.hid
        inps, inps_nm, pres = [], [], []
        inp = xb
        for h in range(L):
            pre, x_nm = self._linear(h, inp)  # (S, B, n*hid)
            inps.append(inp)
            inps_nm.append(x_nm)
            pres.append(pre)
            if h + 1 < L:
                inp = torch.relu(pre)
        r = pres[-1]  # root pre-activation, (S, B, hid)
        nrm = r.norm(dim=-1, keepdim=True)
        den = nrm + m.eps
        f = r / den
        with torch.enable_grad():
            fl = f.detach().requires_grad_(True)
            loss = loss_fn(fl)
            (g,) = torch.autograd.grad(loss.sum(), fl)
        # f = r / (|r| + eps): dL/dr = g / den - r (g . r) / (|r| den^2)
        dot = (g * r).sum(-1, keepdim=True)
        coef = torch.where(nrm > 0, dot / (nrm * den * den), 0.0)
        g = g / den - r * coef
        gW, gb = [None] * L, [None] * L
        for h in range(L - 1, -1, -1):
            n, i = m.n_nodes[h], m.in_dims[h]
            gb[h] = g.sum(1).view(S, n, o)
            if self.bmm[h]:
                g_nm = g.view(S, B, n, o).transpose(1, 2).reshape(S * n, B, o)
                gW[h] = torch.bmm(g_nm.transpose(1, 2), inps_nm[h]).view(S, n, o, i)
            else:
                gWbd = torch.bmm(inps[h].transpose(1, 2), g)  # (S, n*in, n*hid)
                gW[h] = block_diagonal_view(gWbd, n)  # (S, n, hid, in) view
            if h > 0:  # d/d input of height h, then the ReLU gate of height h - 1
                if self.bmm[h]:
                    w = m.weight[h].detach().reshape(S * n, o, i)
                    g = torch.bmm(g_nm, w).view(S, n, B, i).transpose(1, 2).reshape(S, B, n * i)
                else:
                    g = torch.bmm(g, self.W[h].transpose(1, 2))
                g = torch.ops.aten.threshold_backward(g, pres[h - 1], 0)
        return loss.detach(), gW, gb

    @torch.no_grad()
    def step(self, xb: torch.Tensor, loss_fn) -> torch.Tensor:
        """One SGD step on a batch; returns the loss per seed (before the step)."""
        loss, gW, gb = self.gradients(xb, loss_fn)
        m = self.model
        for h in range(m.tree.depth):
            m.weight[h].add_(gW[h], alpha=-self.lr)
            m.bias[h].add_(gb[h], alpha=-self.lr)
            if self.W[h] is not None:
                block_diagonal_view(self.W[h], m.n_nodes[h]).copy_(m.weight[h])
        return loss


def use_bmm(n: int, n_in: int, hid: int) -> bool:
    """Whether a height of ``n`` nodes (n_in inputs, hid outputs each) runs as a bmm.

    The block-diagonal GEMM costs n^2 * n_in * hid multiply-adds per sample,
    the bmm n * n_in * hid plus a per-matrix overhead and two copies. Measured
    on a 2-core CPU at batch 3 * 128 the bmm only pays from about 8 nodes with
    >= 100 weights each (height 2 at hid 10, L = 5: 5-15% faster with 3-8
    seeds per batch, 5% slower with one).
    """
    return n >= 8 and n_in * hid >= 100


def train_epoch(
    model: TreeNet,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    x_pos: torch.Tensor,
    x_neg: torch.Tensor,
    cfg: HLTMConfig,
    fast: bool | None = None,
) -> torch.Tensor:
    """One epoch of SGD over the given samples, in order.

    Each step concatenates the anchors, positives and negatives of the batch
    into one forward pass (BN, if any, keeps three separate batch statistics)
    and steps on the sum over seeds of the per-seed losses.

    Args:
        x, x_pos, x_neg: Shape: (seed, N, n_leaves).
        optimizer: ``torch.optim.SGD`` over ``model.parameters()`` (autograd path).
        fast: use :class:`FlatSGD` (default: whenever ``cfg.bn`` is False).

    Returns:
        Mean mini-batch loss per seed. Shape: (seed,).
    """
    model.train()
    fast = (not cfg.bn) if fast is None else fast
    N, B = x.shape[1], cfg.batch_size
    total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    steps = 0

    def loss_fn(f: torch.Tensor) -> torch.Tensor:
        f, f_pos, f_neg = f.chunk(3, dim=1)
        return hltm_loss(cfg.loss, f, f_pos, f_neg, cfg.temperature, cfg.triplet_margin)

    flat = FlatSGD(model, cfg.lr) if fast else None
    for i in range(0, N, B):
        xb = torch.cat([x[:, i : i + B], x_pos[:, i : i + B], x_neg[:, i : i + B]], dim=1)
        if flat is not None:
            loss = flat.step(xb, loss_fn)
        else:
            loss = loss_fn(model(xb, bn_groups=3))
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            loss = loss.detach()
        total += loss
        steps += 1
    return (total / steps).cpu()


def _job_config(cfg: HLTMConfig, device: torch.device) -> dict:
    """What a checkpoint must match: every field but ``epochs`` (a run may be extended)."""
    job = {"experiment": "hltm", **cfg.to_dict(), "device": device.type}
    del job["epochs"]
    return job


def train_hltm(
    cfg: HLTMConfig,
    seeds: Sequence[int],
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
    checkpoint_path: str | None = None,
    checkpoint_every: int = 1,
    eval_chunk: int = 512,
) -> xr.Dataset:
    """Train the HLTM network of every seed (batched) and return its metrics.

    Args:
        cfg: the run's configuration.
        seeds: experiment seeds; each seed's tree, data and init come from its
            own generators, so the numbers of a seed do not depend on which
            other seeds share the batch.
        device: ``"cpu"`` or ``"cuda"``.
        log: receives one progress line per epoch.
        checkpoint_path: if given, a checkpoint (model and optimizer state,
            RNG states, next epoch, metrics so far, config) is written there
            atomically every ``checkpoint_every`` epochs and at the end, and a
            run resumes from it when its config (all fields but ``epochs``, so
            a finished run can be extended), seeds and device type match
            (otherwise it is ignored, with a log line saying why). A resumed
            run gives exactly the numbers of an uninterrupted one.
        checkpoint_every: epochs between checkpoints.
        eval_chunk: anchors per forward pass of the metrics (memory only).

    Returns:
        Dataset with dims ``seed``, ``epoch`` (0..epochs), ``node`` (latent
        nodes, breadth-first, root = 0) and ``height`` (1..L); variables
        ``best_corr``, ``cov_op_norm``, ``cov_op_norm_paper``, ``weight_norm``
        (seed, epoch, node), ``best_corr_height`` (seed, epoch, height) and
        ``loss`` (seed, epoch); coords ``node_height``, ``node_level``,
        ``node_name`` (node).
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be non-empty and distinct, got {seeds}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    device = torch.device(device)
    S, E = len(seeds), cfg.epochs
    sampler = HLTMSampler.from_config(cfg, seeds)
    tree = sampler.tree
    model = build_model(cfg, seeds, tree).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.0, weight_decay=0.0)
    data_gens = make_generators(seeds, DATA_STREAM, device)

    metrics = {
        k: torch.full((S, E + 1, tree.n_latent), math.nan, dtype=torch.float64)
        for k in NODE_METRICS
    }
    metrics["best_corr_height"] = torch.full((S, E + 1, tree.depth), math.nan, dtype=torch.float64)
    metrics["loss"] = torch.full((S, E + 1), math.nan, dtype=torch.float64)

    fp = fingerprint(_job_config(cfg, device), seeds)
    start = 0
    state = load_checkpoint(checkpoint_path, fp, log=log)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for g, rng in zip(data_gens, state["rng"], strict=True):
            g.set_state(rng)
        for k, v in state["metrics"].items():
            m = min(v.shape[1], E + 1)  # the stored run may have had fewer/more epochs
            metrics[k][:, :m] = v[:, :m]
        start = int(state["epoch"])

    def checkpoint(next_epoch: int, rng: list[torch.Tensor]) -> None:
        save_checkpoint(
            checkpoint_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": rng,
                "epoch": next_epoch,
                "step": next_epoch,
                "metrics": metrics,
                "cfg": cfg.to_dict(),
                "seeds": seeds,
            },
            fp,
        )

    for e in range(start, E + 1):
        t0 = time.perf_counter()
        rng_before = [g.get_state() for g in data_gens]
        data = sampler.sample_triplets(cfg.samples_per_epoch, data_gens)
        x = data.x
        res = evaluate_epoch(model, data.z, x, chunk=eval_chunk, cov_samples=cfg.cov_samples)
        for k, v in res.items():
            metrics[k][:, e] = v
        t_eval = time.perf_counter() - t0
        if e < E:
            loss = train_epoch(model, optimizer, x, data.x_pos, data.x_neg, cfg)
            metrics["loss"][:, e + 1] = loss
            if not torch.isfinite(loss).all():
                log(f"warning: non-finite loss at epoch {e + 1}: {loss.tolist()}")
        dt = time.perf_counter() - t0
        root = metrics["best_corr"][:, e, 0]
        loss_txt = f"{metrics['loss'][:, e].mean():.4f}" if e > 0 else "nan"
        log(
            f"hltm epoch {e:3d}/{E} loss {loss_txt} root_corr {root.mean():.3f} "
            f"(min {root.min():.3f}) {dt:6.2f} s (eval {t_eval:.2f} s) "
            f"{S * cfg.samples_per_epoch / dt:,.0f} seed-samples/s"
        )
        if checkpoint_path is None:
            continue
        if e == E:
            # Final state: store it *before* this epoch's sampling, so that a run
            # with more epochs resumes here, re-draws the same samples and trains on them.
            checkpoint(E, rng_before)
        elif (e + 1) % checkpoint_every == 0:
            checkpoint(e + 1, [g.get_state() for g in data_gens])
    return metrics_dataset(metrics, seeds, tree)


def metrics_dataset(metrics: dict[str, torch.Tensor], seeds: Sequence[int], tree) -> xr.Dataset:
    """Wrap the metric arrays into the documented ``xarray.Dataset``."""
    S, E1 = metrics["loss"].shape
    dims_node = ("seed", "epoch", "node")
    data_vars = {k: (dims_node, metrics[k].numpy(), dict(ATTRS[k])) for k in NODE_METRICS}
    data_vars["best_corr_height"] = (
        ("seed", "epoch", "height"),
        metrics["best_corr_height"].numpy(),
        dict(ATTRS["best_corr_height"]),
    )
    data_vars["loss"] = (("seed", "epoch"), metrics["loss"].numpy(), dict(ATTRS["loss"]))
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
