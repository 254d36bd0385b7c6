"""HTML pieces of the Snakemake report that the package renders: the claims pages and
the front-page summary of verdicts."""

from __future__ import annotations

import html
import math

import pandas as pd
from docutils.core import publish_parts

VERDICT_COLOURS = {
    "supported": "#d4edda",
    "contradicted": "#f8d7da",
    "inconclusive": "#fff3cd",
    "not tested": "#e2e3e5",
}

STYLE = (
    "body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:4px 8px;vertical-align:top}"
)


def how() -> str:
    """How every verdict is reached: the one rule (contrastlab.claims.RULE) and the columns."""
    from contrastlab.claims import RULE

    return (
        "<p>Each claim was declared in the family's code before the run: its quantity "
        "(positive = as the paper claims), its test, the one-sided level alpha and the "
        f"smallest effect that counts (min_effect). <b>The rule.</b> {html.escape(RULE)}</p>"
        "<p>Settings of one seed share its data and initial draw, so they are compared per "
        "seed (paired); other sweep axes are blocks (<i>blocks</i>: in how many the mean "
        "effect has the claimed sign). <i>effect</i>: the statistic the test decides on "
        "(paired t: the mean per-seed difference; Wilcoxon: the Hodges-Lehmann estimate; "
        "Page's trend test: Page's L as a correlation, -1..1, with a seed-bootstrap "
        "interval; TOST: the mean difference against the margin +-min_effect), with "
        "<i>ci_low</i>..<i>ci_high</i>, its interval of level 1 - 2 alpha; <i>span</i>: a "
        "trend's mean last - first level, in the quantity's units; <i>p_value</i>: raw "
        "(one-sided, on the side of the effect), <i>p_adjusted</i>: after the correction "
        "for multiplicity; <i>seeds_needed</i>: seeds a one-sided paired t-test needs for "
        "power 0.8 at the observed effect and spread (never: a zero effect); "
        "<i>degenerate</i>: seeds whose runs collapsed; <i>stage</i>: with n_seeds "
        "{start, step, max}, the stage of seeds at which the claim was decided "
        "(group-sequential boundaries; the p-value is then the stage-wise one); "
        "<i>figure</i>: the figure that shows the claim's quantity.</p>"
    )


def _fmt(col: str, v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if col == "seeds_needed":
            return "never" if math.isinf(v) else f"{int(v)}"
        if col in ("p_value", "p_adjusted"):
            return f"{v:.2g}"
        return f"{v:.3g}"
    return str(v)


def table_html(table: pd.DataFrame, colour_by: str | None = "verdict") -> str:
    """An HTML table of a DataFrame, rows coloured by verdict."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for _, r in table.iterrows():
        cells = "".join(f"<td>{html.escape(_fmt(c, r[c]))}</td>" for c in table.columns)
        colour = VERDICT_COLOURS.get(r.get(colour_by), "#fff") if colour_by else "#fff"
        rows.append(f'<tr style="background:{colour}">{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def rst_html(text: str) -> str:
    return publish_parts(text, writer_name="html")["body"] if text else ""


SHOWN = ["name", "paper", "source", "setting", "claim", "quantity", "test", "n_seeds",
         "effect", "ci_low", "ci_high", "span", "p_value", "p_adjusted", "alpha",
         "min_effect", "seeds_needed", "blocks", "degenerate", "stage", "figure",
         "verdict"]  # fmt: skip


def _shown(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """The columns to show: ``stage`` only when some claim has one."""
    keep = [c for c in cols if c in table.columns]
    if "stage" in keep and not table["stage"].map(lambda v: isinstance(v, str) and v).any():
        keep.remove("stage")
    return table[keep]


def claims_html(
    table: pd.DataFrame, title: str, description_rst: str = "", correction: str = ""
) -> str:
    """A self-contained HTML page: the family's description, then its claims table."""
    note = f"<p><b>Multiplicity.</b> {html.escape(correction)}</p>" if correction else ""
    return page(title, rst_html(description_rst) + note + how() + table_html(_shown(table, SHOWN)))


def summary_html(
    tables: dict[str, pd.DataFrame], families: dict[str, str], correction: str = ""
) -> str:
    """The front page: per experiment the count of verdicts, then every claim.

    Args:
        tables: ``{experiment: claims table}``.
        families: ``{experiment: paper title}``.
        correction: the sentence on the multiplicity correction.
    """
    from contrastlab.claims import VERDICTS

    counts = []
    for exp, t in tables.items():
        vc = t["verdict"].value_counts()
        counts.append({"experiment": exp, "paper": families.get(exp, ""),
                       **{v: int(vc.get(v, 0)) for v in VERDICTS}})  # fmt: skip
    body = [
        "<p>What this run's data say about each paper's claims. Every number was produced "
        "by this run. The figures behind each experiment are in its category of the report "
        "(menu on the left); its claims page there says what is the paper's setting and "
        "what is our design. Each claim is counted once: a claim whose numbers do not "
        "depend on the experiment (an analytic one) is tested by one experiment.</p>",
        f"<p><b>Multiplicity.</b> {html.escape(correction)}</p>" if correction else "",
        table_html(pd.DataFrame(counts), colour_by=None),
    ]
    cols = ["name", "source", "setting", "claim", "test", "n_seeds", "effect", "ci_low",
            "ci_high", "span", "p_value", "p_adjusted", "seeds_needed", "degenerate",
            "stage", "figure", "verdict"]  # fmt: skip
    for exp, t in tables.items():
        body.append(f"<h3>{html.escape(exp)} ({html.escape(families.get(exp, ''))})</h3>")
        body.append(table_html(_shown(t, cols)))
    body.append(how())
    return page("Summary: the papers' claims against this run", "".join(body))
