"""The engine's optimisers.

:class:`Adam` and :class:`SGD` compute exactly what ``torch.optim.Adam`` and
``torch.optim.SGD`` compute on CPU (their single-tensor code path, default
hyper-parameters; ``tests/test_optim.py`` checks it bit for bit), without
their start-up cost: constructing a ``torch.optim`` optimiser imports
``torch._dynamo`` (about 0.9 s on the 2-core development machine), which
every training job would pay before its first step.

:class:`ManualSGD` is plain batched SGD for models that compute their own
gradients (a hand-written backward pass, e.g. the HLTM tree network, whose
ops are so small that autograd's per-op overhead dominates on CPU). The
engine calls ``train_step(batch)`` instead of ``loss.backward()`` +
``optimizer.step()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


class _Optimizer:
    """Common part: the parameters, ``zero_grad`` and a state of plain tensors."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimiser got no parameters")
        self.lr = float(lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()


class SGD(_Optimizer):
    """SGD with torch's optional heavy-ball momentum and L2 weight decay (no dampening, no
    Nesterov), the arithmetic of ``torch.optim.SGD``'s single-tensor path:
    ``d = grad + wd * p``; ``buf = d`` at the first step, then ``buf = momentum * buf + d``;
    ``p <- p - lr * buf`` (``p <- p - lr * d`` without momentum)."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d = p.grad
            if self.weight_decay != 0:
                d = d.add(p, alpha=self.weight_decay)
            if self.momentum != 0:
                buf = self.buffers[i]
                if buf is None:
                    buf = self.buffers[i] = torch.clone(d).detach()
                else:
                    buf.mul_(self.momentum).add_(d)
                d = buf
            p.add_(d, alpha=-self.lr)

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "buffers": [None if b is None else b.clone() for b in self.buffers],
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])
        self.momentum = float(state.get("momentum", 0.0))
        self.weight_decay = float(state.get("weight_decay", 0.0))
        buffers = state.get("buffers") or [None] * len(self.params)
        self.buffers = [
            None if b is None else b.to(p.device).clone()
            for b, p in zip(buffers, self.params, strict=True)
        ]


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015) with torch's defaults (betas 0.9, 0.999, eps 1e-8, no
    weight decay, no amsgrad), the same arithmetic in the same order as
    ``torch.optim.Adam``'s single-tensor path:

        m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.t = [0] * len(self.params)  # steps taken per parameter (torch: state["step"])
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            self.t[i] += 1
            t = float(self.t[i])
            self.m[i].lerp_(g, 1 - b1)
            self.v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
            step_size = self.lr / (1 - b1**t)
            denom = (self.v[i].sqrt() / (1 - b2**t) ** 0.5).add_(self.eps)
            p.addcdiv_(self.m[i], denom, value=-step_size)

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "t": list(self.t),
            "m": [m.detach().cpu().clone() for m in self.m],
            "v": [v.detach().cpu().clone() for v in self.v],
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state["m"]) != len(self.params):
            raise ValueError(
                f"optimiser state for {len(state['m'])} parameters, not {len(self.params)}"
            )
        self.lr, self.betas, self.eps = float(state["lr"]), tuple(state["betas"]), state["eps"]
        self.t = [int(t) for t in state["t"]]
        for mine, saved in zip(self.m + self.v, state["m"] + state["v"], strict=True):
            mine.copy_(saved.to(mine.device))


class ManualSGD:
    """Plain SGD (no momentum, no weight decay) on externally computed gradients.

    Args:
        params: the tensors to update in place.
        lr: learning rate.
        gradients: ``gradients(batch) -> (loss, grads)``: the loss per seed
            (before the step) and one gradient per parameter, same shapes.
        after_step: called after every update (e.g. to refresh a cache of
            the weights in another layout).
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        gradients: Callable[[Any], tuple[torch.Tensor, Sequence[torch.Tensor]]],
        after_step: Callable[[], None] | None = None,
    ) -> None:
        self.params = list(params)
        self.lr = float(lr)
        self.gradients = gradients
        self.after_step = after_step

    @torch.no_grad()
    def train_step(self, batch: Any) -> torch.Tensor:
        """One step on ``batch``; returns the loss per seed before the step."""
        loss, grads = self.gradients(batch)
        for p, g in zip(self.params, grads, strict=True):
            p.add_(g, alpha=-self.lr)
        if self.after_step is not None:
            self.after_step()
        return loss

    def state_dict(self) -> dict:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])
