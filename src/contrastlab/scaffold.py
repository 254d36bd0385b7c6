"""``python -m contrastlab.families new <name>``: the skeleton of a new experiment family.

The README's "Adding a family" lists what a family touches; this module writes all of
it that can be written without the paper, so that a newcomer starts from a family that
already trains and passes the registry tests (``tests/test_families.py``,
``tests/test_config.py``) instead of discovering the rules from failing tests:

* ``src/contrastlab/families/<name>/``: the plug (``__init__.py``), ``config.py``,
  ``data.py``, ``task.py``, ``plots.py``, ``claims.py``, with real minimal content:
  Gaussian clusters, two views by Gaussian noise, a linear encoder to the unit sphere
  (:class:`contrastlab.encoders.mlp.BatchedMLP` with no hidden layer), InfoNCE with
  in-batch negatives, a held-out linear probe, one figure and one claim;
* ``tests/<name>/__init__.py`` (test files of one name in several folders need it) and
  ``tests/<name>/test_data.py``;
* an experiment block of the family in ``config/config.yaml`` (every key, commented, at
  the dataclass default) and one in ``config/paper.yaml``, both ``activate: false`` so
  the default and paper runs stay as they were until the family is done.

The config blocks are generated from the skeleton's config dataclass: the keys the plug
declares, with their defaults and descriptions. Every name is checked before anything is
written; nothing is overwritten.
"""

from __future__ import annotations

import importlib.util
import json
import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path

NAME_RULE = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 24  # the generated code stays within the line length (100) up to this


class ScaffoldError(ValueError):
    """The family cannot be created as asked; the message says why and what to do."""


def find_root(start: Path | None = None) -> Path:
    """The repository to write into: the one this package lives in (``src/contrastlab``
    under a folder with a ``Snakefile``), else ``start`` (default: the current
    directory) if it has a ``Snakefile``."""
    here = Path(__file__).resolve().parents[2]
    if _is_repo(here):
        return here
    cwd = Path.cwd() if start is None else Path(start)
    if _is_repo(cwd):
        return cwd.resolve()
    raise ScaffoldError(
        f"no contrastlab repository found: neither {here} (where the package lives) nor "
        f"{cwd} has a Snakefile, config/config.yaml, config/paper.yaml and src/contrastlab/; "
        "pass --root"
    )


def _is_repo(root: Path) -> bool:
    need = ("Snakefile", "config/config.yaml", "config/paper.yaml", "src/contrastlab")
    return all((root / p).exists() for p in need)


def camel(name: str) -> str:
    """``my_family`` -> ``MyFamily`` (the plug's class name)."""
    return "".join(part.capitalize() for part in name.split("_") if part)


def experiment_names(path: Path) -> set[str]:
    """Names of the experiments a config file declares (empty if it has none)."""
    from contrastlab.config import load_yaml

    cfg = load_yaml(path) if path.exists() else {}
    return set((cfg or {}).get("experiments") or {})


def check_name(name: str, root: Path) -> None:
    """Refuse a name that is not a family name or that is taken, saying which and where.

    A family name is a lower-case Python identifier (it is the package, the config's
    ``family:`` value, the figure prefix and the test folder), not a keyword, not taken by
    a module or package of ``contrastlab.families``, a test folder, a registered family
    (entry points included) or an experiment of ``config/config.yaml`` or
    ``config/paper.yaml`` (the new experiment takes the family's name)."""
    if not NAME_RULE.fullmatch(name) or keyword.iskeyword(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"{name!r} is not a valid family name: use a lower-case Python identifier of at "
            f"most {MAX_NAME} characters (letters, digits and _, starting with a letter, e.g. "
            "'align_uniform'); it names the package, the config's family: value, the figures "
            "and tests/<name>/"
        )
    fam_dir = root / "src/contrastlab/families"
    for taken in (fam_dir / name, fam_dir / f"{name}.py", root / "tests" / name):
        if taken.exists():
            raise ScaffoldError(
                f"{taken.relative_to(root)} already exists: family {name!r} is taken; "
                "choose another name (nothing was written)"
            )
    from contrastlab.registry import families

    if name in families():
        raise ScaffoldError(
            f"family {name!r} is already registered ({type(families()[name]).__module__}); "
            "choose another name (nothing was written)"
        )
    for cfg in ("config/config.yaml", "config/paper.yaml"):
        if name in experiment_names(root / cfg):
            raise ScaffoldError(
                f"{cfg} already has an experiment {name!r}; choose another family name "
                "(nothing was written)"
            )
    if importlib.util.find_spec(name) is not None:
        raise ScaffoldError(
            f"{name!r} is the name of an importable module or package: tests/{name}/ (a "
            "package on the tests' path) would shadow it; choose another name"
        )


