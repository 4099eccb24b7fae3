"""A self-contained HTML report of one tenant-year: totals, scope bars (location and market), Monte-Carlo
histogram of the total, Sobol tornado and tables (scope, Scope 3 category, Bilan Carbone poste, ESRS E1-6).

Self-contained: inline CSS, charts as base64 PNG data URIs, no script, and a Content-Security-Policy that
forbids every network fetch, so the file opens the same offline, from a mail attachment or from the lake.
Deterministic: no date, rows in a fixed order, PNGs without software/date metadata: same inputs, same bytes.
The totals carry ids (``total-location``, ``total-market``...) so a browser test can read them.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import polars as pl

from carbon_assets.engine import plots, reports
from carbon_assets.engine.exports import VIEW_COLUMNS, ExportError

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d2327;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd}
.meta{color:#555;font-size:.85rem;word-break:break-all}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #ccd;border-radius:.5rem;padding:.8rem 1.2rem;flex:1 1 18rem}
.big{font-size:1.8rem;font-weight:600}.ci{color:#444;font-size:.9rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}
th,td{border:1px solid #dde;padding:.25rem .5rem;text-align:right}th{background:#f3f5f8}
td.text,th.text{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
"""


def _t(kg) -> str:
    """kgCO2e shown in tCO2e with 2 decimals (the figure the totals' ids carry)."""
    return "" if kg is None or not np.isfinite(kg) else f"{kg / 1000.0:.2f}"


def _num(v, digits: int = 3) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _img(png: bytes, ident: str, alt: str) -> str:
    return (f'<img id="{ident}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def _table(ident: str, headers: list[str], rows: list[list[str]], text_cols: int = 1) -> str:
    """A table; the first ``text_cols`` columns are text (left-aligned), the others numbers."""
    def cell(tag: str, i: int, v: str) -> str:
        cls = ' class="text"' if i < text_cols else ""
        return f"<{tag}{cls}>{html.escape(str(v))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>\n" for r in rows)
    if not rows:
        body = f'<tr><td class="text" colspan="{len(headers)}">none</td></tr>\n'
    return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>'


_VIEW_HEADERS = ["deterministic tCO2e", "MC mean", "MC median", "p5", "p95", "p2.5", "p97.5", "lines"]


def _view_cells(r: dict) -> list[str]:
    return [_t(r["deterministic_kgco2e"]), _t(r["mean_kgco2e"]), _t(r["median_kgco2e"]), _t(r["p5_kgco2e"]),
            _t(r["p95_kgco2e"]), _t(r["p2_5_kgco2e"]), _t(r["p97_5_kgco2e"]), str(r["n_lines"])]


def _sorted_rows(v: pl.DataFrame, view: str) -> list[dict]:
    rows = v.filter(pl.col("view") == view).iter_rows(named=True)
    return sorted(rows, key=lambda r: (int(r["key"]) if r["key"].isdigit() else 10**6, r["key"], r["basis"]))


