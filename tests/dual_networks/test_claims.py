"""The dual_networks claims on synthetic aggregates whose answer is known."""

import numpy as np
import pytest
import xarray as xr

from contrastlab.families.dual_networks import FAMILY, two_betas
from contrastlab.families.dual_networks.claims import BETA, CLAIMS, EXACT, GAIN


def aggregate(final: dict, start: float = 0.25, n_seeds: int = 8, noise: float = 0.004):
    """probe_acc (variant, beta, seed, step) at steps 0 and 100: ``start`` at step 0,
    ``final[(variant, beta)]`` (+ per-seed noise) at the last step."""
    rng = np.random.default_rng(0)
    variants = sorted({v for v, _ in final}, key=["nt_xent", "exact_cov"].index)
    betas = sorted({b for _, b in final})
    acc = np.full((len(variants), len(betas), n_seeds, 2), np.nan)
    for (v, b), value in final.items():
        i, j = variants.index(v), betas.index(b)
        acc[i, j, :, 0] = start
        acc[i, j, :, 1] = value + noise * rng.standard_normal(n_seeds)
    da = xr.DataArray(
        acc,
        dims=("variant", "beta", "seed", "step"),
        coords={"variant": variants, "beta": betas, "seed": np.arange(n_seeds), "step": [0, 100]},
    )
    return xr.Dataset({"probe_acc": da})


def verdicts(agg) -> dict:
    table = FAMILY.claims(agg)
    return dict(zip(table["claim"], table["verdict"], strict=True))


def test_claims_are_declared_before_the_run():
    assert EXACT.test == "tost" and EXACT.min_effect == 0.03
    assert BETA.test == "paired_t" and BETA.alpha == 0.025 and GAIN.test == "paired_t"


def test_equal_variants_are_equivalent_and_beta_decides_both_ways():
    grid = {(v, b): 0.40 for v in ("nt_xent", "exact_cov") for b in (-0.5, 0.0)}
    grid |= {(v, 0.5): 0.45 for v in ("nt_xent", "exact_cov")}
    v = verdicts(aggregate(grid))
    assert v == {EXACT.text: "supported", BETA.text: "supported", GAIN.text: "supported"}
    grid |= {(v, 0.5): 0.35 for v in ("nt_xent", "exact_cov")}
    assert verdicts(aggregate(grid))[BETA.text] == "contradicted"


def test_variants_far_apart_contradict_equivalence():
    v = verdicts(aggregate({("nt_xent", 0.0): 0.40, ("exact_cov", 0.0): 0.30}))
    assert v[EXACT.text] == "contradicted" and BETA.text not in v


@pytest.mark.parametrize("dims", [(), ("variant",), ("beta",)])
def test_claims_work_whatever_axes_the_sweep_has(dims):
    agg = aggregate({("nt_xent", 0.0): 0.40}).isel(variant=0, beta=0)
    agg = agg.expand_dims({d: [0.0 if d == "beta" else "nt_xent"] for d in dims})
    agg.attrs["loss_variant"] = "nt_xent"
    table = FAMILY.claims(agg)
    assert set(table["claim"]) <= {GAIN.text}


def test_claims_are_named_with_their_figure():
    assert set(CLAIMS) == {"exact", "beta", "gain"}
    assert (CLAIMS["exact"], CLAIMS["beta"], CLAIMS["gain"]) == (EXACT, BETA, GAIN)
    grid = {(v, b): 0.40 for v in ("nt_xent", "exact_cov") for b in (-0.5, 0.0, 0.5)}
    table = FAMILY.claims(aggregate(grid))
    assert list(table["name"]) == ["exact", "beta", "gain"]
    assert list(table["figure"]) == [
        "dual_networks_dynamics",
        "dual_networks_beta",
        "dual_networks_dynamics",
    ]


def test_the_beta_figure_applies_with_two_betas_only(root):
    from contrastlab.config import expand_experiment, load_config_files, validate_config

    cfg = validate_config(
        load_config_files([root / "config/config.yaml"]),
        root / "workflow/schemas/config.schema.yaml",
    )

    def points(name):
        return [p.config for p in expand_experiment(name, cfg["experiments"][name])]

    beta = FAMILY.figure("dual_networks_beta")
    assert beta.applies is two_betas
    assert beta.applies_to(points("dual_beta"))
    assert not beta.applies_to(points("dual_variants"))  # beta = 0 only
    assert FAMILY.figure("dual_networks_dynamics").applies_to(points("dual_variants"))
