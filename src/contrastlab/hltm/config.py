"""Configuration of the HLTM experiment (Tian, Yu, Chen & Ganguli 2020, Sec. 6).

Field names follow the authors' Hydra config (facebookresearch/luckmatters,
``ssl/hltm/conf/hltm.yaml``) so that a run can be compared with theirs key by key.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

LOSSES = ("nce", "subtract", "infonce", "soft_triplet")


@dataclass
class HLTMConfig:
    """One HLTM training run (shared by every seed of the run).

    Attributes:
        depth: L, number of latent levels above the leaves (root at height L).
            The tree has ``num_children**depth`` observed leaves. Default 5.
        num_children: children per latent node (binary tree = 2). Default 2.
        delta_lower: polarities are rho = sigma * u, u ~ U[delta_lower,
            delta_upper], sigma = +-1; larger = stronger parent/child coupling.
            Default 0.7 (the yaml; the README example uses 0.8).
        delta_upper: upper end of |rho|. Default 1.0.
        hid: hidden units per latent node, |N^ch_mu| in the paper (the degree
            of over-parameterisation). Default 10.
        bn: BatchNorm on every node's pre-activation (the paper discusses BN;
            the authors' code has none). Default False.
        loss: ``"nce"`` (code's batch-level NCE, default), ``"subtract"``
            (simple loss), ``"infonce"`` (per-anchor, H = batch_size negatives)
            or ``"soft_triplet"`` (per-anchor, H = 1). See :mod:`.losses`.
        temperature: tau of the nce/infonce/soft_triplet losses. Default 0.1
            (README example; the yaml's 0.01 saturates the loss in 1-2 epochs).
        triplet_margin: d_0^2 >= 0 of the soft-triplet loss [design, default 0].
        lr: plain SGD learning rate (no momentum, no weight decay). Default 0.1.
        epochs: training epochs; metrics are logged at epochs 0..epochs.
        samples_per_epoch: N, fresh samples drawn every epoch. Default 64000.
        batch_size: SGD mini-batch size. Default 128.
        eps: epsilon of the output normalisation f = h / (|h| + eps). 1e-4.
        cov_samples: anchors per epoch on which the covariance operator is
            estimated (None = all N, as the authors' code) [design: a cheaper
            option; the best correlations always use all N].
    """

    depth: int = 5
    num_children: int = 2
    delta_lower: float = 0.7
    delta_upper: float = 1.0
    hid: int = 10
    bn: bool = False
    loss: str = "nce"
    temperature: float = 0.1
    triplet_margin: float = 0.0
    lr: float = 0.1
    epochs: int = 20
    samples_per_epoch: int = 64000
    batch_size: int = 128
    eps: float = 1e-4
    cov_samples: int | None = None

    def __post_init__(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(
                    f"HLTMConfig.{name} must be an integer >= {minimum}, got {value!r}"
                )

        positive_int("depth")
        positive_int("num_children", 2)
        positive_int("hid")
        positive_int("epochs", 0)
        positive_int("samples_per_epoch", 2)
        positive_int("batch_size", 2)
        for name in ("delta_lower", "delta_upper", "temperature", "triplet_margin", "lr", "eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"HLTMConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"HLTMConfig.{name} must be finite, got {value!r}")
        if not 0.0 <= self.delta_lower <= 1.0:
            raise ValueError(f"HLTMConfig.delta_lower must lie in [0, 1], got {self.delta_lower}")
        if not self.delta_lower <= self.delta_upper <= 1.0:
            raise ValueError(
                f"HLTMConfig.delta_upper must lie in [delta_lower, 1], got {self.delta_upper}"
            )
        if self.temperature <= 0:
            raise ValueError(f"HLTMConfig.temperature must be > 0, got {self.temperature}")
        if self.triplet_margin < 0:
            raise ValueError(f"HLTMConfig.triplet_margin must be >= 0, got {self.triplet_margin}")
        if self.lr < 0:
            raise ValueError(f"HLTMConfig.lr must be >= 0, got {self.lr}")
        if self.eps < 0:
            raise ValueError(f"HLTMConfig.eps must be >= 0, got {self.eps}")
        if self.cov_samples is not None and (
            isinstance(self.cov_samples, bool)
            or not isinstance(self.cov_samples, int)
            or self.cov_samples < 2
        ):
            raise ValueError(
                f"HLTMConfig.cov_samples must be None or an integer >= 2, got {self.cov_samples!r}"
            )
        if not isinstance(self.bn, bool):
            raise ValueError(f"HLTMConfig.bn must be a bool, got {self.bn!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"HLTMConfig.loss must be one of {LOSSES}, got {self.loss!r}")

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON/YAML-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HLTMConfig:
        """Build from a dict, rejecting unknown keys (typos must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown HLTMConfig field(s): {unknown}")
        return cls(**d)
