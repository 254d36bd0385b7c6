"""The one training engine every family uses.

A family describes one training job (all seeds of one sweep point, batched:
seed is the leading dimension of every trained tensor) as a :class:`Task`;
the :class:`Engine` owns the loop:

    for r in 0 .. n_rounds:
        task.begin_round(r)            # e.g. draw the epoch's fresh samples
        metrics[r] = task.evaluate(r)  # state after r rounds (r = 0: initialisation)
        if r < n_rounds:
            for batch in task.batches(r):
                loss = task.loss(batch)          # (seed,)
                loss.sum().backward(); optimizer.step()
            check: loss and weights finite, |w| <= max_abs_weight, each member's
                parameter norm <= max_growth x its norm at step 0 (else DivergenceError)
            progress line (round, loss, speed, ETA); checkpoint every k rounds

A round is what a family evaluates after: ``eval_every`` steps (Wen & Li) or
one epoch (HLTM). ``metrics["loss"][r]`` is the mean training loss of the
round that ended at r (NaN at r = 0).

Random numbers: every seed has its own named streams, :func:`streams`
``(seeds, family, name)`` -> one ``torch.Generator`` per seed, seeded from
``(seed, "<family>/<name>")``. So a seed gets the same numbers alone or in
a batch. The generators the training loop draws from (``Task.rng``) are
saved in checkpoints.

Fused sweep points: one job may train several sweep points of an experiment
that differ only in the family's ``fusable`` keys (e.g. the temperature).
Then the leading dimension holds *members*, point-major: the seeds of the
first point, then those of the second, ... (seed values repeat), and
``Task.members`` holds each member's typed config; a task reads a
hyper-parameter per member with :meth:`Task.member_values`. Every member
draws from its own seed's streams and sees only its own slice, so it gets the
numbers of its point's solo job, bit for bit on CPU (tests/test_fuse.py).

Checkpoints (:mod:`contrastlab.checkpoint`): written atomically every
``checkpoint_every`` rounds (evaluation rounds, not optimiser steps) and at the
end; reused only when their fingerprint -- family, resolved config, seeds,
device type and package version -- equals the job's; a resumed job gives
exactly the numbers of an uninterrupted one. Whether the job resumed, started
afresh (and why: a damaged or another job's checkpoint) or had none is said in
its log and on the terminal, and kept in the results' attribute ``checkpoint``.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from contrastlab import __version__
from contrastlab.checkpoint import fingerprint, load_checkpoint_status, save_checkpoint
from contrastlab.errors import ContrastlabError
from contrastlab.optim import SGD, Adam
from contrastlab.utils import generator, to_terminal


class DivergenceError(ContrastlabError, RuntimeError):
    """Training produced a non-finite loss or weight, or weights that ran away; the
    message says where."""


def stream_name(family: str, name: str) -> str:
    """The one naming scheme of random streams: ``<family>/<name>``."""
    return f"{family}/{name}"


def streams(
    seeds: Sequence[int], family: str, name: str, device: str | torch.device = "cpu"
) -> list[torch.Generator]:
    """One generator per seed for the stream ``<family>/<name>``."""
    return [generator(int(s), stream_name(family, name), device) for s in seeds]


def make_optimizer(
    kind: str,
    params: Iterable[torch.Tensor],
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
):
    """The optimiser ``kind`` (``adam`` | ``sgd``; SGD with optional momentum and weight
    decay): the numbers of ``torch.optim``'s, without its start-up cost
    (:mod:`contrastlab.optim`)."""
    params = list(params)
    if kind == "adam":
        if momentum or weight_decay:
            raise ValueError("train.momentum and train.weight_decay apply to sgd only")
        return Adam(params, lr=lr)
    if kind == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; known: adam, sgd")


class Task(ABC):
    """One training job of a family, all seeds batched. Subclasses fill it in.

    Attributes:
        family: the family's name (names the random streams).
        seeds: the seed of every member, in the order of the leading dimension
            (distinct in a one-point job; repeated per point in a fused job).
        members: a fused job's typed config per member (``None``: one point).
        n_rounds: evaluation rounds after the initialisation.
        round_dim: name of the round coordinate in the results (``step``, ``epoch``).
        rng: generators the training loop draws from (saved in checkpoints).
    """

    family: str = ""
    round_dim: str = "step"

    def __init__(self, seeds: Sequence[int], members: Sequence[Any] | None = None) -> None:
        self.seeds = [int(s) for s in seeds]
        self.members = list(members) if members is not None else None
        if self.members is None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if not self.seeds:
            raise ValueError("a task needs at least one seed")
        if self.members is not None and len(self.members) != len(self.seeds):
            raise ValueError(
                f"one config per member needed: {len(self.members)} for {len(self.seeds)} seeds"
            )
        self.n_rounds = 0
        self.rng: list[torch.Generator] = []

    def member_values(self, cfg: Any, name: str) -> list:
        """Hyper-parameter ``name`` of every member: ``cfg.<name>`` for all in a
        one-point job, each member's own value in a fused job."""
        if self.members is None:
            return [getattr(cfg, name)] * len(self.seeds)
        return [getattr(m, name) for m in self.members]

    def member_tensor(
        self, cfg: Any, name: str, device: str | torch.device = "cpu", dtype=torch.float32
    ) -> torch.Tensor:
        """:meth:`member_values` as a tensor. Shape: (member,). A one-point job uses the
        same tensor code as a fused one, so both give the same bits."""
        return torch.tensor(self.member_values(cfg, name), dtype=dtype, device=device)

    def member_name(self, i: int) -> str:
        """Names member ``i`` in messages: its seed (and its point in a fused job)."""
        label = getattr(self, "member_labels", None)
        return f"{label[i]}, seed {self.seeds[i]}" if label else f"seed {self.seeds[i]}"

    def streams(self, name: str, device: str | torch.device = "cpu") -> list[torch.Generator]:
        return streams(self.seeds, self.family, name, device)

    # -- what a family implements -------------------------------------------------
    @abstractmethod
    def parameters(self) -> dict[str, torch.Tensor]:
        """Trained tensors by name, seed first (checked for non-finite values)."""

    @abstractmethod
    def optimizer(self):
        """A torch optimiser over :meth:`parameters`, or an object with
        ``train_step(batch) -> loss`` (optimisers with their own backward pass)."""

    def step_rounds(self, steps: int, eval_every: int) -> None:
        """Rounds of ``eval_every`` optimiser steps, the last possibly shorter: sets
        ``n_rounds``; ``round_coord(r)`` is then the steps done after r rounds."""
        self._steps, self._eval_every = int(steps), int(eval_every)
        self.n_rounds = math.ceil(self._steps / self._eval_every)

    def round_coord(self, r: int) -> int:
        """Coordinate value of round ``r``: the steps done after r rounds with
        :meth:`step_rounds`, else r (e.g. epochs)."""
        if getattr(self, "_eval_every", None):
            return min(r * self._eval_every, self._steps)
        return r

    def steps_in_round(self, r: int) -> int:
        """Optimiser steps of training round ``r`` (with :meth:`step_rounds`)."""
        return self.round_coord(r + 1) - self.round_coord(r)

    def begin_round(self, r: int) -> None:  # noqa: B027 (optional hook)
        """Called before evaluating round ``r`` (e.g. to draw the epoch's samples)."""

    @abstractmethod
    def batches(self, r: int) -> Iterable[Any]:
        """The mini-batches of training round ``r`` (0 <= r < n_rounds)."""

    @abstractmethod
    def loss(self, batch: Any) -> torch.Tensor:
        """Loss per seed on one batch. Shape: (seed,)."""

    @abstractmethod
    def evaluate(self, r: int) -> dict[str, Any]:
        """Metrics after r rounds, each with a leading seed dimension."""

    def final_metrics(self) -> dict[str, Any]:
        """Metrics taken once, after training (e.g. a final weight matrix)."""
        return {}

    def summary(self, metrics: dict[str, Any]) -> str:
        """A few words of metrics for the progress line (optional)."""
        return ""

    def point_attrs(self, cfg: Any) -> dict:
        """Global attributes of one sweep point's results, from its typed config (e.g.
        its loss); the pipeline adds them to each point's dataset (fused or not), so
        :meth:`to_dataset` of a fused job must not set attributes that differ by point."""
        return {}

    def state_dict(self) -> dict:
        """Model state to checkpoint (default: the parameters)."""
        return {k: v.detach().cpu().clone() for k, v in self.parameters().items()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            for k, v in self.parameters().items():
                v.copy_(state[k].to(v.device))

    @abstractmethod
    def to_dataset(self, history: dict[str, np.ndarray], coords: np.ndarray, final: dict):
        """Wrap the stacked metrics (seed, round, ...), the round coordinate values and
        the :meth:`final_metrics` into the family's xarray.Dataset."""


def _to_numpy(v: Any) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return np.asarray(v)


class Engine:
    """Runs a :class:`Task`: the loop, progress lines, checkpoints and the divergence guard.

    Args:
        task: the job.
        config: the resolved config of the job (part of the checkpoint fingerprint).
        where: names the job in messages, e.g. ``"experiment hltm, point hid=2"``.
        log: a print-like function for progress lines.
        checkpoint_path: where to save/resume (None: never).
        checkpoint_every: rounds between two checkpoints.
        device: the device trained on (its type is part of the fingerprint).
        max_abs_weight: a weight larger than this in absolute value counts as diverged
            (the models here start at |w| < 1 and stay within a few units).
        max_growth: a member whose parameter norm (all its trained tensors together)
            grows to more than this factor times its norm at step 0 counts as diverged:
            runaway growth that stays below ``max_abs_weight`` (e.g. HLTM with SGD at
            lr 1e6 ends at |w| ~ 5e5). Training here changes a norm by well under 100x.
    """

    def __init__(
        self,
        task: Task,
        config: dict,
        where: str = "",
        log: Callable[[str], None] = print,
        checkpoint_path=None,
        checkpoint_every: int = 1,
        device: str | torch.device = "cpu",
        max_abs_weight: float = 1e6,
        max_growth: float = 1e4,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.task = task
        self.where = where or task.family
        self.log = log
        self.checkpoint_path = checkpoint_path
        self.checkpoint_every = checkpoint_every
        self.max_abs_weight = float(max_abs_weight)
        self.max_growth = float(max_growth)
        self.init_norm: torch.Tensor | None = None  # (member,), set by run()
        self.checkpoint_status = "none"
        job = {
            "family": task.family,
            "config": config,
            "device": torch.device(device).type,
            "version": __version__,
        }
        self.fingerprint = fingerprint(job, task.seeds)

    def step(self, opt, batch) -> torch.Tensor:
        """One optimiser step on ``batch`` (what training and the benchmarks time).
        Returns the loss per member before the step."""
        if hasattr(opt, "train_step"):
            return opt.train_step(batch)
        opt.zero_grad(set_to_none=True)
        loss = self.task.loss(batch)
        loss.sum().backward()
        opt.step()
        return loss.detach()

    def train_round(self, opt, r: int) -> torch.Tensor:
        """Train round ``r``: one step per batch. Returns the losses, Shape (steps, seed)."""
        losses = [self.step(opt, batch) for batch in self.task.batches(r)]
        return torch.stack(losses).detach().double().cpu()

    def member_norms(self) -> torch.Tensor:
        """Each member's parameter norm: all its trained tensors together, float64 on the
        CPU. Shape: (member,)."""
        total = None
        for p in self.task.parameters().values():
            sq = p.detach().reshape(p.shape[0], -1).double().square().sum(-1)
            total = sq if total is None else total + sq
        return total.sqrt().cpu()

    def _guard(self, r: int, losses: torch.Tensor, first_step: int) -> None:
        """Stop on a non-finite loss or weight, a weight above ``max_abs_weight`` or a
        parameter norm above ``max_growth`` times its initial value, naming where, which
        member and when."""
        task = self.task
        bad = ~torch.isfinite(losses)
        if bad.any():
            i, s = (int(v) for v in bad.nonzero()[0])
            raise DivergenceError(
                f"{self.where}, {task.member_name(s)}: training loss is "
                f"{losses[i, s].item()} at step {first_step + i + 1} (round {r + 1}); "
                "lower train.lr (or check the data) and rerun"
            )
        for name, p in task.parameters().items():
            big = p.detach().abs().reshape(p.shape[0], -1).amax(-1)
            bad = ~torch.isfinite(big) | (big > self.max_abs_weight)
            if bad.any():
                s = int(bad.nonzero()[0])
                what = (
                    "became non-finite"
                    if not torch.isfinite(big[s])
                    else f"exploded (|w| = {big[s].item():.3g} > {self.max_abs_weight:g})"
                )
                raise DivergenceError(
                    f"{self.where}, {task.member_name(s)}: weights {name!r} {what} by step "
                    f"{first_step + losses.shape[0]} (round {r + 1}); lower train.lr and rerun"
                )
        if self.init_norm is None:
            return
        norm = self.member_norms()
        bad = (self.init_norm > 0) & (norm > self.max_growth * self.init_norm)
        if bad.any():
            s = int(bad.nonzero()[0])
            grew, init = norm[s].item(), self.init_norm[s].item()
            raise DivergenceError(
                f"{self.where}, {task.member_name(s)}: weights exploded (parameter norm "
                f"{grew:.3g}, {grew / init:.3g} times its {init:.3g} at step 0 > max_growth "
                f"{self.max_growth:g}) by step {first_step + losses.shape[0]} (round {r + 1}); "
                "lower train.lr and rerun"
            )

    def run(self):
        """Train and return the family's dataset of metrics over rounds."""
        task, log = self.task, self.log
        R = task.n_rounds
        opt = task.optimizer()
        history: list[dict[str, np.ndarray]] = []
        start, steps_done = 0, 0
        last_loss = np.full(len(task.seeds), math.nan)
        self.init_norm = self.member_norms()  # before a checkpoint replaces the weights
        state, self.checkpoint_status = load_checkpoint_status(
            self.checkpoint_path, self.fingerprint, log
        )
        if self.checkpoint_status != "none":  # also on the terminal, not only in the log
            to_terminal(f"{self.where}: {self.checkpoint_status}")
        if state is not None:
            task.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            for g, st in zip(task.rng, state["rng"], strict=True):
                g.set_state(st)
            history, start = state["history"], int(state["round"])
            steps_done, last_loss = int(state["steps_done"]), state["last_loss"]
        t_start = time.perf_counter()
        t_round, n_steps = t_start, 0
        for r in range(start, R + 1):
            task.begin_round(r)
            rec = {k: _to_numpy(v) for k, v in task.evaluate(r).items()}
            rec["loss"] = np.asarray(last_loss, dtype=np.float64)
            history.append(rec)
            if r > start:  # one progress line per trained round, after its evaluation
                now = time.perf_counter()
                per_round = (now - t_start) / (r - start)
                extra = task.summary(rec)
                log(
                    f"{task.family} {task.round_dim} {task.round_coord(r)} (round {r}/{R}) "
                    f"loss {np.mean(last_loss):.4f}"
                    + (f" {extra}" if extra else "")
                    + f" | {now - t_round:.2f} s, {n_steps / max(now - t_round, 1e-9):.1f} "
                    f"steps/s, eta {(R - r) * per_round:.0f} s"
                )
            if r == R:
                break
            t_round = time.perf_counter()
            losses_t = self.train_round(opt, r)  # (steps, seed)
            self._guard(r, losses_t, steps_done)
            n_steps = losses_t.shape[0]
            steps_done += n_steps
            last_loss = losses_t.mean(0).numpy()
            if self.checkpoint_path is not None and (
                (r + 1) % self.checkpoint_every == 0 or r + 1 == R
            ):
                save_checkpoint(
                    self.checkpoint_path,
                    {
                        "model": task.state_dict(),
                        "optimizer": opt.state_dict(),
                        "rng": [g.get_state() for g in task.rng],
                        "history": history,
                        "round": r + 1,
                        "step": steps_done,
                        "steps_done": steps_done,
                        "last_loss": last_loss,
                    },
                    self.fingerprint,
                )
        stacked = {k: np.stack([h[k] for h in history], axis=1) for k in history[0]}
        coords = np.asarray([task.round_coord(r) for r in range(R + 1)], dtype=np.int64)
        final = {k: _to_numpy(v) for k, v in task.final_metrics().items()}
        ds = task.to_dataset(stacked, coords, final)
        ds.attrs["checkpoint"] = self.checkpoint_status
        return ds
