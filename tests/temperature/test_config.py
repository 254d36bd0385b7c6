"""The temperature family's config class and plug."""

import subprocess
import sys

import jsonschema
import pytest

from contrastlab.families.temperature import FAMILY, TemperatureConfig
from contrastlab.families.temperature.config import KINDS
from contrastlab.params import defaults, family_schema, from_sections, to_sections
from contrastlab.registry import Family, _check


def test_plug_is_a_family_with_prefixed_figures():
    assert isinstance(FAMILY, Family)
    assert _check(FAMILY, "test") is FAMILY
    assert FAMILY.name == "temperature" and FAMILY.title == "Wang & Liu 2021"
    assert FAMILY.config_class is TemperatureConfig
    assert "arXiv 2012.09740" in FAMILY.description and "[design]" in FAMILY.description
    tiny = FAMILY.config(FAMILY.tiny)
    tiny.check()
    assert tiny.n_rounds() >= 2 and FAMILY.data_sections == ("data", "analytic")
    assert len({f.name for f in FAMILY.figures}) == len(FAMILY.figures) == 5
    for fig in FAMILY.figures:
        assert callable(fig.function())
        assert "[design]" in fig.caption


def test_plug_imports_no_heavy_module():
    code = (
        "import sys, contrastlab.families.temperature as t; t.FAMILY.config({}); "
        "print([m for m in ('torch', 'matplotlib', 'sklearn', 'xarray') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_defaults_validate_against_the_generated_schema_and_round_trip():
    schema = family_schema("temperature", "Wang & Liu 2021", TemperatureConfig)
    exp = {"family": "temperature", **defaults(TemperatureConfig)}
    jsonschema.validate(exp, schema)
    cfg = FAMILY.config(exp)
    assert cfg == TemperatureConfig()
    assert from_sections(TemperatureConfig, to_sections(cfg)) == cfg
    cfg.check()
    loss = schema["properties"]["loss"]["properties"]
    assert loss["kind"]["enum"] == list(KINDS)
    assert loss["temperature"]["exclusiveMinimum"] == 0
    assert schema["properties"]["model"]["properties"]["embed_dim"]["minimum"] == 2
    bad = {**exp, "loss": {**exp["loss"], "hard_fraction": 1.5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"train": {"batch_size": 1500}},
            r"train.batch_size \(1500\) must be <= the training "
            r"split \(1437\)",
        ),
        ({"data": {"test_fraction": 0.995}}, "data.test_fraction"),
        ({"data": {"test_fraction": 0.004}}, "data.test_fraction"),
        ({"train": {"steps": 10, "eval_every": 20}}, "train.eval_every"),
        ({"analytic": {"taus": [0.1, 0.1]}}, "analytic.taus"),
        ({"loss": {"kind": "hard", "negatives": "nt_xent"}}, "loss.negatives"),
        ({"loss": {"kind": "simple", "negatives": "memory_bank"}}, "loss.negatives"),
        ({"loss": {"negatives": "memory_bank", "bank_negatives": 5000}}, "loss.bank_negatives"),
    ],
)
def test_check_names_the_key(sections, message):
    """On the digits source (the split's rules) with the MLP."""
    digits = {"data": {"source": "digits", **sections.get("data", {})}, "model": {"encoder": "mlp"}}
    with pytest.raises(ValueError, match=message):
        FAMILY.config({**sections, **digits}).check()


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"data": {"n_train": 100}, "train": {"batch_size": 128}}, r"train.batch_size \(128\)"),
        ({"data": {"source": "digits"}, "model": {"encoder": "convnet"}}, "model.encoder"),
        ({"data": {"source": "cifar10"}}, "data.root is required"),
        ({"data": {"source": "cifar10", "root": "/nonexistent"}}, "cifar-10-batches-py"),
        ({"data": {"side": 8}, "model": {"channels": [4, 4, 4, 4, 4]}}, "model.channels"),
    ],
)
def test_image_sources_check_names_the_key(sections, message):
    images = {
        "data": {"source": "shapes", **sections.get("data", {})},
        "model": {"encoder": "convnet", **sections.get("model", {})},
    }
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        FAMILY.config({**sections, **images}).check()


def test_memory_estimate_and_warnings():
    parts = TemperatureConfig(encoder="mlp").memory_estimate(3)
    assert all(v > 0 for v in parts.values()) and sum(parts.values()) < 2**30
    assert (
        TemperatureConfig(encoder="mlp", width=4096).memory_estimate(3)["model.width"]
        > parts["model.width"]
    )
    assert TemperatureConfig().warnings() == []
    assert TemperatureConfig(kind="infonce", temperature=0.5).warnings() == []
    (msg,) = TemperatureConfig(kind="simple", temperature=0.5).warnings()
    assert "loss.temperature" in msg


def test_negatives_and_lambda_follow_the_losses():
    from contrastlab.losses.hard import n_hard

    for B in (2, 9, 128, 256):
        for a in (0.01, 0.08, 0.5, 1.0):
            cfg = TemperatureConfig(kind="hard", batch_size=B, hard_fraction=a)
            assert cfg.n_negatives() == n_hard(B, a)
    assert TemperatureConfig(kind="simple", batch_size=128).lam() == pytest.approx(1 / 127)
    assert TemperatureConfig(kind="hard_simple", batch_size=128).lam() == pytest.approx(1 / 11)
    assert TemperatureConfig(kind="simple", simple_lambda=0.5).lam() == 0.5
    assert TemperatureConfig(steps=400, eval_every=100).n_rounds() == 4
    assert TemperatureConfig(steps=401, eval_every=100).n_rounds() == 5
