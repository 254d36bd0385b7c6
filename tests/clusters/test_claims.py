"""The HaoChen & Ma claims and figures on synthetic aggregates with a known answer."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from contrastlab.families.clusters import FAMILY, linear_on_hypercube
from contrastlab.families.clusters.claims import CLAIMS, claims, point_configs
from contrastlab.families.clusters.config import ClustersConfig
from contrastlab.families.clusters.plots import plot_phi
from contrastlab.params import to_sections
from contrastlab.pipeline import aggregate
from contrastlab.results import cf

SEEDS = [0, 1, 2]
VARS = (
    "loss_eval",
    "loss_reg",
    "phi",
    "mse_x1",
    "mse_lin",
    "mse_cluster",
    "mse_sub",
    "angle_max",
)


def point(final: dict, lams=(1.0,), **config) -> xr.Dataset:
    """A trained point's dataset whose final-step values are ``final`` (+ small noise)."""
    rng = np.random.default_rng(len(json.dumps(config, sort_keys=True)))
    cfg = ClustersConfig(**config)
    shape = (len(SEEDS), 2, len(lams))
    data = {}
    for var in VARS:
        base = np.asarray(final.get(var, np.nan), dtype=float)
        if base.ndim == 0:
            base = np.full(len(lams), base)
        v = np.full(shape, 1.0)
        v[:, 1, :] = base + 0.005 * rng.standard_normal((len(SEEDS), len(lams)))
        data[var] = (("seed", "step", "lam"), v, cf(var, "1"))
    data["phi_min"] = (("seed", "step"), np.fmin.reduce(data["phi"][1], -1), cf("phi_min", "1"))
    data["loss"] = (("seed", "step"), np.ones((3, 2)), cf("loss", "1"))
    ds = xr.Dataset(
        data,
        coords={
            "seed": ("seed", SEEDS, cf("seed", "1")),
            "step": ("step", [0, 100], cf("training step", "1")),
            "lam": ("lam", list(lams), cf("lambda", "1")),
        },
    )
    ds.attrs["config"] = json.dumps({"family": "clusters", **to_sections(cfg)})
    return ds


def agg_of(points: list[tuple[dict, xr.Dataset]], keys: dict) -> xr.Dataset:
    return aggregate([ds for _, ds in points], [p for p, _ in points], keys)


def hypercube(good: bool) -> xr.Dataset:
    ok = {"angle_max": 2.0, "mse_x1": 0.01, "mse_lin": 0.02, "mse_cluster": 0.57}
    bad = {"angle_max": 40.0, "mse_x1": 0.5, "mse_lin": 0.4, "mse_cluster": 0.02}
    lin_k8 = {"angle_max": 5.0, "mse_x1": 0.0, "mse_lin": 0.0, "mse_cluster": 0.5}
    mlp = {"mse_x1": 0.01, "mse_lin": 0.01, "mse_cluster": 0.02 if good else 0.4}
    pts = [
        ({"encoder": "linear", "k": 3}, point(ok if good else bad, encoder="linear", k=3)),
        ({"encoder": "linear", "k": 8}, point(lin_k8, encoder="linear", k=8)),
        ({"encoder": "mlp", "k": 3}, point(mlp, encoder="mlp", k=3)),
        ({"encoder": "mlp", "k": 8}, point(mlp, encoder="mlp", k=8)),
    ]
    return agg_of(pts, {"encoder": "model.encoder", "k": "model.k"})


def test_hypercube_claims_supported_and_contradicted():
    table = claims(hypercube(True))
    assert len(table) == 4 and (table.verdict == "supported").all(), table
    assert (table.paper == "HaoChen & Ma 2023").all() and (table.setting == "paper").all()
    table = claims(hypercube(False))
    assert (table.verdict == "contradicted").all(), table


