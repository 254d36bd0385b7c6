"""The temperature family's data, training task, claims and figures on tiny configs."""

import itertools

import numpy as np
import pytest
import torch
import xarray as xr

from contrastlab.engine import DivergenceError, Engine
from contrastlab.families.temperature import FAMILY
from contrastlab.families.temperature.config import KINDS
from contrastlab.results import _check_attrs, combine_points, read_netcdf, write_netcdf

# the digits source with the MLP (the default run's); tests/test_families.py runs the
# family's tiny block (shapes, the ConvNet)
TINY = {
    **FAMILY.tiny,
    "data": {"source": "digits"},
    "model": {"encoder": "mlp", "width": 16, "embed_dim": 8},
}


def config(**loss):
    return FAMILY.config({**TINY, "loss": loss})


@pytest.fixture(scope="module")
def data():
    return FAMILY.synthesize(config(), [3, 5])


def run(cfg, data, seeds, **kw):
    task = FAMILY.task(cfg, data, seeds, torch.device("cpu"))
    return Engine(task, config={}, log=lambda m: None, **kw).run()


def test_synthesize_batched_seeds_equal_each_seed_alone(data):
    _check_attrs(data)
    assert data["x_train"].shape == (2, 1437, 64) and data["x_test"].shape == (2, 360, 64)
    alone = FAMILY.synthesize(config(), [5])
    for name in data.data_vars:
        np.testing.assert_array_equal(data[name].sel(seed=5).values, alone[name].sel(seed=5).values)
    # images are the digits at the stored indices
    from contrastlab.images import digits

    images, labels = digits.load()
    idx = data["test_index"].sel(seed=3).values
    np.testing.assert_array_equal(data["x_test"].sel(seed=3).values, images[idx])
    np.testing.assert_array_equal(data["y_test"].sel(seed=3).values, labels[idx])


@pytest.mark.parametrize("kind", KINDS)
def test_training_batched_seeds_equal_each_seed_alone(data, kind):
    cfg = config(kind=kind, temperature=0.3)
    both = run(cfg, data, [3, 5])
    _check_attrs(both)
    assert both.sizes["step"] == 3 and list(both["step"].values) == [0, 3, 6]
    assert both["loss"].isel(step=0).isnull().all() and both["loss"].isel(step=-1).notnull().all()
    assert both.attrs["loss_kind"] == kind
    alone = run(cfg, data, [5])
    for name in both.data_vars:
        np.testing.assert_array_equal(
            both[name].sel(seed=5).values, alone[name].sel(seed=5).values, err_msg=name
        )


def test_same_config_and_seed_give_the_same_numbers_and_seeds_differ(data):
    cfg = config(kind="infonce", temperature=0.2)
    a, b = run(cfg, data, [3, 5]), run(cfg, data, [3, 5])
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["neg_unif"].sel(seed=3), a["neg_unif"].sel(seed=5))


def test_metrics_are_in_range(data):
    ds = run(config(kind="hard", temperature=0.1), data, [3, 5])
    assert ((ds["probe_acc"] >= 0) & (ds["probe_acc"] <= 1)).all()
    assert (ds["neg_unif"] >= 0).all() and (ds["neg_unif"] <= 4).all()
    assert ((ds["tolerance"] >= -1) & (ds["tolerance"] <= 1)).all()
    assert (ds["penalty_entropy"] <= np.log(359) + 1e-9).all()
    assert ds["pca"].dims == ("seed", "test_sample", "component")
    assert np.isfinite(ds["pca"]).all()


def test_resumed_training_equals_uninterrupted(data, tmp_path):
    cfg = config(kind="hard", temperature=0.5)
    whole = run(cfg, data, [3, 5])

    class Stop(Exception):
        pass

    def stop_in_round_two(msg):
        if "round 2/" in msg:
            raise Stop

    ckpt = tmp_path / "ckpt.pt"
    task = FAMILY.task(cfg, data, [3, 5], torch.device("cpu"))
    with pytest.raises(Stop):
        Engine(task, config={"x": 1}, log=stop_in_round_two, checkpoint_path=ckpt).run()
    assert ckpt.exists()  # saved after round 1, killed in round 2
    task = FAMILY.task(cfg, data, [3, 5], torch.device("cpu"))
    logs = []
    resumed = Engine(task, config={"x": 1}, log=logs.append, checkpoint_path=ckpt).run()
    assert any("resuming" in m for m in logs)
    assert resumed.attrs.pop("checkpoint") == "resumed from step 6"
    assert whole.attrs.pop("checkpoint") == "none"
    xr.testing.assert_identical(resumed, whole)


def test_a_diverged_seed_stops_training_with_its_name(data):
    task = FAMILY.task(config(kind="hard"), data, [3, 5], torch.device("cpu"))
    with torch.no_grad():
        task.parameters()["W0"][1].fill_(float("nan"))
    with pytest.raises(DivergenceError, match="seed 5"):
        Engine(task, config={}, log=lambda m: None).run()


