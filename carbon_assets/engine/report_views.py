"""Report views of one tenant-year: inventory by scope, Scope 3 category, BEGES poste and category,
location- and market-based, from ONE Monte-Carlo model so that every row shares the same factor draws.

Model lines: every matched emission line once with basis "location", plus the market-based pieces of
the Scope 2 lines (engine/scope2_market.py) with basis "market". Finest groups are
(view="line", basis, scope, category, scope3_category, poste); callable roll-ups map each finest group
to its row of each view (VIEWS), or to none:

  scope            key "1" and "3" basis "both"; key "2" basis "location" and "market"
  scope3_category  key "1".."15" (categories present), basis "both"
  poste            key "1".."23" (or postes.UNASSIGNED) basis "location"; the postes of the market
                   pieces (electricity: "6") also basis "market"
  category         key "<scope>|<category>"; basis "both", Scope 2 "location" and "market"
  total            key "total", basis "location" (all location lines) and "market" (location lines
                   outside Scope 2 + the market pieces)

A row of basis "both" is the same number in both bases (scope 1 and 3 do not depend on the Scope 2
method). Each row of a view sums exactly its lines, so in every sample the postes (and the scopes, and
the categories) of a basis add up to that basis' total. The location total equals the one of
reports.simulate for the same emissions: same lines, same factors, same streams.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from carbon_assets.engine import data_quality, montecarlo, postes, scope2_market
from carbon_assets.engine.emissions import DEFAULT_TIE_BREAK
from carbon_assets.engine.params import CalcParams
from carbon_assets.engine.reports import ACTIVITY_COLS, MODEL_COLS

VIEW_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "view": pl.String, "basis": pl.String, "key": pl.String,
    "label": pl.String, "deterministic_kgco2e": pl.Float64, "mean_kgco2e": pl.Float64,
    "median_kgco2e": pl.Float64, "p2_5_kgco2e": pl.Float64, "p5_kgco2e": pl.Float64, "p95_kgco2e": pl.Float64,
    "p97_5_kgco2e": pl.Float64, "n_lines": pl.Int64, "signature": pl.String,
}
VIEWS = ("scope", "scope3_category", "poste", "category", "total")
BASES = ("both", "location", "market")
LOCATION, MARKET, BOTH = "location", "market", "both"
LINE = "line"  # view label of the finest groups (model building blocks, not output rows)
# category before scope3_category and poste: the location lines' cells then come in the order of
# reports.simulate's (scope, category) cells, so the location total is summed in the same order, to the bit
GROUP_COLS = ["view", "basis", "scope", "category", "scope3_category", "poste"]
TOTAL = "total"
SCOPE3_CATEGORY_LABELS = {
    1: "Purchased goods and services", 2: "Capital goods", 3: "Fuel- and energy-related activities",
    4: "Upstream transportation and distribution", 5: "Waste generated in operations", 6: "Business travel",
    7: "Employee commuting", 8: "Upstream leased assets", 9: "Downstream transportation and distribution",
    10: "Processing of sold products", 11: "Use of sold products",
    12: "End-of-life treatment of sold products", 13: "Downstream leased assets", 14: "Franchises",
    15: "Investments",
}
GROUP_ROWS_SCHEMA = {"group_index": pl.Int64, "view": pl.String, "basis": pl.String, "key": pl.String}
_LINE_ID = "__line"


def _basis(basis: str, scope: str) -> str:
    """Row basis of a finest group: Scope 2 depends on the method, the other scopes do not."""
    return basis if scope == "2" else BOTH


# Roll-ups: finest label (view, basis, scope, category, scope3_category, poste) -> row label or None
def _scope(g: tuple) -> tuple:
    return ("scope", _basis(g[1], g[2]), g[2], None, None, None)


def _scope3_category(g: tuple) -> tuple | None:
    if g[1] != LOCATION or g[2] != "3" or g[4] is None:
        return None
    return ("scope3_category", BOTH, "3", None, g[4], None)


def _poste(g: tuple) -> tuple:
    return ("poste", g[1], None, None, None, g[5])


def _category(g: tuple) -> tuple:
    return ("category", _basis(g[1], g[2]), g[2], g[3], None, None)


def _total_location(g: tuple) -> tuple | None:
    return ("total", LOCATION, None, None, None, None) if g[1] == LOCATION else None


def _total_market(g: tuple) -> tuple | None:
    in_market = g[1] == MARKET or g[2] != "2"
    return ("total", MARKET, None, None, None, None) if in_market else None


ROLLUPS = (_scope, _scope3_category, _poste, _category, _total_location, _total_market)


def row_key(label: tuple) -> str:
    view = label[0]
    if view == "scope":
        return label[2]
    if view == "scope3_category":
        return str(label[4])
    if view == "poste":
        return label[5]
    if view == "category":
        return f"{label[2]}|{label[3]}"
    return TOTAL


def row_label(label: tuple, table: postes.PosteTable) -> str:
    view, basis = label[0], label[1]
    method = f" ({basis}-based)" if basis in (LOCATION, MARKET) else ""
    if view == "scope":
        return f"Scope {label[2]}{method}"
    if view == "scope3_category":
        return SCOPE3_CATEGORY_LABELS.get(label[4], f"Scope 3 category {label[4]}")
    if view == "poste":
        return table.label(label[5])
    if view == "category":
        return f"{label[3]}{method}"
    return f"Total{method}"


def model_lines(emissions: pl.DataFrame, snapshot: pl.DataFrame, instruments: pl.DataFrame,
                vocabulary: dict[str, dict], params: CalcParams, table: postes.PosteTable,
                tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> pl.DataFrame:
    """The location lines and the market pieces, with GROUP_COLS, the model columns and a line id."""
    matched = emissions.filter(pl.col("match_status") == "matched").with_row_index(_LINE_ID)
    market = scope2_market.market_lines(matched, instruments, snapshot, params, tie_break)
    location = matched.with_columns(pl.lit(LOCATION).alias("basis"))
    keep = [c for c in ["activity_key", "scope3_category", _LINE_ID, *MODEL_COLS, *ACTIVITY_COLS,
                        data_quality.TIER_COLUMN, "basis"] if c in location.columns]
    lines = pl.concat([location.select(keep), market.select(keep)])
    lines = postes.assign(lines, vocabulary, table).with_columns(pl.lit(LINE).alias("view"))
    return data_quality.fill_from_tier(lines)


def group_rows(problem: montecarlo.McProblem) -> pl.DataFrame:
    """(group_index, view, basis, key) of every output row of ``problem`` (its 'line' groups left out),
    to read the rows' samples out of the totals ``views`` returns."""
    rows = [(i, g[0], g[1], row_key(g)) for i, g in enumerate(problem.groups) if g[0] != LINE]
    return pl.DataFrame(rows, schema=GROUP_ROWS_SCHEMA, orient="row")