def test_claims_with_missing_axes_are_inconclusive_with_n_0():
    agg = hypercube(True).sel(encoder="linear")  # the encoder axis is gone
    assert [p for p, _ in point_configs(agg)][:1] == [{"k": 3}]
    table = claims(agg)
    by = dict(zip(table.claim, zip(table.verdict, table.n_seeds, strict=True), strict=True))
    mlp = [c for c in by if "MLP with k = 2^s" in c][0]
    assert by[mlp] == ("inconclusive", 0)
    assert sum(v == ("supported", 3) for v in by.values()) == 3


def test_claims_without_provenance_read_the_sweep_coordinates():
    agg = hypercube(True)
    del agg.attrs["points_provenance"]
    assert (claims(agg).verdict == "supported").all()


def _manifolds(sub_smooth: float, sub_mlp: float = 0.05) -> xr.Dataset:
    kw = {"data_kind": "manifolds"}
    pts = []
    for enc in ("smooth", "mlp"):
        for k in (4, 12):
            sub = sub_smooth if enc == "smooth" else sub_mlp
            vals = {"mse_cluster": 0.01, "mse_sub": sub if k == 12 else 0.7, "phi": 0.1}
            pts.append(({"encoder": enc, "k": k}, point(vals, encoder=enc, k=k, **kw)))
    return agg_of(pts, {"encoder": "model.encoder", "k": "model.k"})


def test_manifold_claims():
    table = claims(_manifolds(0.4))
    assert list(table.verdict) == ["supported", "supported"]
    assert claims(_manifolds(0.05, 0.4)).verdict.tolist() == ["supported", "contradicted"]
    # a difference below the declared smallest effect (0.1) decides nothing
    assert claims(_manifolds(0.08)).verdict.tolist() == ["supported", "inconclusive"]


def _digits(slope: float, collapsed_k: int = 0) -> xr.Dataset:
    pts = []
    lams = (1.0, 3.0, 10.0)
    for depth in (1, 2):
        for k in (5, 10, 20, 40):
            phi = 0.5 + slope * np.log2(k / 5) + np.array([0.0, 0.1, np.nan])  # min at lam 1
            if k == collapsed_k:
                phi = np.full(3, np.nan)  # every lambda collapsed: phi_m undefined
            p = point({"phi": phi, "mse_cluster": [0.3, 0.5, 0.9]}, lams=lams,
                      data_kind="digits", k=k, depth=depth)  # fmt: skip
            pts.append(({"k": k, "depth": depth}, p))
    return agg_of(pts, {"k": "model.k", "depth": "model.depth"})


def test_digits_phi_rises_with_m_for_every_architecture():
    table = claims(_digits(0.3))
    assert len(table) == 2 and (table.verdict == "supported").all()
    assert table.claim.str.contains("MLP 1x64").any() and table.claim.str.contains("MLP 2x64").any()
    assert (claims(_digits(-0.3)).verdict == "contradicted").all()
    one_k = claims(_digits(0.3).isel(k=[0]))
    assert (one_k.n_seeds == 0).all() and (one_k.verdict == "inconclusive").all()
    assert set(table.test) == {"page"} and (table.effect > 0.8).all()  # 0.3 * log2(40 / 5)
    assert (table.degenerate == "").all()


def test_collapsed_phi_is_reported_not_folded_in():
    table = claims(_digits(0.3, collapsed_k=40))
    assert table.degenerate.str.contains("m = 40: 3").all()
    assert (table.verdict == "supported").all()  # Page's test on the finite levels


def test_claims_are_named_with_their_figure():
    assert set(CLAIMS) == {"span", "linear_labels", "linear_not_onehot", "mlp_onehot",
                           "smooth_clusters", "subclusters", "phi_order_digits",
                           "phi_order_shapes", "conv_phi"}  # fmt: skip
    rows = pd.concat([claims(hypercube(True)), claims(_manifolds(0.4)), claims(_digits(0.3))])
    assert list(rows.name) == ["span", "linear_labels", "linear_not_onehot", "mlp_onehot",
                               "smooth_clusters", "subclusters", "phi_order_digits",
                               "phi_order_digits"]  # fmt: skip
    assert dict(zip(rows.name, rows.figure, strict=True)) == {
        n: CLAIMS[n].figure for n in rows.name
    }
    assert set(rows.figure) == {"clusters_angle", "clusters_probe", "clusters_phi"}
    # one phi_m row per architecture, each keeping its template's name
    phi = rows[rows.name == "phi_order_digits"]
    assert set(phi.claim) == {"digits: phi_m rises with m (MLP 1x64)",
                              "digits: phi_m rises with m (MLP 2x64)"}  # fmt: skip