def _sweep(data, kinds, taus):
    dss, pts = [], []
    for kind, tau in itertools.product(kinds, taus):
        dss.append(run(config(kind=kind, temperature=tau), data, [3, 5]))
        pts.append({"kind": kind, "temperature": tau})
    return combine_points(dss, pts)


def test_end_to_end_synth_train_claims_figure(data, tmp_path):
    agg = _sweep(data, ["infonce", "hard", "simple"], [0.1, 0.3, 1.0])
    write_netcdf(agg, tmp_path / "agg.nc")
    agg = read_netcdf(tmp_path / "agg.nc")
    table = FAMILY.claims(agg)
    assert len(table) == 10
    assert set(table["verdict"]) <= {"supported", "contradicted", "inconclusive"}
    assert table["n_seeds"].eq(2).all()
    fig = FAMILY.figure("temperature_uniformity_tolerance")
    fig.function()(agg, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000


def _layouts(one: xr.Dataset) -> dict[str, xr.Dataset]:
    """Aggregates of every shape the pipeline can produce, from copies of one point."""
    grid = combine_points(
        [one] * 6,
        [{"kind": k, "temperature": t} for k in ("infonce", "hard") for t in (0.1, 0.3, 1.0)],
    )
    free = combine_points([one] * 2, [{"kind": "simple"}, {"kind": "hard_simple"}])
    # a ragged grid (tau-free losses at one tau, NaN elsewhere), as an outer join would give
    free_at = free.expand_dims(temperature=[0.3]).reindex(temperature=grid["temperature"])
    ragged = xr.concat([grid, free_at.transpose(*grid["loss"].dims[:2], ...)], "kind")
    return {
        "grid": grid,
        "ragged": ragged,
        "free only": free,
        "single point": combine_points([one], [{}]),
        "temperature only": combine_points(
            [one] * 3, [{"temperature": t} for t in (0.1, 0.3, 1.0)]
        ),
        "kind only": combine_points([one] * 2, [{"kind": "infonce"}, {"kind": "simple"}]),
        "extra axis": combine_points(
            [one] * 4, [{"temperature": t, "batch_size": b} for t in (0.1, 1.0) for b in (8, 16)]
        ),
    }


def test_claims_work_whatever_axes_the_sweep_has(data):
    one = run(config(kind="infonce", temperature=0.3), data, [3, 5])
    expected = {  # analytic 3 + trends 4 + hard 1 + probe 1 + simple 1
        "grid": 9,
        "ragged": 10,
        "free only": 4,
        "single point": 3,
        "temperature only": 8,
        "kind only": 4,
        "extra axis": 7,
    }
    for name, agg in _layouts(one).items():
        table = FAMILY.claims(agg)
        assert len(table) == expected[name], name
        assert table["n_seeds"].eq(2).all(), name


@pytest.mark.slow
def test_every_figure_for_every_layout(data, tmp_path):
    one = run(config(kind="infonce", temperature=0.3), data, [3, 5])
    layouts = _layouts(one)
    layouts["trained grid"] = _sweep(data, list(KINDS), [0.1, 1.0])
    for name, agg in layouts.items():
        for fig in FAMILY.figures:
            path = tmp_path / name.replace(" ", "_") / f"{fig.name}.png"
            fig.function()(agg, path)
            assert path.stat().st_size > 1000, (name, fig.name)


@pytest.mark.parametrize("kind", ["infonce", "hard"])
def test_memory_bank_trains_per_seed_as_alone_and_resumes(data, kind, tmp_path):
    """loss.negatives memory_bank: view 1 against a bank of EMA features (Wu et al.); a
    seed batched gets its numbers alone, the bank is checkpointed, and the bank moves."""
    cfg = config(kind=kind, negatives="memory_bank", bank_negatives=64)
    both = run(cfg, data, [3, 5])
    alone = run(cfg, data, [5])
    np.testing.assert_allclose(
        both["loss"].sel(seed=5).values[1:], alone["loss"].sel(seed=5).values[1:], rtol=1e-5
    )
    ckpt = tmp_path / "bank.pt"
    task = FAMILY.task(cfg, data, [3, 5], torch.device("cpu"))
    start = task.bank.clone()
    Engine(task, config={}, log=lambda m: None, checkpoint_path=ckpt).run()
    assert not torch.equal(task.bank, start) and torch.allclose(
        task.bank.norm(dim=-1), torch.ones(())
    )
    resumed = FAMILY.task(cfg, data, [3, 5], torch.device("cpu"))
    out = Engine(resumed, config={}, log=lambda m: None, checkpoint_path=ckpt).run()
    assert torch.equal(resumed.bank, task.bank)
    np.testing.assert_array_equal(out["loss"].values, both["loss"].values)
    with pytest.raises(ValueError, match="loss.negatives memory_bank"):
        config(kind="simple", negatives="memory_bank").check()
