"""Loading, validating and expanding the workflow configuration.

The config (``config/config.yaml``) declares experiments; each has a
``family`` (which data generator / model / metrics it uses), sections of
hyper-parameters and ``sweep`` axes. Validation happens before any job runs
and every error names the offending key, e.g.
``config error at experiments.wenli.train.lr: -1 is less than the minimum of 0``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from contrastlab.errors import ContrastlabError

# Joins the axes of a sweep point's label (``hid=2__delta_lower=0.9``). Not a comma:
# the SLURM executor passes array-job wildcards as a comma-separated list.
SEP = "__"


class ConfigError(ContrastlabError, ValueError):
    """A config that cannot run; the message names the key."""


@dataclass
class SweepPoint:
    """One training job: an experiment at one combination of sweep values.

    Attributes:
        experiment: experiment name.
        label: path-safe name of the point, e.g. ``masking=none`` or
            ``hid=2__delta_lower=0.9`` (``base``
            when the experiment has no sweep).
        values: ``{axis: value}``, axis = last part of the dotted key.
        config: the experiment's config with the sweep values substituted
            (and no ``sweep`` key).
        data_label: label of the data this point trains on (only axes in the
            family's ``data_sections`` matter), so points that share data share
            one data job.
    """

    experiment: str
    label: str
    values: dict
    config: dict
    data_label: str
    keys: dict = field(default_factory=dict)


class DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping that gives one key twice."""


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with two YAML 1.2 fixes: a key given twice in one mapping is
    an error (PyYAML keeps the last one silently), and ``1e-3`` is a number (YAML 1.1,
    PyYAML's dialect, reads a float without a dot as a string)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKeyError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first given "
                    f"at line {seen[key] + 1}); a key may appear once per mapping"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_yaml(path: str | Path, what: str = "config file") -> dict:
    """Read a YAML mapping with :class:`StrictLoader`; errors name the file and say what
    is expected."""
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=StrictLoader)
    except FileNotFoundError as err:
        raise ConfigError(f"{what} not found: {path}") from err
    except IsADirectoryError as err:
        raise ConfigError(f"{what} {path} is a directory, not a YAML file") from err
    except DuplicateKeyError as err:
        raise ConfigError(f"{what} {path}, {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path} is not valid YAML: {err}") from err
    if data is None:
        raise ConfigError(
            f"{what} {path} is empty: expected a YAML mapping with an `experiments:` section "
            "(see config/config.yaml and config/README.md)"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {path} must be a YAML mapping (keys such as n_seeds, experiments), "
            f"not a {type(data).__name__}"
        )
    return data


def load_config_files(paths, overrides: dict | None = None) -> dict:
    """The config of a run: the files in order (later keys win, nested sections merged),
    then the ``--config KEY=VALUE`` overrides."""
    config: dict = {}
    for path in paths:
        _merge(config, load_yaml(path))
    _merge(config, _numbers(dict(overrides or {})))
    return config


def _numbers(node):
    """``--config`` values as YAML reads them: Snakemake leaves the leaves of a mapping
    such as ``n_seeds={start: 5, step: 5, max: 20}`` as strings ('5')."""
    if isinstance(node, dict):
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    if isinstance(node, str):
        try:
            value = yaml.load(node, Loader=StrictLoader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            return node
        return value if isinstance(value, int | float | bool) else node
    return node


def _merge(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def _check_finite(node, where: str) -> None:
    """NaN and infinity are numbers to JSON schema; never a sensible setting here."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config error at {where}: {node} is not a finite number")
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, f"{where}[{i}]")


def _where(prefix: str, path) -> str:
    parts = [prefix] if prefix else []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[") or "<root>"


def _raise_first(validator, instance, prefix: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        where = _where(prefix, list(err.absolute_path) + extra[:1])
        raise ConfigError(f"config error at {where}: unknown key (allowed here: {allowed})")
    raise ConfigError(f"config error at {_where(prefix, err.absolute_path)}: {err.message}")


def _fill_defaults(schema: dict, instance: dict, defs: dict) -> None:
    if "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            sub = defs[sub["$ref"].split("/")[-1]]
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(sub, instance[key], defs)


def full_schema(schema_path: str | Path) -> dict:
    """The workflow schema file plus one ``$defs/<family>`` per registered family,
    generated from the family's config dataclass, and the ``family`` enum."""
    from contrastlab.params import family_schema
    from contrastlab.registry import families

    schema = load_yaml(schema_path)
    defs = schema.setdefault("$defs", {})
    fams = families()
    for name, fam in fams.items():
        defs[name] = family_schema(name, fam.title, fam.config_class)
    exp = schema["properties"]["experiments"]["additionalProperties"]
    exp["properties"]["family"]["enum"] = list(fams)
    return schema


def machine_memory_bytes() -> int:
    """Physical memory of this machine (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def memory_limit(config: dict) -> float:
    """Bytes a training job may use: ``max_job_memory_gb``, else this machine's memory."""
    gb = config.get("max_job_memory_gb")
    return gb * 2**30 if gb is not None else machine_memory_bytes()


def _gb(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def _check_memory(cfg, name: str, label: str, n_seeds: int, limit: float) -> None:
    """Refuse a job whose estimated memory exceeds ``limit`` bytes, naming the key."""
    estimate = getattr(cfg, "memory_estimate", None)
    if estimate is None or limit <= 0:
        return
    parts = estimate(n_seeds)
    total = sum(parts.values())
    if total > limit:
        key = max(parts, key=parts.get)
        point = f" (sweep point {label})" if label != "base" else ""
        raise ConfigError(
            f"config error at experiments.{name}.{key}{point}: one training job would need "
            f"about {_gb(total)} "
            f"of memory ({_gb(parts[key])} from {key} with {n_seeds} seeds), more than the "
            f"limit of {_gb(limit)} (max_job_memory_gb; default: this machine's memory). "
            "Reduce it, or raise max_job_memory_gb if your compute nodes have more."
        )


def validate_config(config: dict, schema_path: str | Path, warn=None) -> dict:
    """Validate ``config`` against the schema and return it with defaults filled in.

    Every sweep point is validated too: the schema, the family's cross-field
    rules (the config class's ``check()``) and the job's estimated memory
    (``memory_estimate()``) against ``max_job_memory_gb``. Numbers must be
    finite; at least one experiment must be active.

    Args:
        config: the merged config (e.g. from :func:`load_config_files`).
        schema_path: the workflow's JSON schema file.
        warn: called with each warning (settings that run but do little, e.g.
            ``epochs: 0``); default: ignore.

    Raises:
        ConfigError: naming the first bad key (and the sweep point).
    """
    from contrastlab.registry import get_family

    schema = full_schema(schema_path)
    defs = schema["$defs"]
    config = copy.deepcopy(config)
    _check_finite(config, "")
    _raise_first(jsonschema.Draft202012Validator(schema), config, "")
    _fill_defaults(schema, config, defs)
    if not active_experiments(config):
        raise ConfigError(
            "config error at experiments: every experiment has activate: false; "
            "nothing would run (set activate: true on at least one)"
        )
    limit = memory_limit(config)
    _check_design("n_seeds", config.get("n_seeds"))
    for name, exp in config["experiments"].items():
        family = exp["family"]
        sub = {"$defs": defs, "$ref": f"#/$defs/{family}"}
        _raise_first(jsonschema.Draft202012Validator(sub), exp, f"experiments.{name}")
        _fill_defaults(defs[family], exp, defs)
        _check_claims_and_seeds(config, name, exp)
        data = exp.get("data")
        if isinstance(data, dict) and "root" in data and data["root"] is None:
            data["root"] = config.get("data_root")  # the top-level folder of real data sets
        fam = get_family(family)
        for point in expand_experiment(name, exp):  # every point must be valid too
            where = f"experiments.{name}" + (
                f" (sweep point {point.label})" if point.label != "base" else ""
            )
            _raise_first(jsonschema.Draft202012Validator(sub), {**point.config, "sweep": {}}, where)
            cfg = fam.config(point.config)
            check = getattr(cfg, "check", None)
            if check is not None:
                try:
                    check()
                except (ValueError, FileNotFoundError) as err:  # a missing data.root too
                    raise ConfigError(f"config error at {where}: {err}") from None
            if exp.get("activate", True):
                _check_memory(cfg, name, point.label, job_seeds(config, name), limit)
            if warn is not None and exp.get("activate", True):
                for msg in getattr(cfg, "warnings", lambda: [])():
                    warn(f"config warning at {where}: {msg}")
    return config


def _check_claims_and_seeds(config: dict, name: str, exp: dict) -> None:
    """An experiment's ``claims`` must name claims of its family; its sequential
    ``n_seeds`` needs 2 <= start <= max."""
    from contrastlab.registry import get_family

    if exp.get("claims") is not None:
        known = get_family(exp["family"]).claim_names()
        bad = [c for c in exp["claims"] if c not in known]
        if bad:
            raise ConfigError(
                f"config error at experiments.{name}.claims: unknown claim {bad[0]!r} of "
                f"family {exp['family']!r}; known: {list(known)}"
            )
    _check_design(f"experiments.{name}.n_seeds", exp.get("n_seeds"))


def _check_design(where: str, value) -> None:
    """A sequential ``n_seeds`` ({start, step, max}) must be a valid design."""
    from contrastlab.sequential import Design

    try:
        Design.from_config(value)
    except ValueError as err:
        raise ConfigError(f"config error at {where}: {err}") from None


SCHEMA = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"


def check_experiment(exp: dict, schema_path: str | Path = SCHEMA):
    """Validate one experiment block (schema, cross-field rules, every sweep point)
    and return its typed config (the base point's), e.g. in a notebook or a test.

    Raises:
        ConfigError: naming the bad key as ``experiments.exp.<section>.<key>``.
    """
    from contrastlab.registry import get_family

    exp = validate_config({"experiments": {"exp": exp}}, schema_path)["experiments"]["exp"]
    base = {k: v for k, v in exp.items() if k != "sweep"}
    return get_family(exp["family"]).config(base)


def _set_dotted(d: dict, dotted: str, value, where: str) -> None:
    parts = dotted.split(".")
    node = d
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise ConfigError(f"config error at {where}.sweep.{dotted}: no section {p!r} to sweep")
        node = node[p]
    if parts[-1] not in node:
        raise ConfigError(
            f"config error at {where}.sweep.{dotted}: unknown key {parts[-1]!r} "
            f"(allowed here: {sorted(node)})"
        )
    node[parts[-1]] = value


def _fmt(v) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _data_sections(family) -> tuple[str, ...]:
    """Config sections the family's data depend on (``("data",)`` if unknown)."""
    from contrastlab.registry import families

    fam = families().get(family)
    return fam.data_sections if fam is not None else ("data",)


def expand_experiment(name: str, exp: dict) -> list[SweepPoint]:
    """The sweep grid of one experiment as a list of :class:`SweepPoint`."""
    sweep = exp.get("sweep") or {}
    base = {k: v for k, v in exp.items() if k != "sweep"}
    data_sections = _data_sections(exp.get("family"))
    keys = list(sweep)
    axes = [k.split(".")[-1] for k in keys]
    dupes = {a for a in axes if axes.count(a) > 1}
    if dupes:
        raise ConfigError(
            f"config error at experiments.{name}.sweep: two axes end in the same name {dupes}"
        )
    points = []
    for combo in itertools.product(*(sweep[k] for k in keys)):
        cfg = copy.deepcopy(base)
        for key, value in zip(keys, combo, strict=True):
            _set_dotted(cfg, key, value, f"experiments.{name}")
        values = dict(zip(axes, combo, strict=True))
        label = SEP.join(f"{a}={_fmt(v)}" for a, v in values.items()) or "base"
        data_label = (
            SEP.join(
                f"{a}={_fmt(v)}"
                for k, a, v in zip(keys, axes, combo, strict=True)
                if k.split(".")[0] in data_sections
            )
            or "base"
        )
        points.append(
            SweepPoint(name, label, values, cfg, data_label, dict(zip(axes, keys, strict=True)))
        )
    return points


def check_writable(dirs) -> None:
    """Refuse to start when an output folder (or the working directory, where one is
    still to be made) is not writable, instead of failing inside a job."""
    for d in dirs:
        path = Path(d)
        target = path if path.exists() else Path(".")
        if not os.access(target, os.W_OK):
            raise ConfigError(
                f"{target.resolve()} is not writable: the workflow writes {d}/ there "
                "(check its permissions, or run from a writable copy with --directory)"
            )


def active_experiments(config: dict) -> dict:
    """``{name: experiment}`` of the experiments with ``activate: true``."""
    return {n: e for n, e in config["experiments"].items() if e.get("activate", True)}


def _n_seeds(config: dict, experiment: str | None):
    n = config["n_seeds"]
    if experiment is not None:
        n = config["experiments"][experiment].get("n_seeds") or n
    return n


def seed_design(config: dict, experiment: str):
    """The sequential design (:class:`contrastlab.sequential.Design`) of an experiment
    whose ``n_seeds`` (its own, else the top level's) is ``{start, step, max}``; None for
    a fixed number of seeds."""
    from contrastlab.sequential import Design

    return Design.from_config(_n_seeds(config, experiment))


def seeds(config: dict, experiment: str | None = None, stage: int | None = None) -> list[int]:
    """The seed list of an experiment (its own ``n_seeds`` if it sets one, else the
    top-level one), or of the config's top level. With a sequential design: the seeds of
    ``stage`` (1-based; default the first), each stage's seeds training as their own jobs."""
    n = _n_seeds(config, experiment)
    if isinstance(n, dict):
        from contrastlab.sequential import Design

        return Design.from_config(n).new_seeds(config["base_seed"], stage or 1)
    return [config["base_seed"] + i for i in range(n)]


def job_seeds(config: dict, experiment: str) -> int:
    """The most seeds one training job of the experiment trains (for memory estimates)."""
    design = seed_design(config, experiment)
    if design is None:
        return len(seeds(config, experiment))
    return max(len(seeds(config, experiment, k)) for k in range(1, design.stages + 1))


def sweep_points(config: dict) -> list[SweepPoint]:
    """All training jobs of the active experiments."""
    return [p for n, e in active_experiments(config).items() for p in expand_experiment(n, e)]


@dataclass
class TrainingJob:
    """One training job: one sweep point, or several fused into one batched model.

    Attributes:
        experiment: experiment name.
        label: path-safe name of the job: the point's label for a one-point job;
            for a fused job the non-fused axes' values and the fused axes, e.g.
            ``kind=infonce__fused=temperature``.
        points: the sweep points it trains, in sweep order.
    """

    experiment: str
    label: str
    points: list[SweepPoint]

    @property
    def fused(self) -> bool:
        return len(self.points) > 1


def fuse_mode(config: dict, experiment: str) -> str:
    """``auto`` or ``none``: the experiment's own ``fuse`` if it sets one, else the top level."""
    return config["experiments"][experiment].get("fuse") or config.get("fuse", "auto")


def _without(cfg: dict, dotted: tuple[str, ...]) -> str:
    """The config with the fusable keys blanked, as a comparable string."""
    cfg = copy.deepcopy(cfg)
    for key in dotted:
        section, _, name = key.partition(".")
        if isinstance(cfg.get(section), dict) and name in cfg[section]:
            cfg[section][name] = None
    return json.dumps(cfg, sort_keys=True, default=str)


def experiment_jobs(config: dict, name: str) -> list[TrainingJob]:
    """The training jobs of one experiment: with ``fuse: auto``, the sweep points that
    differ only in the family's ``fusable`` keys form one job (unless the fused job's
    estimated memory exceeds ``max_job_memory_gb``; then they stay apart)."""
    from contrastlab.registry import get_family

    exp = config["experiments"][name]
    points = expand_experiment(name, exp)
    fam = get_family(exp["family"])
    if fuse_mode(config, name) == "none" or not fam.fusable or len(points) < 2:
        return [TrainingJob(name, p.label, [p]) for p in points]
    groups: dict[str, list[SweepPoint]] = {}
    for p in points:
        groups.setdefault(_without(p.config, fam.fusable), []).append(p)
    limit = memory_limit(config)
    n_seeds = job_seeds(config, name)
    jobs = []
    for members in groups.values():
        estimate = getattr(fam.config(members[0].config), "memory_estimate", None)
        too_big = (
            estimate is not None
            and limit > 0
            and sum(estimate(n_seeds * len(members)).values()) > limit
        )
        if len(members) == 1 or too_big:
            jobs += [TrainingJob(name, p.label, [p]) for p in members]
            continue
        fused = [a for a, k in members[0].keys.items() if k in fam.fusable]
        kept = SEP.join(f"{a}={_fmt(v)}" for a, v in members[0].values.items() if a not in fused)
        label = SEP.join(x for x in (kept, "fused=" + "+".join(fused)) if x)
        jobs.append(TrainingJob(name, label, members))
    return jobs


def training_jobs(config: dict) -> list[TrainingJob]:
    """All training jobs of the active experiments (see :func:`experiment_jobs`)."""
    return [j for n in active_experiments(config) for j in experiment_jobs(config, n)]


def check_gpu_reachable(config: dict, local_exec: bool) -> None:
    """Refuse ``device: cuda`` when no job of this run can get a GPU: the jobs run on
    this machine (``local_exec``: Snakemake's local executor) and torch sees no CUDA
    device here. Otherwise every training job would fail one after the other, after
    Snakemake removed their old outputs. A cluster executor (``--executor slurm``) is
    accepted whatever the submit host has: its jobs get GPUs on the compute nodes.
    torch is imported only when the check applies.

    Raises:
        ConfigError: naming the key, what torch sees and what to do.
    """
    if config.get("device") != "cuda" or not local_exec:
        return
    import torch

    if torch.cuda.is_available():
        return
    raise ConfigError(
        "config error at device: 'cuda', but no job of this run can get a GPU: the local "
        f"executor runs every job on this machine, where torch {torch.__version__} sees no "
        "CUDA device. Set device: auto (or cpu) to train on the CPU, install a CUDA build "
        "of torch (README, GPUs), or submit the jobs to a cluster with GPUs "
        "(--workflow-profile profiles/slurm or --executor slurm). Nothing was run or removed."
    )
