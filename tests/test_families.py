"""Every registered family, through the same path: synth -> engine -> metrics -> figure ->
claims, on the family's ``tiny`` config. A new family gets these tests by registering.

Each rule of README's "Adding a family" that can be checked is checked here, with a
message that says what to add and where (ADD below)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from contrastlab.claims import VERDICTS as KNOWN_VERDICTS
from contrastlab.config import check_experiment
from contrastlab.engine import DivergenceError, Engine
from contrastlab.params import fields_by_section, to_sections
from contrastlab.pipeline import aggregate, claims, figure, synthesize, train
from contrastlab.registry import Family, Table, families, get_family
from contrastlab.results import read_netcdf, write_netcdf

FAMILIES = list(families())
VERDICTS = set(KNOWN_VERDICTS)
ROOT = Path(__file__).resolve().parents[1]
ADD = "(README, Adding a family)"


def quiet(_msg: str) -> None:
    pass


def tiny(name: str) -> dict:
    """The family's tiny experiment, validated, with every key filled in."""
    fam = get_family(name)
    return {"family": name, **to_sections(check_experiment({"family": name, **fam.tiny}))}


@pytest.fixture(scope="module", params=FAMILIES)
def run(request, tmp_path_factory):
    """Data (written to and read back from netCDF, as the workflow does) and a 2-seed run."""
    name = request.param
    cfg = tiny(name)
    path = tmp_path_factory.mktemp(name) / "data.nc"
    write_netcdf(synthesize(cfg, [3, 5]), path)
    data = read_netcdf(path)
    return name, cfg, data, train(data, cfg, device="cpu", log=quiet)


def test_registry_plug_is_complete():
    assert FAMILIES, "no family registered"
    for name in FAMILIES:
        fam = get_family(name)
        plug = f"{name}: the plug's (FAMILY's class)"
        assert isinstance(fam, Family) and fam.name == name
        assert fam.title and fam.description, f"{plug} title and description {ADD}"
        assert fam.figures, f"{plug} figures: at least one Figure {ADD}"
        assert all(f.name.startswith(f"{name}_") for f in fam.figures)
        assert len({f.name for f in fam.figures}) == len(fam.figures), f"{name}: figure names"
        for fig in (*fam.figures, *fam.tables):
            assert callable(fig.function()), f"{name}: {fig.draw} is not a function"
            assert fig.caption and fig.label, f"{name}: {fig.name} needs a caption and a label"
        assert fam.tiny, f"{plug} tiny: an experiment block that trains in a second {ADD}"
        sections = fields_by_section(fam.config_class)
        train_keys = [f.name for f in sections.get("train", [])]
        assert "checkpoint_every" in train_keys, (
            f"{name}: the config dataclass needs train.checkpoint_every (the engine reads it) {ADD}"
        )
        if fam.fusable:
            keys = {f"{s}.{f.metadata.get('key') or f.name}" for s, fl in sections.items()
                    for f in fl}  # fmt: skip
            unknown = sorted(set(fam.fusable) - keys)
            assert not unknown, f"{plug} fusable keys {unknown} are not config keys {ADD}"
            assert "members" in inspect.signature(fam.task).parameters, (
                f"{plug} task() must take members= (a fused job's configs): it has fusable "
                f"keys {list(fam.fusable)} {ADD}"
            )


def test_built_in_families_have_their_test_package():
    """tests/<name>/ holds a family's own tests; its __init__.py makes it a package, so
    that a test file may share its name with another family's (test_data.py...)."""
    for name in FAMILIES:
        if not type(get_family(name)).__module__.startswith("contrastlab.families."):
            continue  # an entry-point family keeps its tests in its own package
        init = ROOT / "tests" / name / "__init__.py"
        assert init.exists(), f"{name}: add tests/{name}/__init__.py and the family's tests {ADD}"


