"""The conda envs in envs/ list what the rules using them import, and nothing that
pyproject.toml does not declare.

Each stage (the rules that use one env) is run for every registered family on its tiny
config in a fresh interpreter; the third-party distributions it imported must be in that
rule's env file, and every pyproject dependency must be in some env.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from wf_helpers import ROOT

# conda-forge names of PyPI distributions, where they differ
CONDA_NAME = {"torch": "pytorch"}

# What each env's rules do, as code run in a fresh interpreter (prints the imported modules).
STAGES = {
    "torch": """
from contrastlab.config import check_experiment
from contrastlab.params import to_sections
from contrastlab.pipeline import synthesize, train
from contrastlab.registry import families
for name, fam in families().items():
    cfg = {"family": name, **to_sections(check_experiment({"family": name, **fam.tiny}))}
    train(synthesize(cfg, [0]), cfg, "cpu", log=lambda m: None)
""",
    "analysis": """
import tempfile, pathlib
from contrastlab.config import check_experiment
from contrastlab.params import to_sections
from contrastlab.pipeline import aggregate, claims, figure, synthesize, train
from contrastlab.registry import families
from contrastlab.report import claims_html
out = pathlib.Path(tempfile.mkdtemp())
for name, fam in families().items():
    cfg = {"family": name, **to_sections(check_experiment({"family": name, **fam.tiny}))}
    ds = train(synthesize(cfg, [0, 1]), cfg, "cpu", log=lambda m: None)
    import sys; before = set(sys.modules)  # only what the analysis rules add counts
    agg = aggregate([ds], [{}], {})
    claims_html(claims(agg, name), name, fam.description)
    for fig in fam.figures:
        figure(agg, name, fig.name, out / f"{fig.name}.svg")
""",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_deps() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_norm(re.split(r"[<>=!~ \[]", d)[0]) for d in deps}


def env_packages(env: str) -> set[str]:
    spec = yaml.safe_load((ROOT / f"envs/{env}.yaml").read_text())
    names = {_norm(d.split()[0]) for d in spec["dependencies"] if isinstance(d, str)}
    return names - {"python"}


def imported_distributions(code: str) -> set[str]:
    probe = (
        code
        + """
import importlib.metadata as md, json, sys
mods = set(sys.modules) - (before if "before" in dir() else set())
dists = md.packages_distributions()
print(json.dumps(sorted({d for m in mods for d in dists.get(m.split(".")[0], [])})))
"""
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return {_norm(d) for d in json.loads(out.stdout.strip().splitlines()[-1])}


@pytest.mark.slow
@pytest.mark.parametrize("env", list(STAGES))
def test_env_lists_what_its_rules_import(env):
    declared = pyproject_deps()
    need = {CONDA_NAME.get(d, d) for d in imported_distributions(STAGES[env]) & declared}
    missing = need - env_packages(env)
    assert not missing, f"envs/{env}.yaml lacks {sorted(missing)}"


def test_envs_cover_pyproject_and_nothing_else():
    declared = {CONDA_NAME.get(d, d) for d in pyproject_deps()}
    listed = env_packages("torch") | env_packages("analysis")
    assert declared <= listed, f"in no env: {sorted(declared - listed)}"
    assert listed <= declared, f"not in pyproject: {sorted(listed - declared)}"


def test_rules_use_these_envs():
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    used = set(re.findall(r'conda:\s*"\.\./\.\./envs/(\w+)\.yaml"', rules))
    assert used == set(STAGES)
