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


# Figure and table names per experiment, from its family: the only lists of them.
FIGURES = {exp: [f.name for f in family_of(exp).figures] for exp in EXPERIMENTS}
TABLES = {exp: [t.name for t in family_of(exp).tables] for exp in EXPERIMENTS}


wildcard_constraints:
    experiment="[A-Za-z][A-Za-z0-9_]*",
    point="[^/]+",
    job="[^/]+",
    data_point="[^/]+",
    figure="[A-Za-z0-9_]+",


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
    return SEEDS[wildcards.experiment]


def get_job(wildcards):
    return JOBS[(wildcards.experiment, wildcards.job)]


def get_data_config(wildcards):
    """Config of any point that uses this data (all of them share the data section)."""
    for p in EXPERIMENTS[wildcards.experiment]:
        if p.data_label == wildcards.data_point:
            return p.config
    raise WorkflowError(
        f"no sweep point of {wildcards.experiment} uses {wildcards.data_point}"
    )


def get_job_configs(wildcards):
    return [p.config for p in get_job(wildcards).points]


def get_job_labels(wildcards):
    return [p.label for p in get_job(wildcards).points]


def get_job_data(wildcards):
    """The data file of every point of the job (one entry per point, in order)."""
    return [
        f"results/data/{wildcards.experiment}/{p.data_label}.nc"
        for p in get_job(wildcards).points
    ]


def get_train_data(wildcards):
    """The job's data files, each once."""
    return list(dict.fromkeys(get_job_data(wildcards)))


def train_file(experiment, point_label):
    """The training job file that holds a sweep point's results."""
    job = JOB_OF_POINT[(experiment, point_label)]
    return f"results/train/{experiment}/{job}/metrics.nc"


def get_point_results(wildcards):
    """The training job files of an experiment (each once)."""
    exp = wildcards.experiment
    return list(dict.fromkeys(train_file(exp, p.label) for p in EXPERIMENTS[exp]))


def get_point_sources(wildcards):
    """Per sweep point: [training job file, point label] (aggregate reads it with
    contrastlab.results.read_point)."""
    exp = wildcards.experiment
    return [[train_file(exp, p.label), p.label] for p in EXPERIMENTS[exp]]


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
