"""Report lines per tenant-year: deterministic value and Monte-Carlo summary per scope/category."""

from __future__ import annotations

import numpy as np
import polars as pl

from carbon_assets.engine import montecarlo
from carbon_assets.engine.params import CalcParams
from carbon_assets.engine.sensitivity import sobol_indices

GROUP_COLS = ["scope", "category"]
TOTAL = "total"
ALL = "all"  # category label of a scope subtotal
DISTRIBUTION_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "scope": pl.String, "category": pl.String,
    "deterministic_kgco2e": pl.Float64, "mean_kgco2e": pl.Float64, "median_kgco2e": pl.Float64,
    "std_kgco2e": pl.Float64, "p2_5_kgco2e": pl.Float64, "p5_kgco2e": pl.Float64, "p95_kgco2e": pl.Float64,
    "p97_5_kgco2e": pl.Float64, "n_lines": pl.Int64, "n_samples": pl.Int64, "mc_seed": pl.Int64,
    "mc_backend": pl.String,
}
REPORT_COLUMNS = ["tenant", "year", "scope", "category", "deterministic_kgco2e", "mean_kgco2e", "median_kgco2e",
                  "p2_5_kgco2e", "p5_kgco2e", "p95_kgco2e", "p97_5_kgco2e", "n_lines", "signature"]


def matched_lines(emissions: pl.DataFrame) -> pl.DataFrame:
    return emissions.filter(pl.col("match_status") == "matched")


MODEL_COLS = [*GROUP_COLS, "factor_id", "dist", "dist_p1", "dist_p2", "quantity_in_factor_unit"]


def report_lines(emissions: pl.DataFrame, columns: list[str] | None = None) -> pl.DataFrame:
    """Matched lines repeated once per report level: (scope, category), (scope, "all"), ("total", "total").

    ``columns`` keeps only those columns (they must include GROUP_COLS); rows and order are the same.
    """
    if columns is None:
        lines = matched_lines(emissions)
    else:  # project before filtering, so the other columns are never copied
        lines = emissions.lazy().select([*columns, "match_status"]).filter(pl.col("match_status") == "matched") \
            .select(columns).collect()
    return pl.concat([
        lines,
        lines.with_columns(pl.lit(ALL).alias("category")),
        lines.with_columns(pl.lit(TOTAL).alias("scope"), pl.lit(TOTAL).alias("category")),
    ])


def problem_for(emissions: pl.DataFrame) -> montecarlo.McProblem:
    return montecarlo.build_problem(report_lines(emissions, MODEL_COLS), GROUP_COLS, with_total=False)


def _label(g: tuple) -> tuple[str, str]:
    return g[0], g[1]


def distributions(emissions: pl.DataFrame, tenant: str, year: str, params: CalcParams,
                  backend: str = "auto") -> pl.DataFrame:
    """Monte-Carlo summary per (scope, category) and the total, with the deterministic value beside it."""
    levels = report_lines(emissions, MODEL_COLS)  # only the model's columns: bounds memory on big inventories
    if levels.height == 0:
        return pl.DataFrame(schema=DISTRIBUTION_SCHEMA)
    problem = montecarlo.build_problem(levels, GROUP_COLS, with_total=False)
    used = "rust" if backend == "rust" or (backend == "auto" and montecarlo.kernel_available()) else "numpy"
    totals = montecarlo.group_totals(problem, params.mc_seed, params.mc_samples, backend=used)
    summary = montecarlo.summarize(totals)
    det = problem.deterministic()
    counts = {tuple(r[:2]): r[2] for r in levels.group_by(GROUP_COLS).len().rows()}
    del levels
    rows = []
    for i, g in enumerate(problem.groups):
        scope, cat = _label(g)
        n = counts[g]
        rows.append({
            "tenant": tenant, "year": year, "scope": scope, "category": cat, "deterministic_kgco2e": float(det[i]),
            "mean_kgco2e": float(summary["mean"][i]), "median_kgco2e": float(summary["median"][i]),
            "std_kgco2e": float(summary["std"][i]), "p2_5_kgco2e": float(summary["p2_5"][i]),
            "p5_kgco2e": float(summary["p5"][i]), "p95_kgco2e": float(summary["p95"][i]),
            "p97_5_kgco2e": float(summary["p97_5"][i]), "n_lines": int(n), "n_samples": params.mc_samples,
            "mc_seed": params.mc_seed, "mc_backend": used,
        })
    return pl.DataFrame(rows, schema=DISTRIBUTION_SCHEMA, orient="row")


