import copy
import re

import jsonschema
import pytest
import yaml

from contrastlab.config import (
    ConfigError,
    expand_experiment,
    full_schema,
    sweep_points,
    validate_config,
)
from contrastlab.params import TOP_LEVEL, default_of, defaults, fields_by_section
from contrastlab.registry import families


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
    assert valid["n_seeds"] == 5
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


# --- config.yaml, the generated schema and the families' dataclasses agree ------------

FAMILIES = families()


def _family_experiments(cfg):
    """The first experiment of each family: the one that documents every key."""
    first = {}
    for name, exp in cfg["experiments"].items():
        first.setdefault(exp["family"], (name, exp))
    return dict(first.values())


ADD = "(README, Adding a family; `python -m contrastlab.families new` writes one)"


def test_every_family_is_in_the_shipped_config(cfg):
    """Each family's first experiment in config.yaml documents every key of the family."""
    used = {exp["family"] for exp in cfg["experiments"].values()}
    for name in FAMILIES:
        assert name in used, (
            f"config/config.yaml has no experiment of family {name!r}: add one listing every "
            f"key at its default (activate: false keeps it out of the default run) {ADD}"
        )


def test_every_family_is_in_the_paper_config(root):
    """config/paper.yaml is the paper-scale run of every family."""
    paper = yaml.safe_load((root / "config/paper.yaml").read_text())
    used = {exp["family"] for exp in paper["experiments"].values()}
    for name in FAMILIES:
        assert name in used, (
            f"config/paper.yaml has no experiment of family {name!r}: add one with the "
            f"paper's sizes (activate: false until it reproduces the paper) {ADD}"
        )


def test_config_yaml_lists_every_key_with_the_dataclass_default(cfg):
    """Same keys and same defaults in config.yaml's first experiment of each family and the
    dataclass (swept keys excepted: their base value is still the default)."""
    for name, exp in _family_experiments(cfg).items():
        fam = FAMILIES[exp["family"]]
        want = defaults(fam.config_class)
        got = {k: v for k, v in exp.items() if k not in TOP_LEVEL}
        where = f"config/config.yaml, experiments.{name} (the first of family {exp['family']!r})"
        assert sorted(got) == sorted(want), (
            f"{where}: sections {sorted(got)}, the dataclass has {sorted(want)}: list every "
            f"section and key of the family's config dataclass {ADD}"
        )
        for section, keys in want.items():
            missing, extra = (
                sorted(set(keys) - set(got[section])),
                sorted(set(got[section]) - set(keys)),
            )
            assert not missing and not extra, (
                f"{where}.{section}: add {missing}, remove {extra} (the dataclass's keys)"
            )
            for key, default in keys.items():
                value = got[section][key]
                assert (
                    value == default
                    and type(value) is type(default)
                    or (isinstance(default, float) and isinstance(value, int) and value == default)
                ), f"experiments.{name}.{section}.{key}: config.yaml {value!r} != {default!r}"


def test_config_yaml_comments_every_key(root, cfg):
    """Every key of an experiment section has a comment line above it (or inline)."""
    lines = (root / "config/config.yaml").read_text().splitlines()
    keys = {k for exp in cfg["experiments"].values() for s in exp.values()
            if isinstance(s, dict) for k in s}  # fmt: skip
    for i, line in enumerate(lines):
        m = re.match(r"^      ([a-z_0-9]+):", line)
        if not m or m.group(1) not in keys:
            continue
        above = lines[i - 1].strip()
        assert above.startswith("#") or "#" in line, f"config.yaml line {i + 1} uncommented"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_schema_is_the_dataclass(schema, family):
    """The generated schema has the dataclass's keys, types, defaults and ranges, and each
    default lies in its own range (ranges are checked in one place: the schema)."""
    cls = FAMILIES[family].config_class
    defs = full_schema(schema)["$defs"][family]["properties"]
    for section, flds in fields_by_section(cls).items():
        props = defs[section]["properties"]
        assert sorted(props) == sorted(f.metadata.get("key") or f.name for f in flds)
        for f in flds:
            sub = props[f.metadata.get("key") or f.name]
            assert sub["default"] == default_of(f)
            jsonschema.validate(default_of(f), sub)  # the default is in range
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if f.metadata.get(bound) is not None:
                    assert sub.get(bound, sub.get("items", {}).get(bound)) == f.metadata[bound]
    # and validation fills exactly the dataclass defaults
    valid = validate_config({"experiments": {"e": {"family": family}}}, schema)
    assert FAMILIES[family].config(valid["experiments"]["e"]) == cls()


def test_family_enum_is_the_registry(schema):
    full = full_schema(schema)
    enum = full["properties"]["experiments"]["additionalProperties"]["properties"]["family"]
    assert enum["enum"] == list(FAMILIES)


def test_cross_field_rule_names_the_sweep_point(cfg, schema):
    bad = copy.deepcopy(cfg)
    bad["experiments"]["hltm"]["sweep"]["data.delta_lower"] = [0.7, 1.0]
    bad["experiments"]["hltm"]["data"]["delta_upper"] = 0.9
    with pytest.raises(ConfigError, match=r"sweep point hid=2__delta_lower=1\.0.*delta_lower"):
        validate_config(bad, schema)


def test_paper_config_validates_and_fuses(root, schema, tmp_path):
    """config/paper.yaml (README, "Speed") is a valid config with every family in it, its
    image experiments on CIFAR-10 and STL-10 (read from data_root: miniatures in the official
    layouts)
    with ResNet-18 on CUDA; without the folder the error names it and the files."""
    from contrastlab.config import load_config_files, training_jobs

    from images.miniature import write_cifar10, write_stl10

    paper = load_config_files([root / "config/paper.yaml"])
    want = r"missing does not exist.*cifar-10-batches-py/.*cifar-10-python.tar.gz"
    with pytest.raises(ConfigError, match=want):
        validate_config({**paper, "data_root": str(tmp_path / "missing")}, schema)
    mini = write_stl10(write_cifar10(tmp_path / "data"))
    cfg = validate_config({**paper, "data_root": str(mini)}, schema)
    missing = set(FAMILIES) - {e["family"] for e in cfg["experiments"].values()}
    assert not missing, f"config/paper.yaml has no experiment of {sorted(missing)} {ADD}"
    images = [e for e in cfg["experiments"].values() if e.get("data", {}).get("source")]
    assert {e["data"]["source"] for e in images} == {"cifar10", "stl10"} and len(images) >= 2
    assert {e["model"]["encoder"] for e in images} == {"resnet18"} and cfg["device"] == "cuda"
    assert cfg["n_seeds"] >= 5
    hltm = cfg["experiments"]["hltm"]
    assert hltm["train"]["samples_per_epoch"] == 64000 and hltm["train"]["epochs"] >= 20
    assert any(j.fused for j in training_jobs(cfg))
