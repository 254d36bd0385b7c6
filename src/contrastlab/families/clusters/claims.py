"""The claims of HaoChen & Ma 2023, declared here and decided on the aggregated results.

Every sweep point's config is read back from the aggregate's provenance (or, if
absent, rebuilt from the dataclass defaults and the sweep coordinates), so the
claims find "the linear encoder with k = s" whichever axes the experiment swept;
a claim whose points are not in the aggregate is reported inconclusive with
n = 0. Two-setting and threshold claims are decided by
:func:`contrastlab.claims.contrast` (one-sided paired t over seeds), the phi_m
ordering by :func:`contrastlab.claims.trend` (Page's test). Values are per seed at
the final step; a per-seed value averages the matching points (if other axes were
swept too). With a lambda grid, a point's value is taken at the lambda of the
smallest final phi of that seed; seeds whose phi is undefined at every lambda
(collapsed outputs) are counted in the ``degenerate`` column. Every claim is declared by
name in :data:`CLAIMS`, with the figure that shows its quantity; the phi_m ordering is
one template per data kind (``phi_order_digits``, ``phi_order_shapes``), one row per
architecture.

Thresholds, declared here and not fitted to any result [design]:
    * a probe "solves" a label when its relative MSE is below ``NEAR_ZERO`` = 0.1
      (10% of the label's variance unexplained; a linear encoder's optimum with
      k = s leaves 4/7 of the s = 3 cluster one-hot);
    * a linear encoder "recovers" span(e_1..e_s) when its largest principal angle
      is below ``ANGLE_TOL`` = 10 degrees.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, named, trend
from contrastlab.families.clusters.config import ClustersConfig

PAPER = "HaoChen & Ma 2023"
NEAR_ZERO = 0.1
ANGLE_TOL = 10.0
# Dimensions of a point's own results (everything else in the aggregate is a sweep axis).
OWN_DIMS = ("seed", "step", "lam")
MODEL_AXES = ("k", "encoder", "width", "depth", "lipschitz")


def _present(agg: xr.Dataset, point: dict) -> bool:
    """Whether a provenance point is still in ``agg`` (which may be a selection)."""
    for a, v in point.items():
        if a in agg.dims:
            if v not in agg[a].values.tolist():
                return False
        elif a in agg.coords and agg[a].ndim == 0 and agg[a].item() != v:
            return False
    return True


def point_configs(agg: xr.Dataset) -> list[tuple[dict, ClustersConfig]]:
    """``[(point, config)]``: each sweep point's ``{axis: value}`` and typed config.

    The points are those of the aggregate's provenance still present in ``agg`` (a
    selection of an aggregate works), with ``point`` restricted to the axes that
    are still dimensions. Without provenance: the dataclass defaults, overridden by
    the sweep coordinates (their ``long_name`` is the dotted key), scalar ones too.
    """
    from contrastlab.params import from_sections

    axes = [d for d in agg.dims if d not in OWN_DIMS]
    prov = json.loads(agg.attrs.get("points_provenance", "[]") or "[]")
    out = []
    if prov and all("config" in p for p in prov):
        for p in prov:
            full = p.get("point") or {}
            if not _present(agg, full):
                continue
            cfg = json.loads(p["config"]) if isinstance(p["config"], str) else p["config"]
            point = {a: v for a, v in full.items() if a in axes}
            out.append((point, from_sections(ClustersConfig, cfg)))
        return out
    scalars = {a: agg[a].item() for a in agg.coords if agg[a].ndim == 0 and a not in OWN_DIMS}
    for combo in itertools.product(*(agg[a].values.tolist() for a in axes)):
        point = dict(zip(axes, combo, strict=True))
        sections: dict[str, dict] = {}
        for a, v in {**scalars, **point}.items():
            where = _dotted_key(str(agg[a].attrs.get("long_name", a)))
            if where is not None:
                sections.setdefault(where[0], {})[where[1]] = v
        out.append((point, from_sections(ClustersConfig, sections)))
    return out


def _dotted_key(name: str) -> tuple[str, str] | None:
    """``(section, key)`` of a config key given as ``section.key`` or as an unambiguous
    bare key; None if it names no key of the family."""
    from contrastlab.params import fields_by_section

    keys = [
        (section, f.metadata.get("key") or f.name)
        for section, flds in fields_by_section(ClustersConfig).items()
        for f in flds
    ]
    if "." in name:
        section, _, key = name.rpartition(".")
        return (section, key) if (section, key) in keys else None
    hits = [sk for sk in keys if sk[1] == name]
    return hits[0] if len(hits) == 1 else None


def best_lam(da: xr.DataArray, phi: xr.DataArray) -> xr.DataArray:
    """``da`` at the lambda of the smallest ``phi`` per seed (the only lambda if one).

    Args:
        da, phi: values of one point. Dims: (seed, lam) (phi may be NaN: collapsed).

    Returns:
        Dims: (seed,).
    """
    if "lam" not in da.dims:
        return da
    if da.sizes["lam"] == 1:
        return da.isel(lam=0, drop=True)
    p = phi.transpose("seed", "lam").values
    idx = np.where(np.isfinite(p).any(-1), np.argmin(np.where(np.isfinite(p), p, np.inf), -1), 0)
    vals = da.transpose("seed", "lam").values[np.arange(p.shape[0]), idx]
    return xr.DataArray(vals, dims=("seed",), coords={"seed": da.seed.values})


def final_value(agg: xr.Dataset, var: str, point: dict) -> np.ndarray:
    """Per-seed value of ``var`` at the final step of one point (best lambda). Shape: (seed,)."""
    sub = agg.sel(point) if point else agg
    da = sub[var].isel(step=-1)
    if "lam" in da.dims:
        da = best_lam(da, sub["phi"].isel(step=-1))
    return da.transpose("seed").values.astype(float)


def _per_seed(agg: xr.Dataset, var: str, points: list[dict]) -> np.ndarray:
    """Mean over the matching points of the per-seed final values (empty if none)."""
    if not points:
        return np.array([])
    return np.mean([final_value(agg, var, p) for p in points], axis=0)


def _select(pts, pred) -> list[dict]:
    return [p for p, cfg in pts if pred(cfg)]


def architecture(cfg: ClustersConfig) -> str:
    """Short name of an encoder class, e.g. ``MLP 2x64`` or ``smooth MLP 2x64 (Lip <= 1.5)``."""
    if cfg.encoder == "linear":
        return "linear"
    if cfg.encoder == "convnet":
        return "ConvNet " + "-".join(str(c) for c in cfg.channels)
    name = f"MLP {cfg.depth}x{cfg.width}"
    return f"smooth {name} (Lip <= {cfg.lipschitz:g})" if cfg.encoder == "smooth" else name


def _claim(text: str, source: str, setting: str, quantity: str, **kw) -> Claim:
    return Claim(PAPER, text, source=source, setting=setting, quantity=quantity, **kw)


HYPERCUBE = "Fig. 1 and the linear-function example (hypercube)"
MANIFOLDS = "the Lipschitz-function example (manifolds with sub-clusters)"
TABLE_1 = "Table 1 (CIFAR-10; here the 8x8 digits or the procedural shapes)"
PROBE_FIG, ANGLE_FIG, PHI_FIG = "clusters_probe", "clusters_angle", "clusters_phi"


def _phi_template(kind: str) -> Claim:
    return _claim(
        f"{kind}: phi_m rises with m (every architecture)",
        TABLE_1,
        "design",
        "phi_m (minimum over the lambda grid, final step) ordered by m; effect: largest m - "
        "smallest m",
        test="page",
        figure=PHI_FIG,
    )


# name: the declared claim. The phi_m orderings are templates, one per data kind: each
# architecture of the sweep gets its own row (:func:`_phi_claim`), with the same name.
CLAIMS: dict[str, Claim] = named(
    {
        "span": _claim(
            "hypercube: a linear encoder with k = s recovers the invariant span(e_1..e_s)",
            HYPERCUBE,
            "paper",
            f"{ANGLE_TOL:g} deg - largest principal angle to span(e_1..e_s), final step, linear "
            "encoder with k = s",
            figure=ANGLE_FIG,
        ),
        "linear_labels": _claim(
            "hypercube: a linear encoder with k = s solves linear labels (probe MSE ~ 0)",
            HYPERCUBE,
            "paper",
            f"{NEAR_ZERO:g} - max(probe relative MSE of y = x_1, of y = v^T x_(1..s)), final "
            "step, linear encoder with k = s",
            figure=PROBE_FIG,
        ),
        "linear_not_onehot": _claim(
            "hypercube: ... but not the cluster one-hot (2^s invariant patterns)",
            HYPERCUBE,
            "paper",
            f"probe relative MSE of the cluster one-hot - {NEAR_ZERO:g}, final step, linear "
            "encoder with k = s",
            figure=PROBE_FIG,
        ),
        "mlp_onehot": _claim(
            "hypercube: an MLP with k = 2^s solves the cluster one-hot",
            HYPERCUBE,
            "paper",
            f"{NEAR_ZERO:g} - probe relative MSE of the cluster one-hot, final step, MLP with "
            "k = 2^s",
            figure=PROBE_FIG,
        ),
        "smooth_clusters": _claim(
            "manifolds: the smooth (Lipschitz-limited) class with k = r recovers the r clusters",
            MANIFOLDS,
            "design",
            f"{NEAR_ZERO:g} - probe relative MSE of the cluster one-hot, final step, smooth "
            "encoder with k = r",
            figure=PROBE_FIG,
        ),
        "subclusters": _claim(
            "manifolds: with k = r*r0 the unrestricted MLP splits the sub-clusters, the smooth "
            "class cannot",
            MANIFOLDS,
            "design",
            "probe relative MSE of the sub-cluster one-hot: smooth - mlp, final step, k = r*r0",
            min_effect=NEAR_ZERO,
            figure=PROBE_FIG,
        ),
        "phi_order_digits": _phi_template("digits"),
        "phi_order_shapes": _phi_template("shapes"),
        "conv_phi": _claim(
            "shapes: the ConvNet's inductive bias gives a smaller phi_m than the MLP's",
            TABLE_1 + "; Sec. 1 (the architecture decides which cluster structure is recovered)",
            "design",
            "phi_m (minimum over the lambda grid, final step): MLP - ConvNet, per seed, the m "
            "levels as blocks",
            min_effect=0.01,
            figure=PHI_FIG,
        ),
    }
)
C_SPAN = CLAIMS["span"]
C_LINEAR = CLAIMS["linear_labels"]
C_NOT_ONEHOT = CLAIMS["linear_not_onehot"]
C_MLP_ONEHOT = CLAIMS["mlp_onehot"]
C_SMOOTH_R = CLAIMS["smooth_clusters"]
C_SUB = CLAIMS["subclusters"]
C_CONV = CLAIMS["conv_phi"]


def _phi_claim(arch: str, kind: str = "digits") -> Claim:
    """The phi_m ordering of one architecture on ``kind`` (its template's name)."""
    return replace(CLAIMS[f"phi_order_{kind}"], text=f"{kind}: phi_m rises with m ({arch})")


def _architectures(agg, pts) -> list[dict]:
    """:data:`C_CONV` on shapes: the ConvNet against the MLP at every m both trained."""
    pts = [(p, c) for p, c in pts if c.data_kind == "shapes"]
    diffs = []
    for p, c in pts:
        if c.encoder != "convnet":
            continue
        twin = [q for q, d in pts if d.encoder == "mlp" and d.k == c.k]
        if twin:
            diffs.append(
                final_value(agg, "phi_min", twin[0]) - final_value(agg, "phi_min", p)
            )  # (seed,)
    if not diffs:
        return []
    return [contrast(C_CONV, np.stack(diffs, axis=1))]  # (seed, m)


def _hypercube(agg, pts) -> list[dict]:
    pts = [(p, c) for p, c in pts if c.data_kind == "hypercube"]
    lin = _select(pts, lambda c: c.encoder == "linear" and c.k == c.s)
    mlp = _select(pts, lambda c: c.encoder == "mlp" and c.k == 2**c.s)
    worst_linear = (
        np.maximum(_per_seed(agg, "mse_x1", lin), _per_seed(agg, "mse_lin", lin))
        if lin
        else np.array([])
    )
    return [
        contrast(C_SPAN, ANGLE_TOL - _per_seed(agg, "angle_max", lin)),
        contrast(C_LINEAR, NEAR_ZERO - worst_linear),
        contrast(C_NOT_ONEHOT, _per_seed(agg, "mse_cluster", lin) - NEAR_ZERO),
        contrast(C_MLP_ONEHOT, NEAR_ZERO - _per_seed(agg, "mse_cluster", mlp)),
    ]


def _manifolds(agg, pts) -> list[dict]:
    pts = [(p, c) for p, c in pts if c.data_kind == "manifolds"]
    smooth_r = _select(pts, lambda c: c.encoder == "smooth" and c.k == c.r)
    smooth_all = _select(pts, lambda c: c.encoder == "smooth" and c.k == c.r * c.r0 and c.r0 > 1)
    mlp_all = _select(pts, lambda c: c.encoder == "mlp" and c.k == c.r * c.r0 and c.r0 > 1)
    split = (
        _per_seed(agg, "mse_sub", smooth_all) - _per_seed(agg, "mse_sub", mlp_all)
        if smooth_all and mlp_all
        else np.array([])
    )
    return [
        contrast(C_SMOOTH_R, NEAR_ZERO - _per_seed(agg, "mse_cluster", smooth_r)),
        contrast(C_SUB, split),
    ]


def _digits(agg, pts, kind: str = "digits") -> list[dict]:
    pts = [(p, c) for p, c in pts if c.data_kind == kind]
    groups: dict[tuple, list] = {}
    for p, c in pts:
        rest = tuple(sorted((a, v) for a, v in p.items() if a != "k"))
        groups.setdefault(rest, []).append((p, c))
    rows = []
    for rest, members in groups.items():
        members = sorted(members, key=lambda pc: pc[1].k)
        extra = [f"{a}={v}" for a, v in rest if a not in MODEL_AXES and agg.sizes[a] > 1]
        arch = ", ".join([architecture(members[0][1]), *extra])
        ks = [c.k for _, c in members]
        phi = np.stack([final_value(agg, "phi_min", p) for p, _ in members])  # (m, seed)
        values = xr.DataArray(phi, dims=("k", "seed"), coords={"k": ks, "seed": agg.seed.values})
        # an m whose phi is undefined for every seed leaves the ordering (reported below)
        values = values.isel(k=np.isfinite(phi).any(axis=1))
        collapsed = [
            f"m = {k}: {int(np.isnan(row).sum())}" for k, row in zip(ks, phi, strict=True)
            if np.isnan(row).any()
        ]  # fmt: skip
        note = (
            "seeds collapsed at every lambda (phi undefined), " + ", ".join(collapsed)
            if collapsed
            else ""
        )
        rows.append(trend(_phi_claim(arch, kind), values, "k", increasing=True, degenerate=note))
    return rows


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """The paper's claims as rows with per-seed differences (positive = as the paper says).

    Claims of the data kinds present in the aggregate:
      * hypercube: a linear encoder with k = s recovers span(e_1..e_s) (largest
        principal angle < 10 deg) and solves the linear labels y = x_1 and
        y = v^T x_(1..s) (relative MSE < 0.1) but not the cluster one-hot
        (relative MSE > 0.1); an MLP with k = 2^s solves the cluster one-hot;
      * manifolds: the smooth class with k = r solves the cluster one-hot; with
        k = r * r0 the unrestricted MLP reads the sub-cluster one-hot better than
        the smooth class (paired by seed);
      * digits, shapes: phi_m rises with m for every architecture (Page's trend test
        over the m levels, seeds as blocks; one claim per architecture: on shapes the
        ConvNet and the MLP, the paper's point being the architecture's inductive bias).
    """
    pts = point_configs(agg)
    kinds = {c.data_kind for _, c in pts}
    rows = []
    if "hypercube" in kinds:
        rows += _hypercube(agg, pts)
    if "manifolds" in kinds:
        rows += _manifolds(agg, pts)
    for kind in ("digits", "shapes"):
        if kind in kinds:
            rows += _digits(agg, pts, kind)
    if "shapes" in kinds:
        rows += _architectures(agg, pts)
    return claims_frame(rows)
