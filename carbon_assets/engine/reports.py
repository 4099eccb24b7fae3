"""Report lines per tenant-year: deterministic value and Monte-Carlo summary per scope/category."""

from __future__ import annotations

import numpy as np
import polars as pl

from carbon_assets.engine import data_quality, montecarlo
from carbon_assets.engine.params import CalcParams
from carbon_assets.engine.sensitivity import sobol_indices

GROUP_COLS = ["scope", "category"]
TOTAL = "total"
ALL = "all"  # category label of a scope subtotal
DISTRIBUTION_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "scope": pl.String, "category": pl.String,
    "deterministic_kgco2e": pl.Float64, "mean_kgco2e": pl.Float64, "median_kgco2e": pl.Float64,
    "std_kgco2e": pl.Float64, "p2_5_kgco2e": pl.Float64, "p5_kgco2e": pl.Float64, "p95_kgco2e": pl.Float64,
    "p97_5_kgco2e": pl.Float64, "bc_factor": pl.Float64, "bc_low_kgco2e": pl.Float64,
    "bc_high_kgco2e": pl.Float64, "n_lines": pl.Int64, "n_samples": pl.Int64, "mc_seed": pl.Int64,
    "mc_backend": pl.String,
}
SENSITIVITY_COLUMNS = {"tenant": pl.String, "year": pl.String, "scope": pl.String, "category": pl.String,
                       "input": pl.String, "input_kind": pl.String, "s1": pl.Float64, "st": pl.Float64,
                       "variance_share_kg2": pl.Float64}
REPORT_COLUMNS = ["tenant", "year", "scope", "category", "deterministic_kgco2e", "mean_kgco2e", "median_kgco2e",
                  "p2_5_kgco2e", "p5_kgco2e", "p95_kgco2e", "p97_5_kgco2e", "n_lines", "signature"]
# report levels above (scope, category): the scope subtotal and the total
ROLLUPS = ({"category": ALL}, {"scope": TOTAL, "category": TOTAL})
# 95% half-width / parameter of the non-lognormal distributions, for the Bilan Carbone reading
_HALF_WIDTH_95 = {"normal": 1.959963984540054, "triangular": 1.0 - 0.05**0.5, "uniform": 0.95}


def matched_lines(emissions: pl.DataFrame) -> pl.DataFrame:
    return emissions.filter(pl.col("match_status") == "matched")


MODEL_COLS = [*GROUP_COLS, "factor_id", "dist", "dist_p1", "dist_p2", "quantity_in_factor_unit"]
ACTIVITY_COLS = ["tenant", "activity_id", "quantity_uncertainty_pct"]


def model_lines(emissions: pl.DataFrame) -> pl.DataFrame:
    """The matched lines, only the columns the model reads (bounds memory on big inventories)."""
    cols = MODEL_COLS + [c for c in [*ACTIVITY_COLS, data_quality.TIER_COLUMN] if c in emissions.columns]
    lines = emissions.lazy().select([*cols, "match_status"]).filter(pl.col("match_status") == "matched") \
        .select(cols).collect()
    return data_quality.fill_from_tier(lines)


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


def problem_for(emissions: pl.DataFrame, activity: str = "aggregate") -> montecarlo.McProblem:
    """The report model: groups (scope, category), (scope, "all"), ("total", "total")."""
    return montecarlo.build_problem(model_lines(emissions), GROUP_COLS, with_total=False, rollups=ROLLUPS,
                                    activity=activity)


def _label(g: tuple) -> tuple[str, str]:
    return g[0], g[1]


