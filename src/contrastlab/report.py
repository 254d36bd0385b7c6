"""HTML pieces of the Snakemake report that the package renders (the claims pages)."""

from __future__ import annotations

import html

import pandas as pd
from docutils.core import publish_parts

VERDICT_COLOURS = {"supported": "#d4edda", "contradicted": "#f8d7da", "inconclusive": "#fff3cd"}


def claims_html(table: pd.DataFrame, title: str, description_rst: str = "") -> str:
    """A self-contained HTML page: the family's description, then its claims table
    with the verdicts coloured."""
    fmt = table.copy()
    for col in ("mean_diff", "ci_low", "ci_high", "cohens_d"):
        if col in fmt:
            fmt[col] = fmt[col].map(lambda v: f"{v:.3g}")
    rows = []
    for _, r in fmt.iterrows():
        cells = "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in fmt.columns)
        colour = VERDICT_COLOURS.get(r.get("verdict"), "#fff")
        rows.append(f'<tr style="background:{colour}">{cells}</tr>')
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in fmt.columns)
    about = publish_parts(description_rst, writer_name="html")["body"] if description_rst else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
        "</style></head><body>"
        f"<h2>{html.escape(title)}</h2>{about}<p>Verdict from a 95% t-interval of the mean "
        "per-seed difference (positive = as the paper claims): supported if it lies above 0, "
        "contradicted if below 0, else inconclusive. cohens_d = mean / sd of the differences.</p>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table></body></html>"
    )