def _n_lines(lines: pl.DataFrame, labels: list[tuple]) -> np.ndarray:
    """Distinct emission lines per group (a Scope 2 line split in market pieces counts once). Pieces of
    one line share their finest group, and no group receives a line through two finest groups."""
    per_finest = lines.group_by(GROUP_COLS).agg(pl.col(_LINE_ID).n_unique().alias("n")).rows()
    index = {g: i for i, g in enumerate(labels)}
    out = np.zeros(len(labels), dtype=np.int64)
    for *g, n in per_finest:
        g = tuple(g)
        out[index[g]] += n
        for roll in ROLLUPS:
            if (r := roll(g)) is not None:
                out[index[r]] += n
    return out


def _sort_key(view: str, basis: str, key: str) -> tuple:
    return (VIEWS.index(view), (0, int(key), "") if key.isdigit() else (1, 0, key), BASES.index(basis))


def views(emissions: pl.DataFrame, snapshot: pl.DataFrame, instruments: pl.DataFrame,
          vocabulary: dict[str, dict], tenant: str, year: str, params: CalcParams, backend: str = "auto",
          tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK, poste_table: postes.PosteTable | None = None
          ) -> tuple[pl.DataFrame, montecarlo.McProblem | None, np.ndarray | None]:
    """(rows in VIEW_SCHEMA, model, totals [n_groups, n_samples]); model and totals None without matched
    lines. ``instruments``: scope2_market.load_instruments (may be empty); ``tie_break``: the declared
    factor tie-break, for the residual-mix selection. The rows of ``totals`` follow ``problem.groups``
    (``group_rows`` maps them to the output rows)."""
    table = poste_table or postes.load()
    signature = emissions["signature"][0] if "signature" in emissions.columns and emissions.height else None
    lines = model_lines(emissions, snapshot, instruments, vocabulary, params, table, tie_break)
    if lines.height == 0:
        return pl.DataFrame(schema=VIEW_SCHEMA), None, None
    problem = montecarlo.build_problem(lines, GROUP_COLS, with_total=False, rollups=ROLLUPS)
    totals = montecarlo.group_totals(problem, params.mc_seed, params.mc_samples, backend=backend)
    summary = montecarlo.summarize(totals)
    det = problem.deterministic()
    n_lines = _n_lines(lines, list(problem.groups))
    rows = [i for i, g in enumerate(problem.groups) if g[0] != LINE]
    labels = [problem.groups[i] for i in rows]
    keys = [row_key(g) for g in labels]
    out = pl.DataFrame({
        "tenant": [tenant] * len(rows), "year": [year] * len(rows), "view": [g[0] for g in labels],
        "basis": [g[1] for g in labels], "key": keys, "label": [row_label(g, table) for g in labels],
        "deterministic_kgco2e": det[rows], "mean_kgco2e": summary["mean"][rows],
        "median_kgco2e": summary["median"][rows], "p2_5_kgco2e": summary["p2_5"][rows],
        "p5_kgco2e": summary["p5"][rows], "p95_kgco2e": summary["p95"][rows],
        "p97_5_kgco2e": summary["p97_5"][rows], "n_lines": n_lines[rows],
        "signature": [signature] * len(rows),
    }, schema=VIEW_SCHEMA)
    order = sorted(range(out.height), key=lambda i: _sort_key(labels[i][0], labels[i][1], keys[i]))
    return out[order], problem, totals