def test_plugs_import_light():
    """The Snakefile imports every plug: no torch/matplotlib at import time."""
    import subprocess
    import sys

    code = (
        "import sys; from contrastlab.registry import families; families(); "
        "print(sorted(m for m in ('torch', 'matplotlib', 'sklearn', 'seaborn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_data_and_results_are_tidy_netcdf(run, tmp_path):
    name, cfg, data, ds = run
    for d, where in ((data, "data.py's dataset"), (ds, "the task's to_dataset")):
        for var in list(d.data_vars) + list(d.coords):
            assert {"long_name", "units"} <= set(d[var].attrs), (
                f"{name}: {var} in {where} lacks long_name/units: give it "
                f"contrastlab.results.cf(long_name, units) {ADD}"
            )
        assert json.loads(d.attrs["seeds"]) == [3, 5]
        assert json.loads(d.attrs["config"])["family"] == name
        assert "contrastlab" in d.attrs["source"]
    assert ds.sizes["seed"] == 2
    round_dim = (
        get_family(name)
        .task(get_family(name).config(cfg), data, [3, 5], torch.device("cpu"))
        .round_dim
    )
    assert ds.sizes[round_dim] >= 3, (
        f"{name}: its tiny block trains {ds.sizes[round_dim] - 1} evaluation round(s); give "
        "it at least 2 (e.g. train.steps = 2 x train.eval_every), so that kill-and-resume "
        f"can stop after the first {ADD}"
    )
    assert ds[round_dim].values[0] == 0, f"{name}: round 0 is the initialisation"
    assert np.isnan(ds["loss"].isel({round_dim: 0})).all()
    assert np.isfinite(ds["loss"].isel({round_dim: slice(1, None)})).all()
    write_netcdf(ds, tmp_path / "metrics.nc")  # every variable writable as netCDF


def test_batched_seeds_equal_each_seed_alone(run):
    name, cfg, data, ds = run
    alone = train(data.sel(seed=[5]), cfg, device="cpu", log=quiet)
    for var in ds.data_vars:
        np.testing.assert_allclose(
            ds[var].sel(seed=[5]).values,
            alone[var].values,
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{name}: {var}",
        )


def test_same_config_same_numbers(run):
    name, cfg, data, ds = run
    again = train(data, cfg, device="cpu", log=quiet)
    xr.testing.assert_equal(ds, again)


class Interrupt(Exception):
    pass


def test_kill_and_resume_equals_uninterrupted(run, tmp_path):
    """A job interrupted after its first checkpoint resumes from it, with the same numbers."""
    name, cfg, data, ds = run
    cfg = {**cfg, "train": {**cfg["train"], "checkpoint_every": 1}}
    ckpt = tmp_path / "ck.pt"

    def dies_after_first_round(msg: str) -> None:
        if "(round 1/" in msg:  # the first round's checkpoint is written: "kill" the job
            raise Interrupt

    with pytest.raises(Interrupt):
        train(data, cfg, device="cpu", log=dies_after_first_round, checkpoint_path=ckpt)
    assert ckpt.exists()
    lines = []
    resumed = train(data, cfg, device="cpu", log=lines.append, checkpoint_path=ckpt)
    assert any("resuming from checkpoint" in line for line in lines)
    try:
        xr.testing.assert_equal(resumed, ds)
    except AssertionError as err:
        raise AssertionError(
            f"{name}: the resumed run differs from the uninterrupted one: every generator "
            f"the training loop draws from must be in Task.rng (it is checkpointed) {ADD}\n"
            f"{err}"
        ) from None
    # another config never resumes from it
    other = {**cfg, "train": {**cfg["train"], "checkpoint_every": 2}}
    lines.clear()
    train(data, other, device="cpu", log=lines.append, checkpoint_path=ckpt)
    assert any("another config" in line for line in lines)


def test_figures_and_claims_from_the_aggregate(run, tmp_path):
    """An aggregate of one sweep point has no sweep axis: figures and claims must work on
    it too (an experiment without a sweep has exactly this)."""
    name, cfg, data, ds = run
    fam = get_family(name)
    agg = aggregate([ds], [{}], {})
    single = f"{name}: on a one-point aggregate (no sweep axis; README, Adding a family)"
    try:
        table = claims(agg, name)
    except Exception as err:
        raise AssertionError(f"{single}, claims() failed: {err!r}") from err
    assert set(table["verdict"]) <= VERDICTS
    for fig in (*fam.figures, *fam.tables):
        if not getattr(fig, "applies_to", lambda points: True)([cfg]):
            continue  # a figure that shows nothing for one point (e.g. a curve over tau)
        out = tmp_path / (fig.name + (".html" if isinstance(fig, Table) else ".svg"))
        try:
            figure(agg, name, fig.name, out)
        except Exception as err:
            raise AssertionError(f"{single}, {fig.draw} failed: {err!r}") from err
        if isinstance(fig, Table):
            assert "<table>" in out.read_text(), fig.name
        else:
            assert out.stat().st_size > 1000, fig.name
    import matplotlib.pyplot as plt

    assert not plt.get_fignums()  # every figure closed


def test_divergence_stops_with_where_and_when(run):
    """A diverging run is an error naming the job, the seed, the step and the quantity."""
    name, cfg, data, ds = run
    fam = get_family(name)
    task = fam.task(fam.config(cfg), data, [3, 5], torch.device("cpu"))
    params = task.parameters()
    first = next(iter(params.values()))
    with torch.no_grad():
        first[1].fill_(float("nan"))  # seed 5's weights are broken before training
    engine = Engine(task, cfg, where="experiment toy, point p0", log=quiet)
    with pytest.raises(DivergenceError, match=r"experiment toy, point p0, seed 5: .* step \d+"):
        engine.run()


def test_light_stages_do_not_import_torch(run, tmp_path):
    """Aggregate, claims and figures run without torch (start-up cost of the light rules)."""
    import subprocess
    import sys

    name, cfg, data, ds = run
    write_netcdf(ds, tmp_path / "metrics.nc")
    fam = get_family(name)
    drawn = [
        f.name
        for f in (*fam.figures, *fam.tables)
        if getattr(f, "applies_to", lambda points: True)([cfg])
    ]
    code = f"""
import sys
from contrastlab.pipeline import aggregate, claims, figure
from contrastlab.registry import get_family
from contrastlab.report import claims_html
from contrastlab.results import read_netcdf
agg = aggregate([read_netcdf({str(tmp_path / "metrics.nc")!r})], [{{}}], {{}})
fam = get_family({name!r})
claims_html(claims(agg, fam.name), "t", fam.description)
for fig in fam.figures:
    if fig.name in {drawn!r}:
        figure(agg, fam.name, fig.name, {str(tmp_path)!r} + "/" + fig.name + ".svg")
for table in fam.tables:
    if table.name in {drawn!r}:
        figure(agg, fam.name, table.name, {str(tmp_path)!r} + "/" + table.name + ".html")
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
