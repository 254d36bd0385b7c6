"""Generic optimisers of the engine beyond ``torch.optim``.

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