def _histogram(dist, total: dict, title: str) -> bytes:
    interval = (total["p2_5_kgco2e"], total["p97_5_kgco2e"])
    if isinstance(dist, tuple) and len(dist) == 2:
        return plots.histogram_counts_png(dist[0], dist[1], total["deterministic_kgco2e"], title, interval=interval)
    samples = np.asarray(dist, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ExportError(f"html report: the total's Monte-Carlo samples must be a non-empty 1-D array, "
                          f"got shape {samples.shape}")
    return plots.histogram_png(samples, total["deterministic_kgco2e"], title, interval=interval)


def _scope_bar_rows(v: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for r in v.filter(pl.col("view") == "scope").iter_rows(named=True):
        for basis in (("location", "market") if r["basis"] == "both" else (r["basis"],)):
            rows.append({"scope": r["key"], "basis": basis, "value_kgco2e": r["deterministic_kgco2e"],
                         "low_kgco2e": r["p5_kgco2e"], "high_kgco2e": r["p95_kgco2e"]})
    return pl.DataFrame(rows, schema={"scope": pl.String, "basis": pl.String, "value_kgco2e": pl.Float64,
                                      "low_kgco2e": pl.Float64, "high_kgco2e": pl.Float64})


def _total_card(basis: str, r: dict) -> str:
    b = basis
    return (f'<div class="card"><h3>Total, {b}-based</h3>'
            f'<p class="big"><span id="total-{b}">{_t(r["deterministic_kgco2e"])}</span> tCO2e</p>'
            f'<p class="ci">Monte-Carlo mean <span id="total-{b}-mean">{_t(r["mean_kgco2e"])}</span>, '
            f'median <span id="total-{b}-median">{_t(r["median_kgco2e"])}</span>; 90% interval '
            f'[<span id="total-{b}-p5">{_t(r["p5_kgco2e"])}</span>, '
            f'<span id="total-{b}-p95">{_t(r["p95_kgco2e"])}</span>] tCO2e</p></div>')


def render(tenant: str, year: str, views: pl.DataFrame, total_distribution, sensitivity: pl.DataFrame,
           esrs: pl.DataFrame, *, signature: str | None = None, provenance: dict | None = None,
           tornado: pl.DataFrame | None = None, n_inputs: int = 12) -> str:
    """The report of one tenant-year as one HTML string.

    views: report views (VIEW_SCHEMA; total rows for both bases required); total_distribution: the
    location-based total's Monte-Carlo samples (1-D array, kgCO2e) or an already binned (counts, edges);
    sensitivity: the sensitivity frame (its total rows feed the Sobol tornado); esrs: ESRS E1-6 datapoints
    (ESRS_SCHEMA); tornado: optional one-at-a-time swings of the total (``sensitivity.tornado``);
    provenance: optional flat {name: value} shown in the footer (snapshot id, code version...).
    """
    missing = [c for c in VIEW_COLUMNS if c not in views.columns]
    if missing:
        raise ExportError(f"html report: report views lack column(s) {missing}")
    v = views.filter((pl.col("tenant") == tenant) & (pl.col("year") == year))
    totals = {}
    for basis in ("location", "market"):
        t = v.filter((pl.col("view") == "total") & (pl.col("basis") == basis))
        if t.height != 1:
            raise ExportError(f"html report {tenant} {year}: expected one total row with basis {basis!r} in the "
                              f"report views, found {t.height}")
        totals[basis] = t.row(0, named=True)
    sens = (sensitivity.filter((pl.col("tenant") == tenant) & (pl.col("year") == year)
                               & (pl.col("scope") == reports.TOTAL))
            .sort(["st", "s1", "input"], descending=[True, True, False]).head(n_inputs))
    e = esrs.filter((pl.col("tenant") == tenant) & (pl.col("year") == year)).sort("element", "member",
                                                                                   nulls_last=False)
    who = f"{tenant} {year}"

    charts = [
        "<h2>Scopes</h2>",
        _img(plots.scope_bars_png(_scope_bar_rows(v), f"Emissions by scope, {who}"), "chart-scopes",
             "Emissions by scope, location- and market-based"),
        _table("table-scope", ["scope", "label", "basis", *_VIEW_HEADERS],
               [[r["key"], r["label"], r["basis"], *_view_cells(r)] for r in _sorted_rows(v, "scope")], 3),
        "<h2>Monte-Carlo distribution of the total (location-based)</h2>",
        _img(_histogram(total_distribution, totals["location"], f"Total, {who}"), "chart-histogram",
             "Histogram of the Monte-Carlo samples of the total"),
        "<h2>Sensitivity: Sobol indices of the total</h2>",
        _img(plots.sobol_bars_png(sens.select("input", "s1", "st"), f"Sobol indices, total, {who}"),
             "chart-sobol", "Sobol tornado: first-order and total indices of the inputs"),
        _table("table-sobol", ["input", "kind", "S1", "ST"],
               [[r["input"], r["input_kind"], _num(r["s1"]), _num(r["st"])] for r in sens.iter_rows(named=True)], 2),
    ]
    if tornado is not None and tornado.height:
        charts.append(_img(plots.tornado_png(tornado, f"Swings of the expected total, {who}"), "chart-tornado",
                           "Tornado: expected total with one input at its 2.5th / 97.5th percentile"))
    tables = [
        "<h2>GHG Protocol Scope 3 categories</h2>",
        _table("table-scope3", ["category", "label", *_VIEW_HEADERS],
               [[r["key"], r["label"], *_view_cells(r)] for r in _sorted_rows(v, "scope3_category")], 2),
        "<h2>Bilan Carbone postes</h2>",
        _table("table-poste", ["poste", "label", "basis", *_VIEW_HEADERS],
               [[r["key"], r["label"], r["basis"], *_view_cells(r)] for r in _sorted_rows(v, "poste")], 3),
        "<h2>ESRS E1-6 (tCO2eq)</h2>",
        _table("table-esrs", ["element", "member", "label", "value", "MC mean", "p5", "p95", "unit",
                              "taxonomy confirmed"],
               [[r["element"], r["member"] or "", r["label"], _num(r["value_tco2e"], 2), _num(r["mean_tco2e"], 2),
                 _num(r["p5_tco2e"], 2), _num(r["p95_tco2e"], 2), r["unit"],
                 "yes" if r["taxonomy_confirmed"] else "no"] for r in e.iter_rows(named=True)], 3),
    ]
    meta = [f"<p class=\"meta\">signature <span id=\"signature\">{html.escape(signature)}</span></p>"
            if signature else ""]
    footer = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(val))}</li>"
                     for k, val in sorted((provenance or {}).items()))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>GHG inventory {html.escape(who)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>GHG inventory, {html.escape(tenant)}, {html.escape(year)}</h1>",
        *meta,
        '<div class="cards">' + _total_card("location", totals["location"]) + _total_card("market", totals["market"])
        + "</div>",
        *charts, *tables,
        f'<h2>Provenance</h2><ul class="meta">{footer}</ul>' if footer else "",
        "</body></html>",
        "",
    ])