def bc_factor_log_s(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """ln s_F of each factor for the Bilan Carbone analytic method: the multiplicative 95% factor,
    lognormal exp(1.96 sigma_ln) (= 1 + u for a published u); otherwise 1 + u with u the relative 95%
    half-width of the distribution: normal 1.96 sd/|p1|, triangular (1 - sqrt 0.05) p2/|p1|,
    uniform 0.95 p2/|p1|; none 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = p2 / np.abs(p1)
        out = np.select(
            [dist == montecarlo.DIST_LOGNORMAL, dist == montecarlo.DIST_NORMAL, dist == montecarlo.DIST_TRIANGULAR,
             dist == montecarlo.DIST_UNIFORM],
            [1.959963984540054 * p2, np.log1p(_HALF_WIDTH_95["normal"] * rel),
             np.log1p(_HALF_WIDTH_95["triangular"] * rel), np.log1p(_HALF_WIDTH_95["uniform"] * rel)], 0.0)
    return np.where(np.isfinite(out), out, 0.0)


def bc_intervals(problem: montecarlo.McProblem, deterministic: np.ndarray) -> np.ndarray:
    """Bilan Carbone analytic factor s per group (DOMAIN.md): line i has E_i = q_i x published factor and
    ln s_i = sqrt(ln^2 s_F + ln^2 s_A) (s_A = 1 + u_A/100 from quantity_uncertainty_pct); the group has
    ln s = sqrt(sum_i E_i^2 ln^2 s_i) / |E|, interval [E/s, E*s]. The sums come from the model's sums of
    squared quantities per (group, factor). Independent lines assumed, unlike the Monte Carlo (a cross-check).
    NaN when E <= 0."""
    ln_sf2 = bc_factor_log_s(problem.dist, problem.p1, problem.p2) ** 2
    nf = problem.n_factors
    col = problem.coef_factor
    is_atom = col >= nf
    a = np.where(is_atom, col - nf, 0)
    f = np.where(is_atom, problem.atom_factor[a] if problem.n_atoms else 0, col)
    q2 = problem.coef_q2 if problem.coef_q2 is not None else np.zeros(col.size)
    if problem.n_atoms:
        w_atom = problem.coef_value**2 * (ln_sf2[f] * problem.atom_q2[a] + problem.atom_q2_lnsa2[a])
    else:
        w_atom = np.zeros(col.size)
    w = problem.p1[f] ** 2 * np.where(is_atom, w_atom, ln_sf2[f] * q2)
    acc = np.bincount(problem.coef_group, weights=w, minlength=problem.n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_s = np.sqrt(acc) / np.abs(deterministic)
    return np.where(deterministic > 0, np.exp(ln_s), np.nan)


def simulate(emissions: pl.DataFrame, tenant: str, year: str, params: CalcParams, backend: str = "auto"
             ) -> tuple[pl.DataFrame, montecarlo.McProblem | None, np.ndarray | None]:
    """(summary frame, model, totals [n_groups, n_samples]); model and totals None without matched lines."""
    lines = model_lines(emissions)
    if lines.height == 0:
        return pl.DataFrame(schema=DISTRIBUTION_SCHEMA), None, None
    problem = montecarlo.build_problem(lines, GROUP_COLS, with_total=False, rollups=ROLLUPS)
    used = montecarlo.resolve_backend(backend)
    totals = montecarlo.group_totals(problem, params.mc_seed, params.mc_samples, backend=used)
    summary = montecarlo.summarize(totals)
    det = problem.deterministic()
    bc = bc_intervals(problem, det)
    del lines
    with np.errstate(invalid="ignore"):
        low, high = det / bc, det * bc
    labels = [_label(g) for g in problem.groups]
    nan_null = {"bc_factor", "bc_low_kgco2e", "bc_high_kgco2e"}
    out = pl.DataFrame({
        "tenant": [tenant] * len(labels), "year": [year] * len(labels),
        "scope": [g[0] for g in labels], "category": [g[1] for g in labels],
        "deterministic_kgco2e": det, "mean_kgco2e": summary["mean"], "median_kgco2e": summary["median"],
        "std_kgco2e": summary["std"], "p2_5_kgco2e": summary["p2_5"], "p5_kgco2e": summary["p5"],
        "p95_kgco2e": summary["p95"], "p97_5_kgco2e": summary["p97_5"], "bc_factor": bc,
        "bc_low_kgco2e": low, "bc_high_kgco2e": high, "n_lines": problem.n_lines,
        "n_samples": [params.mc_samples] * len(labels), "mc_seed": [params.mc_seed] * len(labels),
        "mc_backend": [used] * len(labels),
    }, schema=DISTRIBUTION_SCHEMA).with_columns(pl.col(c).fill_nan(None) for c in nan_null)
    return out, problem, totals


def distributions(emissions: pl.DataFrame, tenant: str, year: str, params: CalcParams,
                  backend: str = "auto") -> pl.DataFrame:
    """Monte-Carlo summary per (scope, category), scope and total, with the deterministic value and the
    Bilan Carbone analytic interval beside it."""
    return simulate(emissions, tenant, year, params, backend)[0]


SAMPLES_SCHEMA = {"tenant": pl.String, "year": pl.String, "scope": pl.String, "category": pl.String,
                  "sample": pl.Int64, "kgco2e": pl.Float64}


def samples_frame(problem: montecarlo.McProblem, totals: np.ndarray, tenant: str, year: str) -> pl.DataFrame:
    """Long table of the Monte-Carlo samples: one row per (group, sample)."""
    n = totals.shape[1]
    labels = [_label(g) for g in problem.groups]
    return pl.DataFrame({
        "tenant": pl.repeat(tenant, len(labels) * n, eager=True, dtype=pl.String),
        "year": pl.repeat(year, len(labels) * n, eager=True, dtype=pl.String),
        "scope": pl.Series([g[0] for g in labels], dtype=pl.String).gather(np.repeat(np.arange(len(labels)), n)),
        "category": pl.Series([g[1] for g in labels], dtype=pl.String).gather(np.repeat(np.arange(len(labels)), n)),
        "sample": np.tile(np.arange(n, dtype=np.int64), len(labels)),
        "kgco2e": totals.reshape(-1),
    })


def sensitivity(emissions: pl.DataFrame, tenant: str, year: str) -> pl.DataFrame:
    """Sobol S1/ST per (report line, input), closed form; inputs are factors and activity cells."""
    return sensitivity_with_problem(emissions, tenant, year)[0]


def sensitivity_with_problem(emissions: pl.DataFrame, tenant: str, year: str
                             ) -> tuple[pl.DataFrame, montecarlo.McProblem | None]:
    if matched_lines(emissions).height == 0:
        return pl.DataFrame(schema=SENSITIVITY_COLUMNS), None
    problem = problem_for(emissions)
    idx = sobol_indices(problem)
    labels = pl.DataFrame({"group_index": np.arange(problem.n_groups),
                           "scope": [_label(g)[0] for g in problem.groups],
                           "category": [_label(g)[1] for g in problem.groups]})
    out = (idx.join(labels, on="group_index").drop("group_index")
           .with_columns(pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"))
           .select(*SENSITIVITY_COLUMNS))
    return out, problem


def improve_next(sens: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """Ranking of the inputs to improve first, for the total: by first-order index S1 (the expected share
    of the total's variance removed if that input were known exactly: Saltelli's factor prioritisation
    setting), then ST. The total index ST says what the input carries with its interactions."""
    return (sens.filter(pl.col("scope") == TOTAL)
            .sort(["s1", "st", "input"], descending=[True, True, False])
            .head(n).with_row_index("rank", offset=1)
            .select("rank", "input", "input_kind", "s1", "st"))


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
