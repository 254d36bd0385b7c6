"""What the docs say about the code, checked against the code.

The README, ``config/README.md`` and the comments of ``config/config.yaml`` and
``config/paper.yaml`` name families, fusable keys, experiments and job counts of the
default run. Written by hand, they go stale; these tests compare them with what the code
knows, computed now (the registry, the default config, a ``snakemake -n`` dry run), and
fail with a message that says what to update and where.

The rules, in words:

* a paragraph that names three or more families names every registered family, unless
  it is about the families that train on images (then it names only families with an
  image source and every family that shares the image keys);
* where a paragraph lists two or more ``section.key`` keys right after the word
  "fusable", it lists exactly the keys the families declare fusable;
* every family and every experiment of ``config/config.yaml`` is named in the README,
  each experiment in its paper's heading ("... (experiments `a`, `b`, family `f`)");
* a README paragraph about the default run that gives job, experiment or family counts
  gives today's, unless it carries the date it was measured on (a record of that run);
  the per-experiment cost table lists today's active experiments and training jobs; an
  experiment's comment in ``config/config.yaml`` that says "N jobs" is right;
* the README's "Adding a family" lists exactly the files that
  ``python -m contrastlab.families new`` writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from contrastlab.config import experiment_jobs, training_jobs, validate_config
from contrastlab.params import fields_by_section
from contrastlab.registry import families

from wf_helpers import ROOT, SNAKEMAKE

FAMILIES = families()
DATED = re.compile(r"\b20\d\d-\d\d-\d\d\b")  # "measured 2026-12-03 on ..."
FILE_EXTENSIONS = {"py", "yaml", "yml", "nc", "svg", "html", "tsv", "md", "txt", "pt", "csv"}
HOW = "(`.venv/bin/python -m contrastlab.families` lists families and fusable keys)"


# --- the documents, cut into paragraphs ---------------------------------------------------


def markdown_paragraphs(path: Path) -> list[str]:
    """Blocks of a Markdown file separated by blank lines; a fenced code block, a heading
    and a table row are each one block."""
    out: list[str] = []
    cur: list[str] = []
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        single = not fenced and line.startswith(("#", "|"))
        if (not line.strip() and not fenced) or single:
            if cur:
                out.append("\n".join(cur))
                cur = []
            if single:
                out.append(line)
            continue
        cur.append(line)
    if cur:
        out.append("\n".join(cur))
    return out


def yaml_comment_paragraphs(path: Path) -> list[str]:
    """Runs of consecutive comment lines of a YAML file, without the ``#``."""
    out: list[str] = []
    cur: list[str] = []
    for line in path.read_text().splitlines():
        m = re.match(r"\s*#\s?(.*)", line)
        if m:
            cur.append(m.group(1))
        elif cur:
            out.append("\n".join(cur))
            cur = []
    if cur:
        out.append("\n".join(cur))
    return out


DOCS = {
    "README.md": markdown_paragraphs,
    "config/README.md": markdown_paragraphs,
    "config/config.yaml": yaml_comment_paragraphs,
    "config/paper.yaml": yaml_comment_paragraphs,
}


def paragraphs():
    """``(file, paragraph)`` of every document."""
    for rel, split in DOCS.items():
        for p in split(ROOT / rel):
            yield rel, p


def short(paragraph: str) -> str:
    """The start of a paragraph, to say which one in a message."""
    text = " ".join(paragraph.split())
    return text[:90] + ("…" if len(text) > 90 else "")


def family_names(rel: str, paragraph: str) -> set[str]:
    """Families a paragraph names: in backticks in Markdown (``temperature`` is also a
    word), as a word in YAML comments."""
    if rel.endswith(".md"):
        return {n for n in FAMILIES if f"`{n}`" in paragraph}
    return {n for n in FAMILIES if re.search(rf"(?<![\w/.]){n}(?![\w/])", paragraph)}


# --- what the code knows --------------------------------------------------------------------


@cache
def default_config() -> dict:
    return validate_config(
        yaml.safe_load((ROOT / "config/config.yaml").read_text()),
        ROOT / "workflow/schemas/config.schema.yaml",
    )


def fusable_keys() -> set[str]:
    return {k for fam in FAMILIES.values() for k in fam.fusable}


def sections() -> set[str]:
    return {s for fam in FAMILIES.values() for s in fields_by_section(fam.config_class)}


def data_choices(fam) -> set:
    """The choices of a family's ``data.source`` or ``data.kind`` key."""
    out = set()
    for f in fields_by_section(fam.config_class).get("data", []):
        if (f.metadata.get("key") or f.name) in ("source", "kind"):
            out |= set(f.metadata.get("enum") or ())
    return out