# --- the family's files ----------------------------------------------------------------
# Templates: @NAME@ is the family name, @CLASS@ its CamelCase (not Python syntax, so they
# cannot clash with the code around them).

PLUG = '''"""The plug of a new experiment family, ``@NAME@``.

Written by ``python -m contrastlab.families new``. Replace this paragraph with the paper
and what the family reproduces. The skeleton [design]: Gaussian clusters, two views by
Gaussian noise, a linear encoder to the unit sphere, InfoNCE with in-batch negatives, a
held-out linear probe of the cluster id; one figure (the probe over training) and one
claim (training raises the probe accuracy).

Modules: :mod:`.config` (keys and defaults), :mod:`.data` (generator), :mod:`.task` (the
training job for the engine), :mod:`.plots`, :mod:`.claims`. This module is the plug: it
stays light to import (no torch) and loads the others on demand (README, "Adding a
family").
"""

from __future__ import annotations

from contrastlab.families.@NAME@.config import @CLASS@Config
from contrastlab.registry import Family, Figure

_PLOTS = "contrastlab.families.@NAME@.plots"


class @CLASS@(Family):
    name = "@NAME@"
    title = "@NAME@ (new family)"
    description = (
        "A new family's skeleton [design]: Gaussian clusters, two views by Gaussian noise, "
        "a linear encoder to the unit sphere trained with InfoNCE, and a held-out linear "
        "probe of the cluster id. Replace it with the paper, what is reproduced and what "
        "is our design."
    )
    config_class = @CLASS@Config
    # Trains in about a second, with at least 2 evaluation rounds (tests/test_families.py).
    tiny = {
        "data": {"n_train": 96, "n_eval": 64},
        "train": {"steps": 20, "batch_size": 32, "eval_every": 10},
    }
    figures = (
        Figure(
            "@NAME@_probe",
            f"{_PLOTS}:plot_probe",
            "probe",
            "Held-out linear-probe accuracy of the cluster id over training (chance: one over "
            "the number of clusters). Lines: mean over seeds; bands: ±1 sd.",
        ),
    )

    def synthesize(self, cfg, seeds):
        from contrastlab.families.@NAME@.data import synthesize

        return synthesize(cfg, seeds)

    def task(self, cfg, data, seeds, device):
        from contrastlab.families.@NAME@.task import @CLASS@Task

        return @CLASS@Task(cfg, data, device)

    def claims(self, agg):
        from contrastlab.families.@NAME@.claims import claims

        return claims(agg)


FAMILY = @CLASS@()
'''

