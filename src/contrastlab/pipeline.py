"""What each workflow stage does, per experiment family.

The Snakemake scripts call these functions and nothing else, so each stage
can be run (and tested) without Snakemake. A new family registers its
functions in :data:`FAMILIES`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
import xarray as xr

from contrastlab.results import combine_points
from contrastlab.utils import device_name, provenance, resolve_device


@dataclass(frozen=True)
class Family:
    """The functions that make up one experiment family."""

    synthesize: Callable[[dict, list], xr.Dataset]
    train: Callable[..., xr.Dataset]
    claims: Callable[[xr.Dataset], pd.DataFrame]
    figures: dict  # figure name -> function(agg, path)


def _sparse_dense() -> Family:
    from contrastlab.wenli import SparseDenseConfig, WenLiConfig, make_sparse_dense, train_wenli
    from contrastlab.wenli.claims import wenli_claims
    from contrastlab.wenli.plots import plot_cosine, plot_dynamics

    def synth(cfg, seeds):
        return make_sparse_dense(SparseDenseConfig(**cfg.get("data", {})), seeds)

    def train(data, cfg, device, log, checkpoint_path):
        return train_wenli(
            data,
            WenLiConfig.from_experiment(cfg),
            device=device,
            log=log,
            checkpoint_path=checkpoint_path,
            job_config=cfg,
        )

    return Family(
        synth, train, wenli_claims, {"wenli_dynamics": plot_dynamics, "wenli_cosine": plot_cosine}
    )


def hltm_config(exp: dict):
    """The HLTMConfig of an ``hltm`` experiment's config sections."""
    from contrastlab.hltm import HLTMConfig

    d, m = exp.get("data", {}), exp.get("model", {})
    loss, t = exp.get("loss", {}), exp.get("train", {})
    fields = {
        **{k: d[k] for k in ("depth", "num_children", "delta_lower", "delta_upper") if k in d},
        **{k: m[k] for k in ("hid", "bn") if k in m},
        **{k: loss[k] for k in ("temperature", "triplet_margin") if k in loss},
        **{
            k: t[k]
            for k in ("lr", "epochs", "samples_per_epoch", "batch_size", "cov_samples")
            if k in t
        },
    }
    if "kind" in loss:
        fields["loss"] = loss["kind"]
    return HLTMConfig(**fields)


def _hltm() -> Family:
    import numpy as np

    from contrastlab.hltm import hltm_claims, train_hltm, tree_dataset
    from contrastlab.hltm.plots import plot_corr_by_height, plot_cov_op, plot_root_corr

    def synth(cfg, seeds):
        return tree_dataset(hltm_config(cfg), seeds)

    def train(data, cfg, device, log, checkpoint_path):
        hcfg = hltm_config(cfg)
        seeds = [int(s) for s in data.seed.values]
        # The sampler is rebuilt from the seeds; check it is the tree stored by synth_data.
        expected = tree_dataset(hcfg, seeds)
        for name in expected.data_vars:
            if name in data and not np.array_equal(expected[name].values, data[name].values):
                raise ValueError(
                    f"the tree in the data file differs from the one seeds {seeds} give "
                    f"({name}); delete the stale data file and rerun"
                )
        return train_hltm(
            hcfg,
            seeds,
            device=device,
            log=log,
            checkpoint_path=checkpoint_path,
            checkpoint_every=cfg.get("train", {}).get("checkpoint_every", 1),
        )

    return Family(
        synth,
        train,
        hltm_claims,
        {
            "hltm_corr_by_height": plot_corr_by_height,
            "hltm_root_corr": plot_root_corr,
            "hltm_cov_op": plot_cov_op,
        },
    )


_FACTORIES = {"sparse_dense": _sparse_dense, "hltm": _hltm}


def family(name: str) -> Family:
    """The functions of family ``name``."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown experiment family {name!r}; known: {sorted(_FACTORIES)}")
    return _FACTORIES[name]()


def synthesize(cfg: dict, seeds: list) -> xr.Dataset:
    """Data stage: generator parameters and data for every seed, with provenance."""
    t0 = time.perf_counter()
    ds = family(cfg["family"]).synthesize(cfg, seeds)
    ds.attrs.update(provenance(cfg, seeds, wall_time_s=time.perf_counter() - t0))
    return ds


def train(
    data: xr.Dataset, cfg: dict, device: str = "auto", log=print, checkpoint_path=None
) -> xr.Dataset:
    """Training stage: all seeds of one sweep point in one batched model."""
    dev = resolve_device(device)
    log(f"training on {device_name(dev)} (config device: {device}), torch {torch.__version__}")
    t0 = time.perf_counter()
    ds = family(cfg["family"]).train(data, cfg, dev, log, checkpoint_path)
    wall = time.perf_counter() - t0
    ds.attrs.update(provenance(cfg, data.seed.values, device_name(dev), wall))
    log(f"done in {wall:.1f}s")
    return ds


def aggregate(datasets, points: list[dict], keys: dict) -> xr.Dataset:
    """Aggregate stage: one dataset per experiment, sweep axes as dims."""
    attrs = {axis: {"long_name": key, "units": "1"} for axis, key in keys.items()}
    return combine_points(datasets, points, attrs)


def claims(agg: xr.Dataset, family_name: str) -> pd.DataFrame:
    """Claims stage: the paper's claims evaluated on the aggregated results."""
    return family(family_name).claims(agg)


def figure(agg: xr.Dataset, family_name: str, name: str, path) -> None:
    """Figure stage: draw figure ``name`` of the family to ``path``."""
    figs = family(family_name).figures
    if name not in figs:
        raise ValueError(f"family {family_name!r} has no figure {name!r}; known: {sorted(figs)}")
    figs[name](agg, path)


def claims_html(table: pd.DataFrame, title: str) -> str:
    """A self-contained HTML page showing a claims table, verdicts coloured."""
    colours = {"supported": "#d4edda", "contradicted": "#f8d7da", "inconclusive": "#fff3cd"}
    fmt = table.copy()
    for col in ("mean_diff", "ci_low", "ci_high", "cohens_d"):
        fmt[col] = fmt[col].map(lambda v: f"{v:.3g}")
    rows = []
    for _, r in fmt.iterrows():
        cells = "".join(f"<td>{r[c]}</td>" for c in fmt.columns)
        rows.append(f'<tr style="background:{colours.get(r["verdict"], "#fff")}">{cells}</tr>')
    head = "".join(f"<th>{c}</th>" for c in fmt.columns)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
        "</style></head><body>"
        f"<h2>{title}</h2><p>Verdict from a 95% t-interval of the mean per-seed difference "
        "(positive = as the paper claims): supported if it lies above 0, contradicted if "
        "below 0, else inconclusive. cohens_d = mean / sd of the differences.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>"
    )
