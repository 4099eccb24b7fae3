"""Year-over-year trajectory of one tenant's total, with Monte-Carlo intervals on the change.

All the years are ONE Monte-Carlo problem whose groups are the years (``montecarlo.build_problem``
with a ``year`` group column). A factor used in several years is one column of that model, drawn
once per sample from its stream (seed, factor_id), so in every sample it takes the same value in
every year. The change between two years is computed per sample, T[Y, s] - T[Y-1, s], and its
interval is the percentiles of those differences. Factor uncertainty common to both years then
cancels: what is left is the uncertainty of the factors one year uses and the other does not (or
uses in different amounts), and the activity uncertainty. Drawing the years independently would
count the common factor uncertainty twice and could not tell a real change from noise.

Activity uncertainty: activity streams are keyed by (seed, tenant, activity_id) and activity ids
hash the source file, so two years' lines are independent unless they are literally the same line
(same tenant, file content and row), which then moves with itself, as it should.

A factor id that carries different parameters in different years (the years were calculated
against different factor releases, e.g. a corrected value under the same id) becomes one model
factor per parameter set, all on the factor id's stream: the same underlying quantity, so the same
draw z, with each year's own median and spread.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import polars as pl

from carbon_assets.engine import data_quality, montecarlo, reports, rng
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams

TRAJECTORY_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "prev_year": pl.String,
    "deterministic_kgco2e": pl.Float64, "mean_kgco2e": pl.Float64, "median_kgco2e": pl.Float64,
    "p2_5_kgco2e": pl.Float64, "p5_kgco2e": pl.Float64, "p95_kgco2e": pl.Float64, "p97_5_kgco2e": pl.Float64,
    "n_lines": pl.Int64,
    # vs prev_year (null on the first year): per-sample differences, shared factor draws
    "delta_deterministic_kgco2e": pl.Float64, "delta_mean_kgco2e": pl.Float64,
    "delta_p5_kgco2e": pl.Float64, "delta_p95_kgco2e": pl.Float64,
    "pct_change_deterministic": pl.Float64,
    "prob_decrease": pl.Float64,  # share of samples where the total fell
    "signature": pl.String,  # the year's calculation (its emissions' lineage signature), when recorded
}
YEAR = "year"
# the emission columns the trajectory reads (project on them when scanning the lake's emissions table)
NEEDED_COLUMNS = list(dict.fromkeys(["tenant", "year", "match_status", "signature", *reports.MODEL_COLS,
                                     *reports.ACTIVITY_COLS, data_quality.TIER_COLUMN]))


def split_by_year(emissions: pl.DataFrame, up_to: str | None = None) -> dict[str, pl.DataFrame]:
    """A tenant's emission lines of several years (e.g. its slices of the lake's emissions table) as
    year -> lines, keeping the years <= ``up_to`` when given."""
    if "year" not in emissions.columns:
        raise InputError("emissions have no year column", column="year")
    if up_to is not None:
        emissions = emissions.filter(pl.col("year") <= up_to)
    return {y: part for (y,), part in emissions.partition_by("year", as_dict=True, maintain_order=True).items()}


@dataclasses.dataclass(frozen=True)
class SharedStreamProblem(montecarlo.McProblem):
    """A model whose factor columns may share a stream: column i draws from ``stream_ids[i]``."""

    stream_ids: tuple[str, ...] = ()

    def stream_keys(self, seed: int) -> np.ndarray:
        return rng.stream_keys(seed, "factor", self.stream_ids)


@dataclasses.dataclass(frozen=True)
class YearSamples:
    """The years with matched lines (sorted), their deterministic totals, line counts and
    Monte-Carlo totals [n_years, n_samples] (row i is years[i])."""

    years: tuple[str, ...]
    deterministic: np.ndarray
    n_lines: np.ndarray
    totals: np.ndarray
    problem: montecarlo.McProblem | None
    backend: str
    signatures: tuple[str | None, ...] = ()


def _check_year(year: str, frame: pl.DataFrame, tenant: str) -> None:
    if not (isinstance(year, str) and len(year) == 4 and year.isdigit()):
        raise InputError("year keys must be 4-digit strings", column="year", value=year)
    for col, want in (("year", year), ("tenant", tenant)):
        if col in frame.columns:
            bad = frame.filter(pl.col(col).is_null() | (pl.col(col) != want))
            if bad.height:
                raise InputError(f"emissions given for {tenant} {year} hold a line of another {col}",
                                 file=bad["source_file"][0] if "source_file" in bad.columns else None,
                                 row=bad["source_row"][0] if "source_row" in bad.columns else None,
                                 column=col, value=bad[col][0])


def year_lines(emissions_by_year: dict[str, pl.DataFrame], tenant: str) -> pl.DataFrame:
    """The matched model lines of every year, with a ``year`` column (years without any are absent)."""
    parts = []
    for year in sorted(emissions_by_year):
        em = emissions_by_year[year]
        _check_year(year, em, tenant)
        missing = [c for c in [*reports.MODEL_COLS, "match_status"] if c not in em.columns]
        if missing:
            raise InputError(f"emissions of {tenant} {year} lack columns {missing}", column=missing[0])
        lines = reports.model_lines(em)
        if lines.height:
            parts.append(lines.with_columns(pl.lit(year, pl.String).alias(YEAR)))
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="diagonal_relaxed")


def _split_factor_variants(lines: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """Give each distinct (dist, p1, p2) of a factor id its own model id "<id>@<k>" (k >= 1 for the
    second and later parameter sets, in sorted order); returns the lines and model id -> stream id."""
    params = lines.select("factor_id", "dist", "dist_p1", "dist_p2").unique() \
        .sort("factor_id", "dist", "dist_p1", "dist_p2", nulls_last=True)
    params = params.with_columns(pl.int_range(pl.len()).over("factor_id").alias("__k"))
    if params["__k"].max() == 0:
        return lines, {}
    params = params.with_columns(
        pl.when(pl.col("__k") == 0).then(pl.col("factor_id"))
        .otherwise(pl.format("{}@{}", pl.col("factor_id"), pl.col("__k"))).alias("__model_id"))
    out = lines.join(params, on=["factor_id", "dist", "dist_p1", "dist_p2"], how="left", nulls_equal=True,
                     maintain_order="left") \
        .with_columns(pl.col("__model_id").alias("factor_id")).drop("__k", "__model_id")
    streams = dict(zip(params["__model_id"].to_list(), params["factor_id"].to_list()))
    return out, streams


def build_year_problem(lines: pl.DataFrame) -> montecarlo.McProblem:
    """The model of ``year_lines``: one group per year, factors shared across the years."""
    lines, streams = _split_factor_variants(lines)
    problem = montecarlo.build_problem(lines, [YEAR], with_total=False)
    if not streams:
        return problem
    fields = {f.name: getattr(problem, f.name) for f in dataclasses.fields(montecarlo.McProblem)}
    return SharedStreamProblem(**fields, stream_ids=tuple(streams.get(f, f) for f in problem.factor_ids))


def simulate_years(emissions_by_year: dict[str, pl.DataFrame], tenant: str, params: CalcParams,
                   backend: str = "auto") -> YearSamples:
    """Every year of ``emissions_by_year`` (year -> emission lines) in one Monte-Carlo run."""
    lines = year_lines(emissions_by_year, tenant)
    used = montecarlo.resolve_backend(backend)
    if lines.height == 0:
        return YearSamples((), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, params.mc_samples)), None, used)
    problem = build_year_problem(lines)
    totals = montecarlo.group_totals(problem, params.mc_seed, params.mc_samples, backend=used)
    years = tuple(g[0] for g in problem.groups)
    sigs = tuple(_signature(emissions_by_year[y]) for y in years)
    return YearSamples(years, problem.deterministic(), problem.n_lines, totals, problem, used, sigs)


def _signature(em: pl.DataFrame) -> str | None:
    if "signature" not in em.columns:
        return None
    sigs = em["signature"].drop_nulls().unique().sort().to_list()
    return sigs[0] if len(sigs) == 1 else None


def trajectory_from_samples(s: YearSamples, tenant: str) -> pl.DataFrame:
    if not s.years:
        return pl.DataFrame(schema=TRAJECTORY_SCHEMA)
    summary = montecarlo.summarize(s.totals)
    n = len(s.years)
    rows: dict[str, list] = {k: [None] * n for k in
                             ("prev_year", "delta_deterministic_kgco2e", "delta_mean_kgco2e", "delta_p5_kgco2e",
                              "delta_p95_kgco2e", "pct_change_deterministic", "prob_decrease")}
    for i in range(1, n):
        diff = s.totals[i] - s.totals[i - 1]  # per sample: the same factor draws in both years
        p5, p95 = np.percentile(diff, [5.0, 95.0])
        prev = float(s.deterministic[i - 1])
        rows["prev_year"][i] = s.years[i - 1]
        rows["delta_deterministic_kgco2e"][i] = float(s.deterministic[i]) - prev
        rows["delta_mean_kgco2e"][i] = float(diff.mean())
        rows["delta_p5_kgco2e"][i], rows["delta_p95_kgco2e"][i] = float(p5), float(p95)
        rows["pct_change_deterministic"][i] = float(s.deterministic[i]) / prev - 1.0 if prev != 0 else None
        rows["prob_decrease"][i] = float(np.count_nonzero(diff < 0)) / diff.size
    return pl.DataFrame({
        "tenant": [tenant] * n, "year": list(s.years), "prev_year": rows["prev_year"],
        "deterministic_kgco2e": s.deterministic, "mean_kgco2e": summary["mean"], "median_kgco2e": summary["median"],
        "p2_5_kgco2e": summary["p2_5"], "p5_kgco2e": summary["p5"], "p95_kgco2e": summary["p95"],
        "p97_5_kgco2e": summary["p97_5"], "n_lines": s.n_lines,
        **{k: v for k, v in rows.items() if k != "prev_year"},
        "signature": list(s.signatures) if s.signatures else [None] * n,
    }, schema=TRAJECTORY_SCHEMA)


def trajectory(emissions_by_year: dict[str, pl.DataFrame], tenant: str, params: CalcParams,
               backend: str = "auto") -> pl.DataFrame:
    """One row per year with matched lines (TRAJECTORY_SCHEMA), sorted by year, with the change vs the
    previous available year: deterministic, mean and 90% interval of the per-sample difference."""
    return trajectory_from_samples(simulate_years(emissions_by_year, tenant, params, backend), tenant)


def yoy_check(trajectory: pl.DataFrame, year: str, threshold: float = 0.05) -> tuple[bool, dict]:
    """Does ``year``'s deterministic total stay within ``threshold`` (relative) of the previous available
    year's? Passes when |total_Y / total_prev - 1| <= threshold, or when there is no previous year.

    The metadata carries both totals, the change and the shared-draw 90% interval of the change, and
    ``change_exceeds_mc_noise`` (that interval excludes 0): a move beyond the threshold that the
    uncertainty cannot explain is worth a look first."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    rows = trajectory.filter(pl.col("year") == year)
    if rows.height != 1:
        raise InputError(f"year {year} is not in the trajectory (years: {trajectory['year'].to_list()})",
                         column="year", value=year)
    r = rows.row(0, named=True)
    meta = {"year": year, "threshold": float(threshold), "total_kgco2e": r["deterministic_kgco2e"]}
    if r["prev_year"] is None:
        return True, {**meta, "prev_year": None,
                      "reason": f"no previous year with matched emissions before {year}: nothing to compare"}
    prev_total = trajectory.filter(pl.col("year") == r["prev_year"])["deterministic_kgco2e"][0]
    ratio_change = r["pct_change_deterministic"]
    if ratio_change is None:  # previous total exactly 0
        passed = r["deterministic_kgco2e"] == 0.0
    else:
        passed = abs(ratio_change) <= threshold
    lo, hi = r["delta_p5_kgco2e"], r["delta_p95_kgco2e"]
    return passed, {
        **meta, "prev_year": r["prev_year"], "prev_total_kgco2e": prev_total,
        "change_kgco2e": r["delta_deterministic_kgco2e"], "pct_change": ratio_change,
        "delta_mean_kgco2e": r["delta_mean_kgco2e"], "delta_p5_kgco2e": lo, "delta_p95_kgco2e": hi,
        "change_exceeds_mc_noise": bool(lo > 0 or hi < 0), "prob_decrease": r["prob_decrease"],
    }
