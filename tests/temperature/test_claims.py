"""The Wang & Liu claims on synthetic aggregates whose answer is known, and the predicates
that say which of the family's figures an experiment draws."""

import numpy as np
import pytest
import xarray as xr

from contrastlab.config import expand_experiment, load_config_files, validate_config
from contrastlab.families.temperature import FAMILY, several_embeddings, two_temperatures
from contrastlab.families.temperature.analytic import analytic_dataset
from contrastlab.families.temperature.claims import CLAIMS

TAUS = [0.1, 0.3, 1.0]
SEEDS = [0, 1, 2, 3, 4, 5]
ANALYTIC = ("entropy", "hard_mass", "uniform_limit")


def aggregate(hard_slope: float, noise: float = 0.005) -> xr.Dataset:
    """(kind, temperature, seed, step) aggregate of infonce and hard at TAUS, as the paper
    says for infonce; the hard loss's final -L_unif is 3 + ``hard_slope`` * ln(tau)."""
    rng = np.random.default_rng(0)
    log_tau = np.log(TAUS)[None, :, None]
    shape = (2, len(TAUS), len(SEEDS))

    def var(infonce, hard=None):
        final = np.stack([infonce, infonce if hard is None else hard])[:, :, None]
        final = np.broadcast_to(final, shape) + noise * rng.standard_normal(shape)
        return (("kind", "temperature", "seed", "step"), np.stack([final * 0.5, final], -1))

    tau = log_tau[0, :, 0]
    ds = xr.Dataset(
        {
            "neg_unif": var(3.0 - 0.5 * tau, 3.0 + hard_slope * tau),
            "tolerance": var(0.5 + 0.1 * tau),
            "pos_sim": var(0.8 + 0.05 * tau),
            "neg_top_sim": var(0.5 + 0.1 * tau),
            "probe_acc": var(np.array([0.90, 0.95, 0.90])),
        },
        coords={"kind": ["infonce", "hard"], "temperature": TAUS, "seed": SEEDS, "step": [0, 9]},
    )
    return ds.merge(analytic_dataset(TAUS, 256, SEEDS))


def table(agg):
    return FAMILY.claims(agg).set_index("name")


def test_claims_are_declared_by_name_before_the_run():
    assert set(CLAIMS) == {*ANALYTIC, "uniformity", "tolerance", "positive", "gap", "probe",
                           "simple", "hard_flat"}  # fmt: skip
    assert all(c.name == name and c.figure for name, (c, _, _) in CLAIMS.items())
    assert {n for n, (c, _, _) in CLAIMS.items() if not c.trained} == set(ANALYTIC)
    flat = CLAIMS["hard_flat"][0]
    assert flat.test == "tost" and flat.min_effect == 0.1 and flat.alpha == 0.05
    assert flat.text == "the hard loss keeps uniformity nearly flat in tau"
    assert "of the hard loss" in flat.quantity and "infonce" not in flat.quantity


def test_every_row_is_named_and_the_analytic_ones_are_not_about_training():
    t = table(aggregate(0.0))
    assert list(t.index) == [*ANALYTIC, "uniformity", "tolerance", "positive", "gap",
                             "hard_flat", "probe"]  # fmt: skip
    assert (t.loc[list(ANALYTIC), "trained"] == False).all()  # noqa: E712
    assert t.drop(list(ANALYTIC))["trained"].all()
    assert (t["verdict"] == "supported").all(), t["verdict"]


def test_hard_flat_is_an_equivalence_with_the_declared_margin():
    flat = table(aggregate(0.0)).loc["hard_flat"]
    assert flat["test"] == "tost" and flat["verdict"] == "supported"
    assert 0 <= flat["effect"] < 0.1 and flat["ci_high"] < 0.1
    # the spread of 0.5 * ln(10) ~ 1.15 lies far beyond the margin
    steep = table(aggregate(0.5)).loc["hard_flat"]
    assert steep["verdict"] == "contradicted" and steep["effect"] == pytest.approx(1.15, abs=0.05)
    # a spread at the margin decides nothing
    edge = table(aggregate(0.1 / np.log(10))).loc["hard_flat"]
    assert edge["verdict"] == "inconclusive"


def test_hard_flat_needs_the_hard_loss_at_two_temperatures():
    assert "hard_flat" not in table(aggregate(0.0).sel(kind=["infonce"])).index
    assert "hard_flat" not in table(aggregate(0.0).isel(temperature=[0])).index
    assert "hard_flat" in table(aggregate(0.0).sel(kind=["hard"])).index


def points(root, experiment: str) -> list[dict]:
    cfg = validate_config(
        load_config_files([root / "config/config.yaml"]),
        root / "workflow/schemas/config.schema.yaml",
    )
    return [p.config for p in expand_experiment(experiment, cfg["experiments"][experiment])]


TAU_FIGURES = ("temperature_uniformity_tolerance", "temperature_probe", "temperature_separation")


def test_tau_figures_apply_only_with_two_temperatures(root):
    grid, simple = points(root, "temperature"), points(root, "temperature_simple")
    for name in TAU_FIGURES:
        fig = FAMILY.figure(name)
        assert fig.applies is two_temperatures
        assert fig.applies_to(grid) and fig.applies_to(points(root, "temperature_images"))
        assert not fig.applies_to(simple)  # one temperature (the simple losses have none)
        assert not fig.applies_to(grid[:1])
    # the embedding picture compares panels: two temperatures, or two losses
    pca = FAMILY.figure("temperature_pca")
    assert pca.applies is several_embeddings
    assert pca.applies_to(grid) and pca.applies_to(simple) and not pca.applies_to(grid[:1])
    # analytic, and the table: every experiment
    for name in ("temperature_penalty", "temperature_table1"):
        assert FAMILY.figure(name).applies_to(simple) and FAMILY.figure(name).applies_to(grid[:1])


def test_a_tau_free_loss_swept_alone_is_not_a_tau_curve():
    free = [{"loss": {"kind": k, "temperature": 0.2}} for k in ("simple", "hard_simple")]
    assert not two_temperatures(free) and several_embeddings(free)
    assert two_temperatures([{"loss": {"kind": "hard", "temperature": t}} for t in (0.1, 1)])