def image_families() -> set[str]:
    """Families that can train on images (``shapes`` among their data sources or kinds)."""
    return {n for n, fam in FAMILIES.items() if "shapes" in data_choices(fam)}


def shared_image_key_families() -> set[str]:
    """Families whose config takes the image layer's shared data keys (``ImageDataConfig``)."""
    from contrastlab.images.config import ImageDataConfig

    return {n for n, fam in FAMILIES.items() if issubclass(fam.config_class, ImageDataConfig)}


@cache
def dry_run_counts() -> dict[str, int]:
    """Jobs per rule of the default run, planned by ``snakemake -n`` in an empty folder
    (the workflow's rules change: counted now, never written into this test)."""
    import tempfile

    if not Path(SNAKEMAKE).exists() and shutil.which(SNAKEMAKE) is None:
        pytest.skip("snakemake not installed")
    with tempfile.TemporaryDirectory() as work:
        res = subprocess.run(
            [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", work,
             "--configfile", str(ROOT / "config/config.yaml"), "-n", "--quiet", "rules"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", res.stdout + res.stderr, re.M))
    assert "total" in counts, res.stdout[-2000:]
    return {k: int(v) for k, v in counts.items()}


# --- families and fusable keys ----------------------------------------------------------------


def test_family_lists_are_complete():
    fams = set(FAMILIES)
    for rel, p in paragraphs():
        named = family_names(rel, p)
        if len(named) < 3:
            continue
        if "train on images" in p:
            wrong = sorted(named - image_families())
            missing = sorted(shared_image_key_families() - named)
            assert not wrong and not missing, (
                f"{rel}: the paragraph '{short(p)}' lists the families that train on images: "
                f"remove {wrong} (no image source), add {missing} (they take the image keys)"
            )
            continue
        assert named == fams, (
            f"{rel}: the paragraph '{short(p)}' lists families: add {sorted(fams - named)} "
            f"(or refer to the command instead of listing them) {HOW}"
        )


def test_every_family_is_in_the_readme():
    text = (ROOT / "README.md").read_text()
    for name in FAMILIES:
        assert f"`{name}`" in text, (
            f"README.md never names family `{name}`: add the paper's row to the table at "
            "the top and a section on its experiments (README, Adding a family)"
        )


def test_fusable_key_lists_are_the_declared_keys():
    keys, secs = fusable_keys(), sections()
    token = re.compile(r"(?<![\w/.])([a-z_]+)\.([a-z_0-9]+)(?![\w/])")
    for rel, p in paragraphs():
        after = " ".join(p[m.end() : m.end() + 300] for m in re.finditer("fusable", p))
        found = token.findall(after)
        listed = {f"{s}.{k}" for s, k in found if s in secs and k not in FILE_EXTENSIONS}
        if len(listed) < 2:
            continue
        assert listed == keys, (
            f"{rel}: the paragraph '{short(p)}' lists fusable keys: add "
            f"{sorted(keys - listed)}, remove {sorted(listed - keys)} {HOW}"
        )


# --- experiments and job counts of the default run ---------------------------------------------

HEADING = re.compile(r"^#+ .*\((experiments? .+?), family `(\w+)`\)\s*$")


def test_readme_headings_name_the_experiments():
    exps = default_config()["experiments"]
    described = set()
    for p in markdown_paragraphs(ROOT / "README.md"):
        m = HEADING.match(p)
        if not m:
            continue
        for name in re.findall(r"`(\w+)`", m.group(1)):
            described.add(name)
            assert name in exps, (
                f"README.md heading '{p}': config/config.yaml has no experiment `{name}`"
            )
            assert exps[name]["family"] == m.group(2), (
                f"README.md heading '{p}': experiment `{name}` is of family "
                f"`{exps[name]['family']}`, not `{m.group(2)}`"
            )
    missing = sorted(set(exps) - described)
    assert not missing, (
        f"README.md describes no experiment {missing} of config/config.yaml: name each in "
        "its paper's heading, '### <paper> (experiments `a`, `b`, family `<family>`)'"
    )


def default_run_counts() -> dict[str, int]:
    cfg = default_config()
    active = {n: e for n, e in cfg["experiments"].items() if e.get("activate", True)}
    return {
        "experiments": len(active),
        "families": len({e["family"] for e in active.values()}),
        "training jobs": len(training_jobs(cfg)),
    }


def test_readme_counts_of_the_default_run_are_todays():
    """Undated counts of the default run's experiments, families and jobs are today's; a
    dated paragraph ("measured 2026-12-03 on ...") records a past run and is left alone."""
    now = default_run_counts()
    checked = 0
    for p in markdown_paragraphs(ROOT / "README.md"):
        if DATED.search(p) or p.startswith("|"):
            continue
        about_default = re.search(r"default (run|reproduction|config)", p)
        found = {
            "experiments": re.findall(r"(\d+) experiments of \d+ families", p),
            "families": re.findall(r"\d+ experiments of (\d+) families", p),
            "training jobs": re.findall(r"(\d+) (?:of them training(?: jobs)?|training jobs)\b", p),
            "jobs": re.findall(r"(\d+) jobs\b", p),
        }
        if not about_default and not found["experiments"]:
            continue
        for what, values in found.items():
            for value in values:
                want = dry_run_counts()["total"] if what == "jobs" else now[what]
                assert int(value) == want, (
                    f"README.md: the paragraph '{short(p)}' says {value} {what} in the default "
                    f"run; config/config.yaml and the workflow make {want} today: update it, or "
                    "date it if it records a measured run ('measured YYYY-MM-DD on <machine>')"
                )
                checked += 1
    assert checked, "README.md states the default run's counts nowhere (What the default run does)"


def test_readme_cost_table_lists_todays_experiments_and_training_jobs():
    cfg = default_config()
    active = [n for n, e in cfg["experiments"].items() if e.get("activate", True)]
    rows = {}
    for p in markdown_paragraphs(ROOT / "README.md"):
        m = re.match(r"^\| `(\w+)` \| (\d+) \|", p)
        if m:
            rows[m.group(1)] = int(m.group(2))
    assert rows, "README.md: no per-experiment cost table ('| `experiment` | training jobs |')"
    assert sorted(rows) == sorted(active), (
        f"README.md's cost table ('What each experiment costs') lists {sorted(rows)}; the "
        f"default run's experiments are {sorted(active)}: add {sorted(set(active) - set(rows))}, "
        f"remove {sorted(set(rows) - set(active))} (benchmarks/stages.py measures them)"
    )
    for name, n in rows.items():
        want = len(experiment_jobs(cfg, name))
        assert n == want, (
            f"README.md's cost table says {n} training jobs for `{name}`; the default config "
            f"makes {want} today: update the row (and its times: benchmarks/stages.py)"
        )


def experiment_comments(path: Path) -> dict[str, str]:
    """The comments of each experiment of a config file: the block above its name and the
    comments inside it."""
    lines = path.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^  [A-Za-z]\w*:\s*$", line)]
    out = {}
    for j, k in enumerate(starts):
        first = k
        while first > 0 and lines[first - 1].startswith("  #"):
            first -= 1
        end = starts[j + 1] if j + 1 < len(starts) else len(lines)
        while end > k + 1 and lines[end - 1].startswith("  #"):
            end -= 1  # the next experiment's block above its name
        text = [ln for ln in lines[first:end] if ln.strip().startswith("#")]
        out[lines[k].strip().rstrip(":")] = "\n".join(text)
    return out


def test_config_comments_count_the_experiments_jobs():
    cfg = default_config()
    for name, text in experiment_comments(ROOT / "config/config.yaml").items():
        if name not in cfg["experiments"]:
            continue
        for value in re.findall(r"(\d+) (?:training )?jobs?\b", text):
            want = len(experiment_jobs(cfg, name))
            assert int(value) == want, (
                f"config/config.yaml: a comment of experiment {name} says {value} jobs; its "
                f"sweep makes {want} training jobs today: update the comment"
            )


# --- Adding a family: exactly what the command writes ---------------------------------------


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_adding_a_family_lists_what_the_command_writes(tmp_path):
    from contrastlab.scaffold import new_family

    (tmp_path / "Snakefile").write_text("")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "src/contrastlab/families").mkdir(parents=True)
    name = "docs_check_family"
    written = new_family(name, tmp_path)
    wrote = {
        str(p.relative_to(tmp_path)).replace(name, "<name>")
        for p in (*written.created, *written.changed)
    }
    section = readme_section("Adding a family")
    block = section.split("**What the command writes**", 1)
    assert len(block) == 2, "README, Adding a family: no '**What the command writes**' list"
    listed = block[1].split("\n**", 1)[0]
    # the family's own paths (with <name>) and the config files it adds to
    paths = set(re.findall(r"`((?:src|tests)/[\w/.]*<name>[\w<>/.]*|config/\w+\.yaml)`", listed))
    assert paths == wrote, (
        "README, Adding a family, 'What the command writes': add "
        f"{sorted(wrote - paths)}, remove {sorted(paths - wrote)} (contrastlab/scaffold.py "
        "writes exactly these)"
    )


def test_dry_run_counts_the_training_jobs():
    """The dry run and contrastlab.config.training_jobs agree on the training jobs (both
    count the default run; the README's checks use both)."""
    assert dry_run_counts().get("train_model") == default_run_counts()["training jobs"]
