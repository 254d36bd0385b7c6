"""The digits_augment config: keys, defaults, what each strength means, the checks."""

import jsonschema
import pytest

from contrastlab.families.digits_augment import FAMILY, DigitsAugmentConfig
from contrastlab.families.digits_augment.config import STRENGTHS
from contrastlab.params import defaults, family_schema, from_sections, to_sections


def test_defaults_validate_against_the_generated_schema_and_round_trip():
    schema = family_schema(FAMILY.name, FAMILY.title, DigitsAugmentConfig)
    exp = {"family": FAMILY.name, **defaults(DigitsAugmentConfig)}
    jsonschema.validate(exp, schema)
    cfg = FAMILY.config(exp)
    assert cfg == DigitsAugmentConfig()
    assert from_sections(DigitsAugmentConfig, to_sections(cfg)) == cfg
    cfg.check()
    aug = schema["properties"]["augmentation"]["properties"]
    assert aug["strength"]["enum"] == list(STRENGTHS) == ["none", "weak", "strong"]
    assert schema["properties"]["loss"]["properties"]["kind"]["const"] == "infonce"
    assert set(to_sections(cfg)["train"]) >= {"steps", "eval_every", "checkpoint_every"}
    for bad in ({"strength": "medium"}, {"strong_erase_prob": 1.5}, {"weak_shift": -1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**exp, "augmentation": {**exp["augmentation"], **bad}}, schema)


def test_levels_are_the_documented_keys_and_none_is_all_off():
    cfg = DigitsAugmentConfig()
    assert cfg.level("none") == {"shift": 0, "noise": 0.0, "erase_prob": 0.0, "erase_size": 1}
    assert cfg.level("weak") == {"shift": 1, "noise": 0.05, "erase_prob": 0.0, "erase_size": 2}
    assert cfg.level("strong") == {"shift": 2, "noise": 0.1, "erase_prob": 0.5, "erase_size": 3}
    assert cfg.level() == cfg.level(cfg.strength)
    edited = FAMILY.config({"augmentation": {"strength": "weak", "weak_noise": 0.2}})
    assert edited.level()["noise"] == 0.2
    with pytest.raises(ValueError, match="augmentation.strength"):
        cfg.level("medium")


def test_a_strong_level_weaker_than_the_weak_one_is_warned_about():
    assert DigitsAugmentConfig().warnings() == []
    (msg,) = DigitsAugmentConfig(strong_shift=0).warnings()
    assert "augmentation.strong_shift (0) < augmentation.weak_shift (1)" in msg


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"train": {"batch_size": 1500}}, r"train.batch_size \(1500\) must be <= "),
        ({"data": {"test_fraction": 0.995}}, "data.test_fraction"),
        ({"train": {"steps": 10, "eval_every": 20}}, "train.eval_every"),
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
        ({"data": {"source": "digits"}}, "model.encoder"),
        ({"data": {"source": "cifar10"}}, "data.root is required"),
        ({"data": {"source": "cifar10", "root": "/nonexistent"}}, "cifar-10-batches-py"),
        ({"data": {"side": 8}, "model": {"channels": [4, 4, 4, 4, 4]}}, "model.channels"),
    ],
)
def test_image_sources_check_names_the_key(sections, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        FAMILY.config(sections).check()


def test_memory_estimate_grows_with_the_width():
    parts = DigitsAugmentConfig(encoder="mlp").memory_estimate(3)
    assert all(v > 0 for v in parts.values()) and sum(parts.values()) < 2**30
    assert (
        DigitsAugmentConfig(encoder="mlp", width=4096).memory_estimate(3)["model.width"]
        > parts["model.width"]
    )
