# Helpers shared by all rules: config validation, the sweep grid, input functions.
import sys
from pathlib import Path

# The package lives in src/: importable here even when it is not installed
# (each script under workflow/scripts/ does the same for its own process).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from contrastlab.config import (
    ConfigError,
    check_writable,
    load_config_files,
    validate_config,
    sweep_points,
    seed_design,
    seeds,
    training_jobs,
)
from contrastlab.registry import get_family as registered_family

# The config files are read again with contrastlab's strict YAML loader (a duplicate key
# is an error, 1e-3 is a number). A --configfile given on the command line REPLACES
# config/config.yaml instead of being merged into it (Snakemake's default), so that
# experiments it does not declare do not run; --config KEY=VALUE still overrides keys.
try:
    config = validate_config(
        load_config_files(
            workflow.config_settings.configfiles or workflow.configfiles,
            workflow.config_settings.config,
        ),
        Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
        warn=logger.warning,
    )
    check_writable(["results", "logs", "checkpoints", ".snakemake"])

    def refuse_unreachable_gpu(log):
        """device: cuda, local executor, no CUDA here: refused before any job runs or
        any output is removed (onstart: the executor is known; not on dry runs)."""
        from contrastlab.config import check_gpu_reachable

        local = workflow.local_exec and workflow.is_main_process
        try:
            check_gpu_reachable(config, local)
        except ConfigError as err:
            raise WorkflowError(str(err)) from None

    workflow.onstart(refuse_unreachable_gpu)
    # The repair command that a damaged result file's error names.
    if workflow.is_main_process:
        import os

        from contrastlab.results import RERUN_ENV, reproduce_command

        rerun = reproduce_command(sys.argv[1:], workflow.basedir)
        os.environ.setdefault(RERUN_ENV, rerun)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

SEEDS = {exp: seeds(config, exp) for exp in config["experiments"]}
POINTS = {(p.experiment, p.label): p for p in sweep_points(config)}
EXPERIMENTS = {}
for _p in POINTS.values():
    EXPERIMENTS.setdefault(_p.experiment, []).append(_p)
# Training jobs: one per sweep point, or one per group of fused points (fuse: auto).
JOBS = {(j.experiment, j.label): j for j in training_jobs(config)}
JOB_OF_POINT = {
    (j.experiment, p.label): j.label for j in JOBS.values() for p in j.points
}


def family_of(experiment):
    """The registered family (contrastlab.registry) of an experiment."""
    return registered_family(config["experiments"][experiment]["family"])


# Figure and table names per experiment, from its family: the only lists of them (a
# figure is drawn where it applies: Figure.applies over the experiment's sweep points).
def _drawn(exp, figures):
    points = [p.config for p in EXPERIMENTS[exp]]
    return [f.name for f in figures if f.applies_to(points)]


FIGURES = {exp: _drawn(exp, family_of(exp).figures) for exp in EXPERIMENTS}
TABLES = {exp: _drawn(exp, family_of(exp).tables) for exp in EXPERIMENTS}

# Seeds added until decided (n_seeds: {start, step, max}; contrastlab.sequential): a
# staged experiment's data points and training jobs carry the stage, <label>@s<k>, and
# train only that stage's new seeds; results/stages/<experiment>/ holds each stage's
# aggregate, claims and decision (a Snakemake checkpoint decides whether to go on).
DESIGNS = {exp: seed_design(config, exp) for exp in EXPERIMENTS}
STAGE = "@s"


def split_stage(label):
    """(label without the stage, stage or None) of a data point or job label."""
    base, sep, k = label.rpartition(STAGE)
    return (base, int(k)) if sep and k.isdigit() else (label, None)


def staged(label, stage):
    return f"{label}{STAGE}{stage}" if stage else label


wildcard_constraints:
    experiment="[A-Za-z][A-Za-z0-9_]*",
    point="[^/]+",
    job="[^/]+",
    data_point="[^/]+",
    figure="[A-Za-z0-9_]+",
    stage="[0-9]+",


# The report's front page sorts first (the report lists categories alphabetically).
SUMMARY_CATEGORY = "0 · Summary of the papers' claims"


def get_family(wildcards):
    return family_of(wildcards.experiment).name


def report_category(wildcards):
    """Report category of an experiment's outputs: its family's paper."""
    return family_of(wildcards.experiment).title


def figure_caption(wildcards):
    """Caption of a figure or a table (the {figure} wildcard names either)."""
    return family_of(wildcards.experiment).figure(wildcards.figure).caption


def figure_labels(wildcards):
    fig = family_of(wildcards.experiment).figure(wildcards.figure)
    return {"experiment": wildcards.experiment, "figure": fig.label}


def claims_labels(wildcards):
    return {"experiment": wildcards.experiment, "figure": "claims table"}


def train_mem_mb(wildcards, attempt):
    """Memory of a training job; grows with each --retries attempt."""
    return 4000 * attempt


def train_runtime(wildcards, attempt):
    """Minutes of a training job; grows with each --retries attempt."""
    return 60 * attempt


