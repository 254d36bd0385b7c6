"""``python -m contrastlab.families new <name>`` (:mod:`contrastlab.scaffold`): the
skeleton of a new family refuses bad or taken names, writes what README's "Adding a
family" lists, and the family it writes passes the unchanged registry tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contrastlab.params import defaults
from contrastlab.scaffold import (
    ScaffoldError,
    _load_config_class,
    camel,
    config_block,
    find_root,
    insert_experiment,
    new_family,
)

from wf_helpers import ROOT

NAME = "align_uniform"
# what a copy of the repository needs to run the registry tests and the workflow
COPIED = ("src", "config", "workflow", "tests", "Snakefile", "pyproject.toml")
IGNORED = shutil.ignore_patterns(
    ".venv", "results", "logs", "checkpoints", ".snakemake", "__pycache__", "*.egg-info"
)


def copy_repository(dest: Path) -> Path:
    """A copy of the repository's code, configs and tests (no .venv, no results)."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in COPIED:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=IGNORED)
        else:
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture
def bare_root(tmp_path) -> Path:
    """A repository with only what the command reads and writes: enough, and fast."""
    (tmp_path / "Snakefile").write_text("")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "src/contrastlab/families").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["Align", "1st", "align-uniform", "class", "a" * 25, ""])
def test_invalid_names_are_refused(bare_root, name):
    before = snapshot(bare_root)
    with pytest.raises(ScaffoldError, match="not a valid family name"):
        new_family(name, bare_root)
    assert snapshot(bare_root) == before  # nothing written


@pytest.mark.parametrize(
    "name, match",
    [
        ("hltm", "already registered"),  # a built-in family
        ("wenli", "already has an experiment 'wenli'"),  # an experiment of config.yaml
        ("numpy", "importable module"),  # tests/numpy/ would shadow numpy
        ("taken", r"tests/taken already exists"),
    ],
)
def test_taken_names_are_refused(bare_root, name, match):
    (bare_root / "tests/taken").mkdir()
    before = snapshot(bare_root)
    with pytest.raises(ScaffoldError, match=match):
        new_family(name, bare_root)
    assert snapshot(bare_root) == before


def test_new_family_writes_the_package_tests_and_config_blocks(bare_root):
    before = {rel: text for rel, text in snapshot(bare_root).items() if rel.endswith(".yaml")}
    written = new_family(NAME, bare_root)
    created = sorted(str(p.relative_to(bare_root)) for p in written.created)
    assert created == sorted(
        [f"src/contrastlab/families/{NAME}/{m}.py"
         for m in ("__init__", "config", "data", "task", "plots", "claims")]
        + [f"tests/{NAME}/__init__.py", f"tests/{NAME}/test_data.py"]
    )  # fmt: skip
    for path in written.created:
        compile(path.read_text(), str(path), "exec")  # valid Python
    config = yaml.safe_load((bare_root / "config/config.yaml").read_text())
    exp = config["experiments"][NAME]
    assert exp["activate"] is False and exp["family"] == NAME  # the default run is unchanged
    want = defaults(_load_config_class(NAME))
    assert {k: v for k, v in exp.items() if k in want} == want  # every key, at its default
    paper = yaml.safe_load((bare_root / "config/paper.yaml").read_text())
    assert paper["experiments"][NAME] == {"activate": False, "family": NAME}
    # the rest of both files is untouched, byte for byte
    for rel, text in before.items():
        new = (bare_root / rel).read_text()
        assert new.startswith(text.rstrip("\n")) and len(new) > len(text), rel
    with pytest.raises(ScaffoldError, match="already exists"):  # a second time: refused
        new_family(NAME, bare_root)


def test_insert_experiment_keeps_what_follows():
    text = "a: 1\nexperiments:\n  # e\n  e:\n    family: x\n\n# after\nb: 2\n"
    out = insert_experiment(text, "  f:\n    family: y\n")
    assert yaml.safe_load(out) == {
        "a": 1,
        "experiments": {"e": {"family": "x"}, "f": {"family": "y"}},
        "b": 2,
    }
    assert out.startswith("a: 1\nexperiments:\n  # e\n  e:\n    family: x\n\n  f:")
    with pytest.raises(ScaffoldError, match="experiments"):
        insert_experiment("a: 1\n", "  f: {}\n")


def test_config_block_comments_every_key():
    block = config_block(NAME, _load_config_class(NAME)).splitlines()
    for i, line in enumerate(block):
        if line.startswith("      ") and not line.lstrip().startswith(("#", "augmentation.")):
            assert block[i - 1].lstrip().startswith("#"), line


def test_names_and_root():
    assert camel("align_uniform") == "AlignUniform" and camel("x2") == "X2"
    assert find_root() == ROOT  # the repository the package lives in


def test_command_line_lists_families_and_refuses_bad_names(bare_root):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "contrastlab.families"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and "sparse_dense:" in out.stdout, out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "contrastlab.families", "new", "Bad-Name", "--root", str(bare_root)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 2 and "not a valid family name" in out.stderr, out.stderr


@pytest.mark.slow
def test_new_family_passes_the_registry_tests_unchanged(tmp_path):
    """In a copy of the repository: the command, then the unchanged registry tests, the
    family's own tests, ruff on what it wrote, and a dry run of the workflow with it."""
    repo = copy_repository(tmp_path / "repo")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    run = dict(capture_output=True, text=True, env=env, cwd=repo, timeout=600)
    out = subprocess.run(
        [sys.executable, "-m", "contrastlab.families", "new", NAME, "--root", str(repo)], **run
    )
    assert out.returncode == 0, out.stderr
    assert f"src/contrastlab/families/{NAME}/task.py" in out.stdout
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run(
        [*pytest_cmd, "tests/test_families.py", "-k", f"{NAME} or registry or plugs or built_in"],
        **run,
    )
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-4000:]
    assert (
        f"[{NAME}]"
        in subprocess.run([*pytest_cmd, "--collect-only", "tests/test_families.py"], **run).stdout
    )  # the registry tests did pick the new family up
    out = subprocess.run([*pytest_cmd, "tests/test_config.py", f"tests/{NAME}"], **run)
    assert out.returncode == 0 and " passed" in out.stdout, out.stdout[-4000:]
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff:  # what the command writes is lint- and format-clean
        own = [f"src/contrastlab/families/{NAME}", f"tests/{NAME}"]
        for check in (["check"], ["format", "--check"]):
            out = subprocess.run([ruff, *check, *own], **run)
            assert out.returncode == 0, out.stdout + out.stderr
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent))
    if snakemake:  # the unchanged workflow plans its jobs
        cfg = tmp_path / "mine.yaml"
        cfg.write_text(f"experiments:\n  mine:\n    family: {NAME}\n")
        out = subprocess.run(
            [snakemake, "-n", "--quiet", "rules", "--directory", str(tmp_path / "wf"),
             "--snakefile", str(repo / "Snakefile"), "--configfile", str(cfg)],
            **run,
        )  # fmt: skip
        assert out.returncode == 0 and "train_model" in out.stdout, out.stderr[-3000:]