CONFIG = '''"""The family's config: every key, its default and its range.

The single source of the family's defaults; the JSON schema is generated from it
(:mod:`contrastlab.params`) and the family's first experiment in ``config/config.yaml``
must list every key with this default (``tests/test_config.py``). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.params import param


@dataclass
class @CLASS@Config:
    """Data, augmentation, model, loss and optimiser of one @NAME@ job."""

    # data: Gaussian clusters
    n_clusters: int = param(4, "data", "Gaussian clusters (the probe's classes).", minimum=2)
    dim: int = param(32, "data", "Input dimension.", minimum=1)
    separation: float = param(
        1.0, "data", "Std of the cluster means' coordinates (points add unit noise).", minimum=0
    )
    n_train: int = param(512, "data", "Training points per seed.", minimum=2)
    n_eval: int = param(256, "data", "Held-out points per seed (the probe's test).", minimum=1)
    # augmentation
    noise: float = param(
        0.5, "augmentation", "Std of the Gaussian noise added to make each view.", minimum=0
    )
    # model
    embed_dim: int = param(
        4, "model", "Embedding dimension (a linear map, then onto the unit sphere).", minimum=2
    )
    # loss
    temperature: float = param(
        0.2, "loss", "Temperature tau of InfoNCE with in-batch negatives.", exclusive_minimum=0
    )
    # train
    steps: int = param(200, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(
        64, "train", "Mini-batch size (1 positive + batch_size - 1 in-batch negatives).", minimum=2
    )
    lr: float = param(0.05, "train", "Adam learning rate.", exclusive_minimum=0)
    eval_every: int = param(50, "train", "Steps between two evaluations (the probe).", minimum=1)
    checkpoint_every: int = param(
        2,
        "train",
        "Evaluation rounds between two checkpoints, for resuming an interrupted job.",
        minimum=1,
    )

    def check(self) -> None:
        """Rules across keys, run for every sweep point before any job."""
        if self.batch_size > self.n_train:
            raise ValueError(
                f"train.batch_size ({self.batch_size}) must be <= data.n_train ({self.n_train})"
            )
'''

DATA = '''"""The family's data: Gaussian clusters, each seed from its own random stream.

Every variable and coordinate has ``long_name`` and ``units`` (:func:`contrastlab.results.cf`):
the results are tidy netCDF (``tests/test_families.py`` checks it).
"""

from __future__ import annotations

import torch
import xarray as xr

from contrastlab.engine import streams
from contrastlab.results import cf


def synthesize(cfg, seeds) -> xr.Dataset:
    """Cluster means, training and held-out points of every seed.

    Each seed draws from its own generator (the family's ``data`` stream), so a seed
    gets the same data alone or among others."""
    means, x_tr, y_tr, x_ev, y_ev = [], [], [], [], []
    for g in streams(seeds, "@NAME@", "data"):
        mu = cfg.separation * torch.randn(cfg.n_clusters, cfg.dim, generator=g)
        for xs, ys, n in ((x_tr, y_tr, cfg.n_train), (x_ev, y_ev, cfg.n_eval)):
            y = torch.randint(cfg.n_clusters, (n,), generator=g)
            xs.append(mu[y] + torch.randn(n, cfg.dim, generator=g))
            ys.append(y)
        means.append(mu)
    return xr.Dataset(
        {
            "means": (("seed", "cluster", "dim"), torch.stack(means).numpy(), cf("cluster mean")),
            "x_train": (("seed", "train", "dim"), torch.stack(x_tr).numpy(), cf("training point")),
            "y_train": (("seed", "train"), torch.stack(y_tr).numpy(), cf("training cluster id")),
            "x_eval": (("seed", "eval", "dim"), torch.stack(x_ev).numpy(), cf("held-out point")),
            "y_eval": (("seed", "eval"), torch.stack(y_ev).numpy(), cf("held-out cluster id")),
        },
        coords={"seed": ("seed", [int(s) for s in seeds], cf("seed"))},
    )
'''