def get_seeds(wildcards):
    _, stage = split_stage(wildcards.data_point)
    return (
        seeds(config, wildcards.experiment, stage)
        if stage
        else SEEDS[wildcards.experiment]
    )


def get_job(wildcards):
    return JOBS[(wildcards.experiment, split_stage(wildcards.job)[0])]


def get_data_config(wildcards):
    """Config of any point that uses this data (all of them share the data section)."""
    label = split_stage(wildcards.data_point)[0]
    for p in EXPERIMENTS[wildcards.experiment]:
        if p.data_label == label:
            return p.config
    raise WorkflowError(
        f"no sweep point of {wildcards.experiment} uses {wildcards.data_point}"
    )


def get_job_configs(wildcards):
    return [p.config for p in get_job(wildcards).points]


def get_job_labels(wildcards):
    return [p.label for p in get_job(wildcards).points]


def get_job_data(wildcards):
    """The data file of every point of the job (one entry per point, in order; a staged
    job's data of its stage)."""
    stage = split_stage(wildcards.job)[1]
    return [
        f"results/data/{wildcards.experiment}/{staged(p.data_label, stage)}.nc"
        for p in get_job(wildcards).points
    ]


def get_train_data(wildcards):
    """The job's data files, each once."""
    return list(dict.fromkeys(get_job_data(wildcards)))


def train_file(experiment, point_label, stage=None):
    """The training job file that holds a sweep point's results (of one stage)."""
    job = staged(JOB_OF_POINT[(experiment, point_label)], stage)
    return f"results/train/{experiment}/{job}/metrics.nc"


def stage_results(exp, stage):
    """The training job files of stages 1..stage of a staged experiment (each once)."""
    return list(
        dict.fromkeys(
            train_file(exp, p.label, k)
            for k in range(1, stage + 1)
            for p in EXPERIMENTS[exp]
        )
    )


def final_stage(exp):
    """The last stage a staged experiment runs: the first whose decision needs no more
    seeds (read through the claims_stage checkpoint), else the design's last."""
    import json

    for k in range(1, DESIGNS[exp].stages + 1):
        out = checkpoints.claims_stage.get(experiment=exp, stage=k).output
        if not json.loads(Path(out.decision).read_text())["more"]:
            return k
    return DESIGNS[exp].stages


def get_point_results(wildcards):
    """The training job files of an experiment (each once); a staged experiment's final
    aggregate is its last stage's."""
    exp = wildcards.experiment
    if DESIGNS[exp]:
        return [f"results/stages/{exp}/aggregate{STAGE}{final_stage(exp)}.nc"]
    return list(dict.fromkeys(train_file(exp, p.label) for p in EXPERIMENTS[exp]))


def get_stage_results(wildcards):
    return stage_results(wildcards.experiment, int(wildcards.stage))


def get_point_sources(wildcards):
    """Per sweep point: [training job file(s), point label] (aggregate reads them with
    contrastlab.pipeline.read_sources); None for a staged experiment's final aggregate
    (a copy of its last stage's)."""
    exp = wildcards.experiment
    stage = int(wildcards.get("stage", 0))
    if stage:
        files = lambda p: [train_file(exp, p.label, k) for k in range(1, stage + 1)]
        return [[files(p), p.label] for p in EXPERIMENTS[exp]]
    if DESIGNS[exp]:
        return None
    return [[train_file(exp, p.label), p.label] for p in EXPERIMENTS[exp]]


def get_previous_stage(wildcards):
    k = int(wildcards.stage)
    return (
        [f"results/stages/{wildcards.experiment}/claims{STAGE}{k - 1}.tsv"]
        if k > 1
        else []
    )


def get_raw_claims_input(wildcards):
    """The aggregate, or a staged experiment's last stage's claims."""
    exp = wildcards.experiment
    if DESIGNS[exp]:
        return [f"results/stages/{exp}/claims{STAGE}{final_stage(exp)}.tsv"]
    return [f"results/aggregate/{exp}.nc"]


def get_claim_names(wildcards):
    return config["experiments"][wildcards.experiment].get("claims")


def get_design(wildcards):
    d = DESIGNS[wildcards.experiment]
    return None if d is None else {"start": d.start, "step": d.step, "max": d.max}


def get_point_values(wildcards):
    return [p.values for p in EXPERIMENTS[wildcards.experiment]]


def get_sweep_keys(wildcards):
    return EXPERIMENTS[wildcards.experiment][0].keys


def checkpoint_path(wildcards):
    return f"checkpoints/{wildcards.experiment}/{wildcards.job}.pt"


def train_gpus(wildcards):
    return 1 if config["device"] == "cuda" else 0


def get_final_output():
    out = ["results/summary.html"]
    for exp in EXPERIMENTS:
        out.append(f"results/claims/{exp}.tsv")
        out.append(f"results/claims/{exp}.html")
        out += [f"results/figures/{exp}/{fig}.svg" for fig in FIGURES[exp]]
        out += [f"results/tables/{exp}/{table}.html" for table in TABLES[exp]]
    return out
