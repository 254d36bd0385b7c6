"""The registry of experiment families: the only list of families there is.

A family is one package (``contrastlab/families/<name>/``) that exposes one
:class:`Family` object named ``FAMILY`` in its ``__init__``. Families are
found in two places:

* every sub-package of :mod:`contrastlab.families` (the built-in ones);
* the ``contrastlab.families`` entry-point group, so that a user's own
  package can add a family without forking, e.g. in its ``pyproject.toml``::

      [project.entry-points."contrastlab.families"]
      my_family = "my_package.my_family:FAMILY"

The schema's ``family`` enum, the Snakemake rules (figures, report
categories and captions), the SLURM profiles' job groups and the registry
tests all read this registry. Nothing else lists families or figures.

The plug module must stay light to import (no torch, no matplotlib at module
level): the Snakefile imports every family to build the schema and the DAG.
Heavy work happens in the methods, which import their modules on demand.

``python -m contrastlab.families new <name>`` writes a new family that already trains and
passes the registry tests (:mod:`contrastlab.scaffold`); README, "Adding a family", lists
every rule a family follows.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch
    import xarray as xr

    from contrastlab.engine import Task

ENTRY_POINT_GROUP = "contrastlab.families"


@dataclass(frozen=True)
class Figure:
    """One figure a family draws from its aggregated results.

    Attributes:
        name: file stem; must start with ``<family name>_``.
        draw: ``"module:function"`` of ``function(agg: xr.Dataset, path)``
            (imported only when the figure is drawn).
        label: short label shown in the report's table of figures.
        caption: reStructuredText caption shown in the report.
        applies: ``applies(points) -> bool`` over the experiment's sweep points' configs
            (each a dict of sections, defaults filled, e.g. ``p["loss"]["temperature"]``):
            whether the figure shows anything for this experiment (e.g. a tau figure needs
            two temperatures). None: always. An experiment draws only the figures that
            apply, so the report holds no placeholder. It must stay light (it runs when
            Snakemake builds the DAG).
    """

    name: str
    draw: str
    label: str
    caption: str
    applies: Callable[[list[dict]], bool] | None = None

    def applies_to(self, points: list[dict]) -> bool:
        """Whether this figure is drawn for an experiment with these sweep points."""
        return self.applies is None or bool(self.applies(points))

    def function(self):
        module, func = self.draw.split(":")
        return getattr(importlib.import_module(module), func)


@dataclass(frozen=True)
class Table(Figure):
    """A table a family renders from its aggregated results, as a self-contained HTML page
    (``draw`` is ``"module:function"`` of ``function(agg, path)``; the name starts with
    ``<family name>_``)."""


class Family(ABC):
    """Base class of a family's plug: what the workflow needs from one family.

    Subclasses set the class attributes and implement :meth:`synthesize`,
    :meth:`task` and :meth:`claims`. See "Adding a family" in the README.

    Attributes:
        name: the family's one name: package, config ``family:`` value,
            figure prefix and test folder (``tests/<name>/``).
        title: the paper, as the report's category (e.g. ``"Wen & Li 2021"``).
        description: reStructuredText paragraph on what is reproduced and what is
            our design, shown above the family's claims table in the report.
        config_class: the typed config dataclass; the single source of the
            family's keys, defaults, types and ranges (see :mod:`contrastlab.params`).
        figures: the figures drawn from the aggregated results.
        tables: the tables (HTML) rendered from the aggregated results.
        tiny: a tiny experiment block (sections only) that trains in about a
            second, with at least 2 evaluation rounds: ``tests/test_families.py``
            runs every family on it.
        data_sections: config sections the synthetic data depend on; sweep
            points that agree on them share one data job.
        fusable: dotted config keys (``section.key``, as in a sweep) whose values
            may differ between the sweep points of one fused training job: sweep
            points that differ in nothing else train as one batched model
            (``fuse: auto``). A family with fusable keys reads them per member
            (:meth:`contrastlab.engine.Task.member_values`) and accepts
            ``members=`` in :meth:`task`; ``tests/test_fuse.py`` checks that a
            fused job gives every point the numbers of its solo job, bit for bit.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    figures: ClassVar[tuple[Figure, ...]] = ()
    tables: ClassVar[tuple[Table, ...]] = ()
    tiny: ClassVar[dict] = {}
    data_sections: ClassVar[tuple[str, ...]] = ("data",)
    fusable: ClassVar[tuple[str, ...]] = ()

    def config(self, exp: dict) -> Any:
        """The typed config of an experiment's (validated, defaults-filled) sections."""
        from contrastlab.params import from_sections

        return from_sections(self.config_class, exp)

    @abstractmethod
    def synthesize(self, cfg: Any, seeds: list[int]) -> xr.Dataset:
        """Generator parameters, training and held-out data of every seed."""

    @abstractmethod
    def task(self, cfg: Any, data: xr.Dataset, seeds: list[int], device: torch.device) -> Task:
        """The training job of one sweep point, for :class:`contrastlab.engine.Engine`.

        A family with :attr:`fusable` keys also takes ``members=``: in a fused job,
        the typed config of every member (``seeds`` then repeat per point, point-major,
        and ``data`` is the points' data concatenated along ``seed``)."""

    @abstractmethod
    def claims(self, agg: xr.Dataset) -> pd.DataFrame:
        """The paper's claims evaluated on the aggregated results of one experiment."""

    def claim_names(self) -> tuple[str, ...]:
        """The names of the family's declared claims (an experiment's ``claims`` key picks
        among them): the keys of ``CLAIMS`` in the family's ``claims`` module (imported
        here, not at registration: it imports scipy)."""
        try:
            module = importlib.import_module(f"{type(self).__module__}.claims")
        except ModuleNotFoundError:  # a family without a claims module declares none
            return ()
        return tuple(getattr(module, "CLAIMS", {}))

    def figure(self, name: str) -> Figure:
        """The figure or table ``name``."""
        for fig in (*self.figures, *self.tables):
            if fig.name == name:
                return fig
        known = [f.name for f in (*self.figures, *self.tables)]
        raise ValueError(f"family {self.name!r} has no figure or table {name!r}; known: {known}")