def sensitivity(emissions: pl.DataFrame, tenant: str, year: str) -> pl.DataFrame:
    """Sobol S1/ST per (report line, input), closed form."""
    if matched_lines(emissions).height == 0:
        return pl.DataFrame(schema={"tenant": pl.String, "year": pl.String, "scope": pl.String, "category": pl.String,
                                    "input": pl.String, "input_kind": pl.String, "s1": pl.Float64, "st": pl.Float64,
                                    "variance_share_kg2": pl.Float64})
    problem = problem_for(emissions)
    idx = sobol_indices(problem)
    labels = pl.DataFrame({"group_index": np.arange(problem.n_groups),
                           "scope": [_label(g)[0] for g in problem.groups],
                           "category": [_label(g)[1] for g in problem.groups]})
    return (idx.join(labels, on="group_index").drop("group_index")
            .with_columns(pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"))
            .select("tenant", "year", "scope", "category", "input", "input_kind", "s1", "st", "variance_share_kg2"))


def inventory(distribution: pl.DataFrame, signature: str) -> pl.DataFrame:
    return distribution.with_columns(pl.lit(signature).alias("signature")).select(REPORT_COLUMNS)


def factors_used(emissions: pl.DataFrame) -> dict[tuple[str, str], list[dict]]:
    """(scope, category) -> the factors its matched lines used, with value and unit."""
    used = (matched_lines(emissions).select("scope", "category", "factor_id", "factor_value", "factor_unit")
            .unique().sort("scope", "category", "factor_id"))
    out: dict[tuple[str, str], list[dict]] = {}
    for r in used.iter_rows(named=True):
        out.setdefault((r["scope"], r["category"]), []).append(
            {"id": r["factor_id"], "value": r["factor_value"], "unit": r["factor_unit"]})
    return out


def export_json(report: pl.DataFrame, emissions: pl.DataFrame, rejects_count: int, provenance: dict) -> dict:
    """Latest-only JSON for one tenant-year, in the shape of the client note's calculation result
    (GET /api/v1/calculations/{id}); the calculation id is derived from the signature."""
    total = report.filter(pl.col("scope") == TOTAL).row(0, named=True)
    fe_used = factors_used(emissions)
    breakdown = [
        {"scope": r["scope"], "category": r["category"], "deterministic": r["deterministic_kgco2e"],
         "mean": r["mean_kgco2e"], "median": r["median_kgco2e"], "ci_90": [r["p5_kgco2e"], r["p95_kgco2e"]],
         "ci_95": [r["p2_5_kgco2e"], r["p97_5_kgco2e"]], "n_lines": r["n_lines"],
         "fe_used": fe_used.get((r["scope"], r["category"]), [])}
        for r in report.filter((pl.col("scope") != TOTAL) & (pl.col("category") != ALL)).sort(GROUP_COLS)
        .iter_rows(named=True)
    ]
    scopes = {
        r["scope"]: {"deterministic": r["deterministic_kgco2e"], "mean": r["mean_kgco2e"],
                     "ci_90": [r["p5_kgco2e"], r["p95_kgco2e"]]}
        for r in report.filter(pl.col("category") == ALL).sort("scope").iter_rows(named=True)
    }
    status = dict(emissions.group_by("match_status").len().sort("match_status").rows())
    return {
        "calculation_id": "calc-" + total["signature"].removeprefix("sha256-")[:16],
        "tenant_id": total["tenant"], "period": total["year"], "signature": total["signature"],
        "summary": {"total_deterministic_kgCO2e": total["deterministic_kgco2e"],
                    "total_mean_kgCO2e": total["mean_kgco2e"], "total_median_kgCO2e": total["median_kgco2e"],
                    "ci_90": [total["p5_kgco2e"], total["p95_kgco2e"]]},
        "scopes": scopes,
        "breakdown": breakdown,
        "lines": {"by_match_status": status, "rejected_rows": rejects_count},
        "provenance": provenance,
        "mc_samples_location": None,  # summaries only: the samples are not persisted yet
    }