def configs(agg: xr.Dataset) -> list[dict]:
    """The sweep points' configs (sections, defaults filled), as the workflow gives them."""
    return [{"family": "clusters", **to_sections(cfg)} for _, cfg in point_configs(agg)]


def test_the_angle_figure_applies_to_linear_encoders_on_the_hypercube_only(root):
    from contrastlab.config import expand_experiment, load_config_files, validate_config

    angle = FAMILY.figure("clusters_angle")
    assert angle.applies is linear_on_hypercube
    assert angle.applies_to(configs(hypercube(True)))
    assert not angle.applies_to(configs(hypercube(True).sel(encoder="mlp")))
    assert not angle.applies_to(configs(_manifolds(0.4)))
    assert not angle.applies_to(configs(_digits(0.3)))
    cfg = validate_config(
        load_config_files([root / "config/config.yaml"]),
        root / "workflow/schemas/config.schema.yaml",
    )

    def points(name):
        return [p.config for p in expand_experiment(name, cfg["experiments"][name])]

    assert angle.applies_to(points("clusters_hypercube"))
    for name in ("clusters_manifolds", "clusters_digits", "clusters_shapes"):
        assert not angle.applies_to(points(name)), name
    for fig in (*FAMILY.figures, *FAMILY.tables):  # every other one: every experiment
        assert fig.name == "clusters_angle" or fig.applies is None


@pytest.mark.parametrize(
    "agg, with_angle",
    [(hypercube(True), True), (hypercube(True).sel(k=3), True), (_manifolds(0.4), False),
     (_digits(0.3), False)],
    ids=["hypercube", "one-k", "manifolds", "digits"],
)  # fmt: skip
def test_figures_draw_from_any_aggregate(agg, with_angle, tmp_path):
    """Every figure that applies to the experiment (the angle only with a linear encoder
    on the hypercube) draws a figure from its aggregate."""
    import matplotlib.pyplot as plt

    drawn = []
    for fig in FAMILY.figures:
        if fig.applies_to(configs(agg)):
            out = tmp_path / f"{fig.name}.svg"
            fig.function()(agg, out)
            assert out.stat().st_size > 1000
            drawn.append(fig.name)
    assert ("clusters_angle" in drawn) == with_angle and len(drawn) >= 2
    assert not plt.get_fignums()


def test_phi_undefined_everywhere_draws_the_collapse_not_a_placeholder(tmp_path, monkeypatch):
    """Every seed collapsed at every m and lambda: the figure shows how far the outputs are
    from whitened (|E ff^T - I|^2 grows by ~1 per collapsed direction)."""
    import matplotlib.pyplot as plt

    pts = []
    for k in (5, 10, 20):
        vals = {"phi": [np.nan, np.nan], "loss_reg": [k / 2, k / 4]}
        pts.append(({"k": k}, point(vals, lams=(1.0, 3.0), data_kind="digits", k=k)))
    agg = agg_of(pts, {"k": "model.k"})
    assert np.isnan(agg["phi_min"].isel(step=-1)).all()
    from contrastlab.families.clusters import plots

    drawn = []
    monkeypatch.setattr(plots, "save", lambda g, path: (drawn.append(g), plt.close(g.figure)))
    plot_phi(agg, tmp_path / "phi.svg")
    (g,) = drawn
    assert "collapsed" in g.figure.texts[0].get_text()
    ax = g.axes.flat[0]
    assert ax.get_ylabel() == "least loss_reg [1]"  # the held-out |E ff^T - I|_F^2
    y = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    np.testing.assert_allclose(np.sort(y), [1.25, 2.5, 5.0], atol=0.01)  # min over lambda
    assert not plt.get_fignums()
