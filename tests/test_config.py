import copy

import pytest
import yaml

from contrastlab.config import ConfigError, expand_experiment, sweep_points, validate_config


@pytest.fixture
def schema(root):
    return root / "workflow/schemas/config.schema.yaml"


@pytest.fixture
def cfg(root):
    return yaml.safe_load((root / "config/config.yaml").read_text())


def test_shipped_config_is_valid_and_expands(cfg, schema):
    valid = validate_config(cfg, schema)
    labels = [p.label for p in sweep_points(valid) if p.experiment == "wenli"]
    assert labels == ["masking=none", "masking=independent", "masking=complementary"]


def test_defaults_are_filled(cfg, schema):
    del cfg["n_seeds"]
    del cfg["experiments"]["wenli"]["train"]["lr"]
    valid = validate_config(cfg, schema)
    assert valid["n_seeds"] == 3
    assert valid["experiments"]["wenli"]["train"]["lr"] == 0.01


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["experiments"]["wenli"]["train"].update(lr=-1), "experiments.wenli.train.lr"),
        (
            lambda c: c["experiments"]["wenli"]["train"].update(lrate=1),
            "experiments.wenli.train.lrate",
        ),
        (lambda c: c.update(n_seed=2), "n_seed"),
        (lambda c: c.update(n_seeds="three"), "n_seeds"),
        (lambda c: c.update(device="tpu"), "device"),
        (lambda c: c["experiments"]["wenli"]["data"].update(d1="big"), "experiments.wenli.data.d1"),
        (lambda c: c["experiments"]["wenli"].update(family="nope"), "experiments.wenli.family"),
        (
            lambda c: c["experiments"]["wenli"]["sweep"].update({"augmentation.masking": ["x"]}),
            "augmentation.masking",
        ),
        (
            lambda c: c["experiments"]["wenli"]["sweep"].update({"train.epochs": [1]}),
            "experiments.wenli.sweep.train.epochs",
        ),
        (
            lambda c: c["experiments"]["wenli"]["sweep"].update({"train.lr": [0.1, -0.1]}),
            "train.lr",
        ),
    ],
)
def test_bad_config_is_rejected_naming_the_key(cfg, schema, mutate, key):
    bad = copy.deepcopy(cfg)
    mutate(bad)
    with pytest.raises(ConfigError) as err:
        validate_config(bad, schema)
    assert key in str(err.value)


def test_grid_expansion_and_shared_data():
    exp = {
        "family": "sparse_dense",
        "data": {"sparsity": 0.1},
        "train": {"lr": 0.01},
        "sweep": {"data.sparsity": [0.1, 0.2], "train.lr": [0.01, 0.1, 1.0]},
    }
    points = expand_experiment("e", exp)
    assert len(points) == 6
    assert points[0].label == "sparsity=0.1__lr=0.01"
    assert "," not in "".join(p.label for p in points)  # commas break SLURM array jobs
    assert points[-1].config["data"]["sparsity"] == 0.2 and points[-1].config["train"]["lr"] == 1.0
    assert {p.data_label for p in points} == {"sparsity=0.1", "sparsity=0.2"}
    assert "sweep" not in points[0].config


def test_duplicate_axis_names_are_rejected():
    exp = {"family": "x", "a": {"n": 1}, "b": {"n": 2}, "sweep": {"a.n": [1], "b.n": [2]}}
    with pytest.raises(ConfigError, match="same name"):
        expand_experiment("e", exp)