TASK = '''"""The family's training job, all seeds batched (the engine runs it).

A linear encoder per seed to the unit sphere (:class:`contrastlab.encoders.mlp.BatchedMLP`
with no hidden layer), InfoNCE with in-batch negatives between two noisy views, and a
ridge probe of the cluster id fitted on the training points, scored on the held-out ones.
Every generator the training loop draws from is in ``self.rng`` (saved in checkpoints:
a killed job resumes with the numbers of an uninterrupted one).
"""

from __future__ import annotations

import torch
import xarray as xr

from contrastlab.encoders.mlp import BatchedMLP
from contrastlab.engine import Task, make_optimizer
from contrastlab.losses import infonce_in_batch
from contrastlab.metrics.probes import ridge_fit_predict
from contrastlab.results import cf


class @CLASS@Task(Task):
    family = "@NAME@"

    def __init__(self, cfg, data, device) -> None:
        super().__init__(data.seed.values)
        self.cfg = cfg
        self.x_train = torch.as_tensor(data.x_train.values, device=device)
        self.y_train = torch.as_tensor(data.y_train.values, device=device)
        self.x_eval = torch.as_tensor(data.x_eval.values, device=device)
        self.y_eval = torch.as_tensor(data.y_eval.values, device=device)
        self.encoder = BatchedMLP(cfg.dim, 0, 0, cfg.embed_dim, self.streams("init"), device)
        self.g_batch, self.g_aug = self.streams("batches"), self.streams("augment")
        self.rng = self.g_batch + self.g_aug  # what the loop draws from: checkpointed
        self.rows = torch.arange(len(self.seeds), device=device)[:, None]
        self.step_rounds(cfg.steps, cfg.eval_every)

    def parameters(self):
        return self.encoder.named()

    def optimizer(self):
        return make_optimizer("adam", self.encoder.params, self.cfg.lr)

    def batches(self, r):
        c = self.cfg
        for _ in range(self.steps_in_round(r)):
            idx = torch.stack(
                [torch.randint(c.n_train, (c.batch_size,), generator=g) for g in self.g_batch]
            )
            x = self.x_train[self.rows, idx]  # (seed, batch, dim)
            noise = torch.stack([torch.randn(2, *x.shape[1:], generator=g) for g in self.g_aug])
            noise = noise.to(x.device) * c.noise  # (seed, view, batch, dim)
            yield x + noise[:, 0], x + noise[:, 1]

    def loss(self, batch):
        v1, v2 = batch
        return infonce_in_batch(self.encoder(v1), self.encoder(v2), self.cfg.temperature)

    @torch.no_grad()
    def evaluate(self, r):
        k = self.cfg.n_clusters
        onehot = torch.nn.functional.one_hot(self.y_train, k).double()
        f_train, f_eval = self.encoder(self.x_train), self.encoder(self.x_eval)
        pred = ridge_fit_predict(f_train, onehot, f_eval).argmax(-1)
        return {"probe_acc": (pred == self.y_eval).double().mean(-1)}

    def to_dataset(self, history, coords, final):
        st = ("seed", "step")
        return xr.Dataset(
            {
                "loss": (st, history["loss"], cf("InfoNCE loss (training)")),
                "probe_acc": (st, history["probe_acc"], cf("held-out probe accuracy")),
            },
            coords={
                "seed": ("seed", self.seeds, cf("seed")),
                "step": ("step", coords, cf("training step")),
            },
        )
'''

PLOTS = '''"""The family's figures: ``f(agg, path)``, no torch (the light rules run without
it). ``agg`` may hold one sweep point without any sweep axis (the registry tests
draw every figure from such an aggregate) or any grid of them."""

from __future__ import annotations

from contrastlab.plotting import band_over_seeds, save


def plot_probe(agg, path) -> None:
    """The held-out probe accuracy over training, one line per sweep point."""
    da = agg["probe_acc"]
    df = da.to_dataframe(name="value").reset_index()
    axes = [d for d in da.dims if d not in ("seed", "step")]
    if axes:  # one line per sweep point
        df["point"] = df[axes].astype(str).agg(", ".join, axis=1)
    grid = band_over_seeds(df, x="step", hue="point" if axes else None)
    grid.set_axis_labels("step", "held-out probe accuracy")
    save(grid, path)
'''

