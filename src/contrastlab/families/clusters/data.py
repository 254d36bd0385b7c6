"""The three data kinds of the clusters family (HaoChen & Ma 2023) and their augmentations.

* **hypercube** ([0], Fig. 1 and its linear-function example; a simplified version of
  Saunshi et al.'s example [1]): natural points x uniform on {+-1}^d; a view keeps the s invariant
  coordinates e_1..e_s and perturbs the d - s spurious ones:

  - ``resample``: re-drawn uniformly from {+-1} (the positive-pair graph then has
    exactly 2^s connected components, one per pattern of x_1..x_s);
  - ``additive``: x_j + xi_j, xi_j ~ U[-eps, eps], eps < 1 (the paper's Fig. 1;
    the noise law is not given there [design]);
  - ``multiplicative``: x_j * u_j, u_j ~ U(0, 1] (Saunshi et al.).

  The cluster label is the pattern of the invariant coordinates,
  ``c = sum_{j < s} 2^j 1[x_{j+1} > 0]`` (2^s classes); the linear labels are
  y = x_1 and y = v^T x_{1..s} with v uniform on the unit sphere of R^s (drawn per seed).
* **manifolds** [design]: r clusters with centres on orthogonal directions,
  ``cluster_sep`` apart; each made of r0 augmentation sub-clusters whose centres lie
  on a ring (a random plane through the cluster centre), neighbours ``sub_sep``
  apart. A point of sub-cluster (c, j) is a Gaussian blob point around its centre
  (std ``spread`` per coordinate), or lies near a segment (length
  ``segment_length``, random direction) through it. A view re-draws the point
  anywhere in its own sub-cluster, or with probability ``hop_prob`` in one of the
  two neighbouring sub-clusters j +- 1 (mod r0) of the same cluster. With
  hop_prob > 0 the positive-pair graph has r components, each of r0 weakly
  connected parts: sub-clusters are close (``sub_sep``) and clusters far
  (``cluster_sep``), so a Lipschitz-limited encoder cannot split the sub-clusters
  while an unrestricted one can ([0]'s "minimal implementable clusters" of a
  Lipschitz function class).
* **digits**: scikit-learn's bundled 8x8 digits through :mod:`contrastlab.images.digits`
  (a stratified split drawn from the seed, augmentations shift / erase / noise),
  standing in for CIFAR-10 in the paper's Table 1; the cluster label is the digit.

Every seed draws from its own stream ``clusters/data`` (the digits split from
``clusters/split``): training points, held-out points and two augmented views of
every held-out point (the held-out positive pairs of phi and the loss terms), so
a batch of seeds equals each seed alone. Training views are drawn during training
from the task's ``clusters/augment`` stream with the same functions.

References:
    - [0] HaoChen & Ma 2023, A Theoretical Study of Inductive Biases in Contrastive
      Learning, https://arxiv.org/abs/2211.14699
    - [1] Saunshi et al. 2022, Understanding Contrastive Learning Requires
      Incorporating Inductive Biases, https://arxiv.org/abs/2202.14037
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from contrastlab.engine import streams
from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.params import to_sections
from contrastlab.results import cf

FAMILY = "clusters"


def _per_seed(gens: Sequence[torch.Generator], draw) -> torch.Tensor:
    return torch.stack([draw(g) for g in gens])


def _signs(shape, g: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)


# -- hypercube ------------------------------------------------------------------------------------
def hypercube_cluster(x: torch.Tensor, s: int) -> torch.Tensor:
    """Cluster id of the invariant pattern, ``sum_{j < s} 2^j 1[x_{j+1} > 0]``.

    Args:
        x: points. Shape: (..., d).
        s: invariant coordinates.

    Returns:
        Integers in 0 .. 2^s - 1. Shape: (...,).
    """
    bits = (x[..., :s] > 0).long()
    return (bits * (2 ** torch.arange(s, device=x.device))).sum(-1)


def hypercube_view(
    x: torch.Tensor, s: int, kind: str, eps: float, gens: Sequence[torch.Generator]
) -> torch.Tensor:
    """One augmented view: keeps x_1..x_s, perturbs the d - s spurious coordinates.

    Args:
        x: natural points (or views). Shape: (seed, batch, d).
        s: invariant coordinates.
        kind: ``resample`` | ``additive`` | ``multiplicative`` (see the module doc).
        eps: half-width of the additive noise.
        gens: one generator per seed (one draw of (batch, d - s) numbers each).

    Returns:
        Shape: (seed, batch, d).
    """
    S, B, d = x.shape
    m = d - s
    if m == 0:
        return x.clone()
    u = _per_seed(gens, lambda g: torch.rand(B, m, generator=g)).to(x.device, x.dtype)
    spur = x[..., s:]
    if kind == "resample":
        new = torch.where(u < 0.5, -1.0, 1.0).to(x.dtype)
    elif kind == "additive":
        new = spur + eps * (2.0 * u - 1.0)
    elif kind == "multiplicative":
        new = spur * (1.0 - u)  # U(0, 1]
    else:
        raise ValueError(f"augmentation.kind must be resample, additive or multiplicative: {kind}")
    return torch.cat([x[..., :s], new], dim=-1)


# -- manifolds -------------------------------------------------------------------------------------
def manifold_geometry(cfg: ClustersConfig, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Sub-cluster centres and segment directions of one seed.

    Cluster c's centre is ``cluster_sep / sqrt(2) * q_c`` with q_1..q_r orthonormal
    (pairwise distance ``cluster_sep``); its r0 sub-cluster centres lie on a circle
    of radius ``sub_sep / (2 sin(pi / r0))`` around it, in the plane of an
    orthonormal pair (a_c, b_c), at angles 2 pi j / r0 (neighbours ``sub_sep`` apart).

    Returns:
        ``(sub_centres, seg_dirs)``: float64. Shape: (r, r0, d) each.
    """
    d, r, r0 = cfg.d, cfg.r, cfg.r0
    q, _ = torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64))
    centres = q.T * (cfg.cluster_sep / math.sqrt(2.0))  # (r, d)
    radius = cfg.sub_sep / (2.0 * math.sin(math.pi / r0)) if r0 > 1 else 0.0
    planes = torch.stack(
        [torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0] for _ in range(r)]
    )  # (r, d, 2)
    ang = 2 * math.pi * torch.arange(r0, dtype=torch.float64) / r0
    ring = torch.stack([torch.cos(ang), torch.sin(ang)], -1)  # (r0, 2)
    sub = centres[:, None, :] + radius * torch.einsum("jt,cdt->cjd", ring, planes)
    dirs = torch.randn(r, r0, d, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    return sub, dirs


def manifold_points(
    sub_centres: torch.Tensor,
    seg_dirs: torch.Tensor,
    c: torch.Tensor,
    j: torch.Tensor,
    cfg: ClustersConfig,
    gens: Sequence[torch.Generator],
) -> torch.Tensor:
    """Fresh points of sub-clusters (c, j): blob, or segment position then noise.

    Args:
        sub_centres, seg_dirs: per seed. Shape: (seed, r, r0, d).
        c, j: cluster and sub-cluster of every point. Shape: (seed, batch).
        cfg: shape, spread and segment length.
        gens: one generator per seed.

    Returns:
        Shape: (seed, batch, d), the dtype of ``sub_centres``.
    """
    S, B = c.shape
    d = sub_centres.shape[-1]
    rows = torch.arange(S, device=c.device)[:, None]
    centre = sub_centres[rows, c, j]  # (S, B, d)
    dev, dt = centre.device, centre.dtype
    if cfg.sub_shape == "segment":
        t = _per_seed(gens, lambda g: torch.rand(B, generator=g)).to(dev, dt) - 0.5
        centre = centre + cfg.segment_length * t[..., None] * seg_dirs[rows, c, j]
    noise = _per_seed(gens, lambda g: torch.randn(B, d, generator=g)).to(dev, dt)
    return centre + cfg.spread * noise


def manifold_hop(
    j: torch.Tensor, r0: int, hop_prob: float, gens: Sequence[torch.Generator]
) -> torch.Tensor:
    """The sub-cluster of a view: j, or with probability ``hop_prob`` j +- 1 (mod r0).

    Args:
        j: sub-cluster of the natural points. Shape: (seed, batch).

    Returns:
        Shape: (seed, batch).
    """
    B = j.shape[1]
    u = _per_seed(gens, lambda g: torch.rand(B, 2, generator=g)).to(j.device)
    step = torch.where(u[..., 1] < 0.5, -1, 1) * (u[..., 0] < hop_prob).long()
    return (j + step) % r0


def manifold_view(
    sub_centres: torch.Tensor,
    seg_dirs: torch.Tensor,
    sub: torch.Tensor,
    cfg: ClustersConfig,
    gens: Sequence[torch.Generator],
) -> torch.Tensor:
    """One augmented view of natural points of sub-cluster ids ``sub = c * r0 + j``.

    Args:
        sub_centres, seg_dirs: Shape: (seed, r, r0, d).
        sub: sub-cluster ids. Shape: (seed, batch).

    Returns:
        Shape: (seed, batch, d).
    """
    c, j = sub // cfg.r0, sub % cfg.r0
    j = manifold_hop(j, cfg.r0, cfg.hop_prob, gens)
    return manifold_points(sub_centres, seg_dirs, c, j, cfg, gens)


# -- digits -------------------------------------------------------------------------------------
def digits_augment(cfg: ClustersConfig):
    """The :class:`contrastlab.images.digits.Augment` of the config."""
    from contrastlab.images.digits import Augment

    return Augment(
        shift=cfg.shift, noise=cfg.pixel_noise, erase_prob=cfg.erase_prob, erase_size=cfg.erase_size
    )


# -- the data set --------------------------------------------------------------------------------
def _hypercube(cfg: ClustersConfig, gens) -> dict[str, torch.Tensor]:
    out = {k: [] for k in ("x_train", "x_eval", "label_weights")}
    for g in gens:
        out["x_train"].append(_signs((cfg.n_train, cfg.d), g))
        out["x_eval"].append(_signs((cfg.n_eval, cfg.d), g))
        v = torch.randn(cfg.s, generator=g, dtype=torch.float64)
        out["label_weights"].append(v / v.norm())
    t = {k: torch.stack(v) for k, v in out.items()}
    t["view1_eval"] = hypercube_view(t["x_eval"], cfg.s, cfg.augment, cfg.eps, gens)
    t["view2_eval"] = hypercube_view(t["x_eval"], cfg.s, cfg.augment, cfg.eps, gens)
    t["cluster_train"] = hypercube_cluster(t["x_train"], cfg.s)
    t["cluster_eval"] = hypercube_cluster(t["x_eval"], cfg.s)
    return t


def _manifolds(cfg: ClustersConfig, gens) -> dict[str, torch.Tensor]:
    geo = [manifold_geometry(cfg, g) for g in gens]
    sub_centres = torch.stack([s for s, _ in geo])
    seg_dirs = torch.stack([dd for _, dd in geo])
    t = {"sub_centres": sub_centres, "seg_dirs": seg_dirs}
    n_sub = cfg.r * cfg.r0
    for split, n in (("train", cfg.n_train), ("eval", cfg.n_eval)):
        sub = _per_seed(gens, lambda g, n=n: torch.randint(n_sub, (n,), generator=g))
        t[f"sub_{split}"] = sub
        t[f"cluster_{split}"] = sub // cfg.r0
        t[f"x_{split}"] = manifold_points(
            sub_centres, seg_dirs, sub // cfg.r0, sub % cfg.r0, cfg, gens
        )
    t["view1_eval"] = manifold_view(sub_centres, seg_dirs, t["sub_eval"], cfg, gens)
    t["view2_eval"] = manifold_view(sub_centres, seg_dirs, t["sub_eval"], cfg, gens)
    return t


def _digits(cfg: ClustersConfig, seeds, gens) -> dict[str, torch.Tensor]:
    from contrastlab.images import digits

    images, labels = digits.load()
    t = {k: [] for k in ("x_train", "x_eval", "cluster_train", "cluster_eval")}
    for seed in seeds:
        train, test = digits.split_indices(seed, cfg.test_fraction, stream=f"{FAMILY}/split")
        t["x_train"].append(torch.as_tensor(images[train]))
        t["x_eval"].append(torch.as_tensor(images[test]))
        t["cluster_train"].append(torch.as_tensor(labels[train]))
        t["cluster_eval"].append(torch.as_tensor(labels[test]))
    t = {k: torch.stack(v) for k, v in t.items()}
    t["view1_eval"], t["view2_eval"] = digits.two_views(t["x_eval"], digits_augment(cfg), gens)
    return t


# -- shapes -------------------------------------------------------------------------------------
def shapes_augment():
    """The views' augmentation on shapes: SimCLR's strong level of the image layer
    (:class:`contrastlab.images.augment.AugmentSpec`, the default keys' values)."""
    from contrastlab.images.augment import AugmentSpec
    from contrastlab.images.config import ImageAugmentConfig

    return AugmentSpec(**ImageAugmentConfig().image_level("strong"))


def shapes_views(x: torch.Tensor, side: int, gens) -> tuple[torch.Tensor, torch.Tensor]:
    """Two augmented views of flat shapes images (pixels in [0, 1]).

    Shape: (seed, n, 3 * side * side) -> two of the same shape.
    """
    from contrastlab.images.augment import two_views

    S, n = x.shape[:2]
    v1, v2 = two_views(x.reshape(S, n, 3, side, side), shapes_augment(), gens)
    return v1.reshape(S, n, -1), v2.reshape(S, n, -1)


def _shapes(cfg: ClustersConfig, seeds) -> dict[str, torch.Tensor]:
    """``n_train + n_eval`` images per seed of the image layer's shapes source (its default
    factors, ``data.side`` pixels), rendered in one call from the seed's ``clusters/shapes``
    stream, flat pixels in [0, 1]; the held-out views drawn from the ``clusters/data``
    streams."""
    import numpy as np

    from contrastlab.images.config import ImageDataConfig
    from contrastlab.images.shapes import render
    from contrastlab.utils import seed_for

    spec = ImageDataConfig(side=cfg.side).shapes_spec()
    t = {k: [] for k in ("x_train", "x_eval", "cluster_train", "cluster_eval")}
    for seed in seeds:
        rng = np.random.default_rng(seed_for(seed, f"{FAMILY}/shapes"))
        d = render(cfg.n_train + cfg.n_eval, rng, spec)
        x = torch.as_tensor(d.images.reshape(len(d.labels), -1)).float() / 255
        y = torch.as_tensor(d.labels)
        t["x_train"].append(x[: cfg.n_train])
        t["x_eval"].append(x[cfg.n_train :])
        t["cluster_train"].append(y[: cfg.n_train])
        t["cluster_eval"].append(y[cfg.n_train :])
    return {k: torch.stack(v) for k, v in t.items()}


def synthesize(cfg: ClustersConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Training points, held-out points, held-out positive pairs and labels of every seed.

    Returns:
        Dataset with ``x_train (seed, sample, dim)``, ``x_eval``, ``view1_eval``,
        ``view2_eval (seed, eval_sample, dim)``, ``cluster_train (seed, sample)``,
        ``cluster_eval (seed, eval_sample)``; for hypercube ``label_weights (seed, inv)``
        (the v of the linear label); for manifolds ``sub_train``, ``sub_eval``
        (sub-cluster id c * r0 + j), ``sub_centres`` and ``seg_dirs
        (seed, cluster, sub, dim)``. The config's data and augmentation keys are in
        the attrs.
    """
    seeds = [int(s) for s in seeds]
    gens = streams(seeds, FAMILY, "data")
    kind = cfg.data_kind
    if kind == "hypercube":
        t = _hypercube(cfg, gens)
    elif kind == "manifolds":
        t = _manifolds(cfg, gens)
    elif kind == "digits":
        t = _digits(cfg, seeds, gens)
    elif kind == "shapes":
        t = _shapes(cfg, seeds)
        t["view1_eval"], t["view2_eval"] = shapes_views(t["x_eval"], cfg.side, gens)
    else:
        raise ValueError(
            f"data.kind must be one of hypercube, manifolds, digits, shapes, got {kind!r}"
        )
    n_train, n_eval = t["x_train"].shape[1], t["x_eval"].shape[1]
    dim = t["x_train"].shape[2]
    tr, ev = ("seed", "sample", "dim"), ("seed", "eval_sample", "dim")
    what = {
        "hypercube": "invariant pattern",
        "manifolds": "cluster",
        "digits": "digit class",
        "shapes": "shape class",
    }[kind]

    def f32(name):
        return t[name].float().numpy()

    def i16(name):
        return t[name].numpy().astype("int16")

    variables = {
        "x_train": (tr, f32("x_train"), cf("training point x", "1")),
        "x_eval": (ev, f32("x_eval"), cf("held-out point x", "1")),
        "view1_eval": (ev, f32("view1_eval"), cf("held-out positive pair, view 1", "1")),
        "view2_eval": (ev, f32("view2_eval"), cf("held-out positive pair, view 2", "1")),
        "cluster_train": (tr[:2], i16("cluster_train"), cf(f"{what} of training points", "1")),
        "cluster_eval": (ev[:2], i16("cluster_eval"), cf(f"{what} of held-out points", "1")),
    }
    coords = {
        "seed": ("seed", seeds, cf("seed", "1")),
        "sample": ("sample", np.arange(n_train), cf("training point", "1")),
        "eval_sample": ("eval_sample", np.arange(n_eval), cf("held-out point", "1")),
        "dim": ("dim", np.arange(dim), cf("input coordinate (pixel for digits)", "1")),
    }
    if kind == "hypercube":
        variables["label_weights"] = (
            ("seed", "inv"),
            t["label_weights"].numpy(),
            cf("weights v of the linear label v^T x_(1..s)", "1"),
        )
        coords["inv"] = ("inv", np.arange(cfg.s), cf("invariant coordinate", "1"))
    if kind == "manifolds":
        sub_name = "sub-cluster c * r0 + j of {} points"
        variables["sub_train"] = (tr[:2], i16("sub_train"), cf(sub_name.format("training"), "1"))
        variables["sub_eval"] = (ev[:2], i16("sub_eval"), cf(sub_name.format("held-out"), "1"))
        geo = ("seed", "cluster", "sub", "dim")
        variables["sub_centres"] = (geo, t["sub_centres"].numpy(), cf("sub-cluster centre", "1"))
        variables["seg_dirs"] = (geo, t["seg_dirs"].numpy(), cf("segment direction", "1"))
        coords["cluster"] = ("cluster", np.arange(cfg.r), cf("cluster c", "1"))
        coords["sub"] = ("sub", np.arange(cfg.r0), cf("sub-cluster j of a cluster", "1"))
    sections = to_sections(cfg)
    attrs = {f"data_{k}": v for k, v in sections["data"].items()}
    attrs |= {f"augmentation_{k}": v for k, v in sections["augmentation"].items()}
    attrs["title"] = f"HaoChen & Ma clusters data ({kind})"
    return xr.Dataset(variables, coords=coords, attrs=attrs)
