"""Sweep points of a fusable family for the fusion tests (tests/test_fuse.py, test_cuda.py)."""

import copy

import yaml

from contrastlab.config import validate_config
from contrastlab.params import to_sections
from contrastlab.registry import families

from wf_helpers import ROOT

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
FUSABLE = [name for name, fam in families().items() if fam.fusable]


def default_config():
    return validate_config(yaml.safe_load((ROOT / "config/config.yaml").read_text()), SCHEMA)


def swept_values(family: str) -> dict:
    """The values config/config.yaml sweeps each fusable key of ``family`` over."""
    out = {}
    for exp in default_config()["experiments"].values():
        if exp["family"] == family:
            for key, values in (exp.get("sweep") or {}).items():
                if key in families()[family].fusable:
                    out.setdefault(key, values)
    return out


def point_configs(family: str, n: int = 3) -> list[dict]:
    """Up to ``n`` resolved configs of the family's tiny experiment, each with other
    values of its first swept fusable key."""
    fam = families()[family]
    key, values = next(iter(swept_values(family).items()))
    section, name = key.split(".")
    cfgs = []
    for v in values[:n]:
        exp = copy.deepcopy({"family": family, **fam.tiny})
        exp.setdefault(section, {})[name] = v
        exp = validate_config({"experiments": {"e": exp}}, SCHEMA)["experiments"]["e"]
        cfgs.append({"family": family, **to_sections(fam.config(exp))})
    return cfgs