CLAIMS = '''"""The family's claims, evaluated on the aggregated results: no torch here.

Each claim is declared before any run in :data:`CLAIMS` (a :class:`contrastlab.claims.Claim`
by name, with the figure that shows its quantity) and decided on per-seed numbers; ``agg``
may hold one sweep point without any sweep axis (the registry tests use one) or a grid of
them (each point is then a block).
"""

from __future__ import annotations

from contrastlab.claims import Claim, claims_frame, contrast, named

PAPER = "@NAME@ (new family)"

CLAIMS = named(
    {
        "training_helps": Claim(
            PAPER,
            "training raises the held-out probe accuracy",
            "the skeleton's own claim",
            "design",
            "probe_acc: last step - step 0",
            figure="@NAME@_probe",
        ),
    }
)


def claims(agg):
    """The claims table of one experiment."""
    gain = agg["probe_acc"].isel(step=-1) - agg["probe_acc"].isel(step=0)
    return claims_frame([contrast(CLAIMS["training_helps"], gain)])
'''

TEST_INIT = '''"""The family's own tests: a package (test file names recur in other folders)."""
'''

TEST_DATA = '''"""The family's data: sizes, the same numbers per seed alone and batched, clusters.

The registry tests (tests/test_families.py) already run the family end to end; the
tests here check what only this family knows (add its metrics against known answers)."""

import numpy as np

from contrastlab.config import check_experiment
from contrastlab.registry import get_family

NAME = "@NAME@"


def test_data_per_seed_is_the_same_alone_and_batched():
    fam = get_family(NAME)
    cfg = check_experiment({"family": NAME, **fam.tiny})
    both = fam.synthesize(cfg, [3, 5])
    alone = fam.synthesize(cfg, [5])
    assert both.x_train.shape == (2, cfg.n_train, cfg.dim)
    np.testing.assert_array_equal(both.x_train.sel(seed=5), alone.x_train.sel(seed=5))
    assert not np.array_equal(both.x_train.sel(seed=3), both.x_train.sel(seed=5))


def test_points_lie_near_their_cluster_mean():
    fam = get_family(NAME)
    cfg = check_experiment({"family": NAME, "data": {"n_train": 4000, "separation": 5.0}})
    ds = fam.synthesize(cfg, [0])
    x, y, mu = ds.x_train.values[0], ds.y_train.values[0], ds.means.values[0]
    resid = x - mu[y]  # unit Gaussian noise around the mean
    assert abs(resid.std() - 1.0) < 0.05 and np.abs(resid.mean(0)).max() < 0.1
'''

FILES = {
    "src/contrastlab/families/@NAME@/__init__.py": PLUG,
    "src/contrastlab/families/@NAME@/config.py": CONFIG,
    "src/contrastlab/families/@NAME@/data.py": DATA,
    "src/contrastlab/families/@NAME@/task.py": TASK,
    "src/contrastlab/families/@NAME@/plots.py": PLOTS,
    "src/contrastlab/families/@NAME@/claims.py": CLAIMS,
    "tests/@NAME@/__init__.py": TEST_INIT,
    "tests/@NAME@/test_data.py": TEST_DATA,
}

# The sweep of the new experiment block (a non-fusable key: the skeleton fuses nothing).
SWEEP = {"augmentation.noise": [0.25, 1.0]}


def _fill(text: str, name: str) -> str:
    return text.replace("@NAME@", name).replace("@CLASS@", camel(name))


def _yaml_scalar(value) -> str:
    """A default as YAML (flow style for lists and mappings)."""
    if isinstance(value, str):
        return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", value) else json.dumps(value)
    return json.dumps(value).replace("NaN", ".nan")


def config_block(name: str, config_class: type) -> str:
    """The family's first experiment for ``config/config.yaml``: every key of the config
    dataclass at its default, each with its description as a comment above it, off by
    default (``activate: false``)."""
    from contrastlab.params import default_of, fields_by_section

    lines = [
        f"  # {name}: the skeleton written by `python -m contrastlab.families new`",
        "  # [design]: Gaussian clusters, a linear encoder to the sphere, InfoNCE, a probe.",
        "  # Replace with the paper's experiment; every key of the family is listed here.",
        f"  {name}:",
        "    # false skips the experiment entirely (off until the family is done; true runs it).",
        "    activate: false",
        f"    # Which experiment family this is: {name}.",
        f"    family: {name}",
    ]
    for section, flds in fields_by_section(config_class).items():
        lines.append(f"    {section}:")
        for f in flds:
            lines.append(f"      # {f.metadata['doc']}")
            lines.append(f"      {f.metadata.get('key') or f.name}: {_yaml_scalar(default_of(f))}")
    lines.append("    # Sweep axes: dotted keys with a list of values, one training job per point.")
    lines.append("    sweep:")
    for key, values in SWEEP.items():
        lines.append(f"      {key}: [{', '.join(_yaml_scalar(v) for v in values)}]")
    return "\n".join(lines) + "\n"