def _check(fam: Family, origin: str) -> Family:
    if not isinstance(fam, Family):
        raise TypeError(f"{origin}: FAMILY must be a contrastlab.registry.Family, got {fam!r}")
    bad = [f.name for f in (*fam.figures, *fam.tables) if not f.name.startswith(f"{fam.name}_")]
    if bad:
        raise ValueError(f"{origin}: figure names must start with {fam.name + '_'!r}: {bad}")
    return fam


@cache
def families() -> dict[str, Family]:
    """``{name: Family}`` of every built-in and entry-point family, sorted by name."""
    import contrastlab.families as pkg

    found: dict[str, Family] = {}
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.ispkg:
            continue
        module = importlib.import_module(f"{pkg.__name__}.{mod.name}")
        fam = _check(getattr(module, "FAMILY", None), module.__name__)
        if fam.name != mod.name:
            raise ValueError(f"{module.__name__}: FAMILY.name must be {mod.name!r}")
        found[fam.name] = fam
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        fam = _check(ep.load(), f"entry point {ep.name} ({ep.value})")
        if fam.name in found:
            raise ValueError(f"entry point {ep.name}: family {fam.name!r} is already registered")
        found[fam.name] = fam
    return dict(sorted(found.items()))


def get_family(name: str) -> Family:
    """The registered family ``name``."""
    fams = families()
    if name not in fams:
        raise ValueError(f"unknown experiment family {name!r}; known: {sorted(fams)}")
    return fams[name]


def family_dir(name: str) -> Path:
    """Folder of a family's package (captions and other files live there)."""
    module = importlib.import_module(type(get_family(name)).__module__)
    return Path(module.__file__).parent


def describe() -> str:
    """Every registered family: paper, figures and config keys with defaults (for the docs)."""
    from contrastlab.params import field_schema, fields_by_section

    out = []
    for name, fam in families().items():
        out.append(f"{name}: {fam.title}  ({type(fam).__module__})")
        out.append("  figures: " + ", ".join(f.name for f in fam.figures))
        if fam.tables:
            out.append("  tables: " + ", ".join(t.name for t in fam.tables))
        if fam.fusable:
            out.append("  fusable (sweep points fused into one job): " + ", ".join(fam.fusable))
        for section, flds in fields_by_section(fam.config_class).items():
            for f in flds:
                sch = field_schema(fam.config_class, f)
                key = f.metadata.get("key") or f.name
                out.append(f"  {section}.{key} = {sch['default']!r}: {sch['description']}")
    return "\n".join(out)
