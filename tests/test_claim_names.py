"""Every family's claims are declared by name (``CLAIMS``), every row its claims() gives
carries one of those names, a figure of the family shows each claim's quantity, and a
config tests a claim that does not depend on training (``trained=False``) in one
experiment of the family only."""

from __future__ import annotations

import copy
import importlib
import itertools
import json

import pytest

from contrastlab.claims import Claim
from contrastlab.config import check_experiment, load_config_files
from contrastlab.params import to_sections
from contrastlab.pipeline import aggregate, claims, synthesize, train
from contrastlab.registry import families, get_family
from contrastlab.results import read_netcdf, write_netcdf

FAMILIES = list(families())
CONFIGS = ("config/config.yaml", "config/paper.yaml")
# claims whose quantity no figure of the family draws (yet)
NO_FIGURE = {("digits_augment", "dense")}


def declared(name: str) -> dict[str, Claim]:
    """``{name: Claim}`` of a family's ``CLAIMS`` (of a tuple value, its first item)."""
    module = importlib.import_module(f"{type(get_family(name)).__module__}.claims")
    return {k: v if isinstance(v, Claim) else v[0] for k, v in module.CLAIMS.items()}


def experiments(root, family: str | None = None) -> list[tuple[str, str, dict]]:
    """``[(config file, experiment name, block as written)]`` of both shipped configs."""
    out = []
    for path in CONFIGS:
        for name, exp in load_config_files([root / path])["experiments"].items():
            if family is None or exp["family"] == family:
                out.append((path, name, exp))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_claims_are_declared_by_name_with_a_figure(family):
    fam = get_family(family)
    claims_ = declared(family)
    assert claims_ and tuple(claims_) == fam.claim_names()
    figures = {f.name for f in (*fam.figures, *fam.tables)}
    for key, claim in claims_.items():
        assert claim.name == key, f"{family}: {key}"
        if (family, key) not in NO_FIGURE:
            assert claim.figure in figures, f"{family}.{key}: figure {claim.figure!r}"
    assert len({c.text for c in claims_.values()}) == len(claims_)


@pytest.mark.parametrize("path", CONFIGS)
def test_a_claim_not_about_training_is_tested_once_per_config(root, path):
    """An analytic claim gives the same numbers in every experiment of its family: one
    experiment tests it (the others list the rest in their ``claims`` key)."""
    config = load_config_files([root / path])
    for family in FAMILIES:
        names = get_family(family).claim_names()
        untrained = {n for n, c in declared(family).items() if not c.trained}
        testing = {n: [] for n in untrained}
        for exp_name, exp in config["experiments"].items():
            if exp["family"] != family:
                continue
            chosen = exp.get("claims")
            assert chosen is None or set(chosen) <= set(names), f"{path}: {exp_name}"
            for n in untrained & set(names if chosen is None else chosen):
                testing[n].append(exp_name)
        for n, exps in testing.items():
            assert len(exps) <= 1, f"{path}: {family} claim {n!r} tested by {exps}"
    temperature = {n: e.get("claims") for n, e in config["experiments"].items()
                   if e["family"] == "temperature"}  # fmt: skip
    first, *rest = temperature
    assert temperature[first] is None and rest and all(temperature[n] for n in rest)


def _tiny(name: str) -> dict:
    fam = get_family(name)
    return {"family": name, **to_sections(check_experiment({"family": name, **fam.tiny}))}


@pytest.fixture(scope="module", params=FAMILIES)
def trained(request, tmp_path_factory):
    """A family's tiny experiment trained with 2 seeds (data through netCDF, as the
    workflow does)."""
    name = request.param
    cfg = _tiny(name)
    path = tmp_path_factory.mktemp(name) / "data.nc"
    write_netcdf(synthesize(cfg, [3, 5]), path)
    return name, train(read_netcdf(path), cfg, device="cpu", log=lambda _m: None)


def _as_point(ds, exp: dict, sweep: dict[str, object]):
    """A copy of the tiny run whose config attribute says it trained at the experiment's
    sweep point (the tiny config, with the experiment's sections and sweep values on top)."""
    cfg = copy.deepcopy(json.loads(ds.attrs["config"]))
    for section, values in exp.items():
        if isinstance(values, dict) and section != "sweep":
            cfg.setdefault(section, {}).update(values)
    for dotted, value in sweep.items():
        section, key = dotted.split(".")
        cfg[section][key] = value
    out = ds.copy()
    out.attrs = {**ds.attrs, "config": json.dumps(cfg)}
    return out


def test_every_row_is_named_after_a_declared_claim(trained, root):
    """On the tiny run alone, and on copies of it laid out as the sweep of each of the
    family's experiments in the shipped configs (so that every claim is reached), each
    row's name is one of the family's claim names."""
    name, ds = trained
    names = set(get_family(name).claim_names())
    layouts = {"tiny": ([ds], [{}], {})}
    for path, exp_name, exp in experiments(root, name):
        sweep = exp.get("sweep") or {}
        axes = {k.split(".")[-1]: k for k in sweep}
        combos = [dict(zip(sweep, v, strict=True)) for v in itertools.product(*sweep.values())]
        layouts[f"{path}: {exp_name}"] = (
            [_as_point(ds, exp, c) for c in combos],
            [{k.split(".")[-1]: v for k, v in c.items()} for c in combos],
            axes,
        )
    seen = set()
    for where, (datasets, points, keys) in layouts.items():
        table = claims(aggregate(datasets, points, keys), name)
        assert table["name"].map(bool).all() and set(table["name"]) <= names, where
        assert set(table["figure"]) <= {c.figure for c in declared(name).values()}, where
        seen |= set(table["name"])
    assert seen == names, f"{name}: claims never reached: {sorted(names - seen)}"