def paper_block(name: str) -> str:
    """The family's experiment for ``config/paper.yaml`` (the paper's sizes go here)."""
    return (
        f"  # {name} at paper scale: set the paper's sizes here\n"
        "  # (keys not given take the family's defaults, listed in config/config.yaml).\n"
        f"  {name}:\n"
        "    activate: false\n"
        f"    family: {name}\n"
    )


def insert_experiment(text: str, block: str) -> str:
    """``text`` (a config file) with ``block`` appended to its ``experiments:`` mapping,
    after the mapping's last line and a blank line; the rest of the file is untouched."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "experiments:"), None)
    if start is None:
        raise ScaffoldError("no top-level 'experiments:' mapping to add the experiment to")
    end = start
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "#")):
            break  # the next top-level key
        if line.startswith("  ") and line.strip():
            end = i
    if not lines[end].endswith("\n"):
        lines[end] += "\n"
    return "".join(lines[: end + 1] + ["\n", block] + lines[end + 1 :])


@dataclass
class Written:
    """What :func:`new_family` wrote: files created and files changed (config files)."""

    created: list[Path]
    changed: list[Path]


def _load_config_class(name: str) -> type:
    """The skeleton's config dataclass, from its template (``root`` need not be importable)."""
    modname = f"_contrastlab_scaffold_{name}_config"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(modname, None))
    sys.modules[modname] = module  # dataclasses look their module up
    try:
        exec(compile(_fill(CONFIG, name), f"<{name}/config.py>", "exec"), module.__dict__)
    finally:
        del sys.modules[modname]
    return getattr(module, f"{camel(name)}Config")


def new_family(name: str, root: Path) -> Written:
    """Write the skeleton of family ``name`` into the repository at ``root``.

    Raises:
        ScaffoldError: the name is invalid or taken (nothing is written then).
    """
    root = Path(root).resolve()
    if not _is_repo(root):
        raise ScaffoldError(
            f"{root} is not a contrastlab repository (it needs a Snakefile, config/config.yaml, "
            "config/paper.yaml and src/contrastlab/)"
        )
    check_name(name, root)
    # the config blocks come from the skeleton's own dataclass, as the plug declares it
    config_class = _load_config_class(name)
    created = []
    for rel, text in FILES.items():
        path = root / _fill(rel, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(text, name))
        created.append(path)
    changed = []
    for rel, block in (
        ("config/config.yaml", config_block(name, config_class)),
        ("config/paper.yaml", paper_block(name)),
    ):
        path = root / rel
        path.write_text(insert_experiment(path.read_text(), block))
        changed.append(path)
    return Written(created, changed)


def next_steps(name: str, root: Path, written: Written) -> str:
    """What the command prints: the files it wrote and what is left to do by hand."""
    rel = [str(p.relative_to(root)) for p in written.created]
    chg = [str(p.relative_to(root)) for p in written.changed]
    return "\n".join(
        [
            f"family {name!r} written (it trains on its tiny block now):",
            *(f"  created {p}" for p in rel),
            *(f"  added experiment {name!r} (activate: false) to {p}" for p in chg),
            "next (README, 'Adding a family'):",
            "  - replace the skeleton's data, model, loss, figures and claims with the paper's;",
            f"    keep config/config.yaml's {name} block listing every key at its default",
            "  - the paper's row in README.md; the paper's sizes in config/paper.yaml",
            f"  - check: .venv/bin/pytest tests/test_families.py tests/test_config.py tests/{name}",
        ]
    )
