"""Emissions per line, Monte-Carlo distributions and Sobol sensitivity for one tenant-year."""


import time

import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.config import CarbonParams
from carbon_assets.defs.heavy_compute import HeavyCompute
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import calculation, montecarlo, plots, reports
from carbon_assets.engine import sensitivity as sensitivity_mod

CODE_VERSION = settings.asset_code_version()


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"polars", "delta"},
          code_version=CODE_VERSION,
          check_specs=[dg.AssetCheckSpec("all_lines_matched", asset="emissions",
                                         description="Every activity line found a usable factor")])
def emissions(context: dg.AssetExecutionContext, activities: pl.DataFrame, activity_rejects: pl.DataFrame,
              factor_snapshot: pl.DataFrame, files: ProjectFiles, params: CarbonParams):
    """Deterministic kgCO2e per activity line; unmatched lines kept and flagged with their reason."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    config = calculation.ConfigFiles(files.root, tenant)
    sig = calculation.signature(activities, activity_rejects, factor_snapshot, year, config.sha256(),
                                settings.full_code_version(), p)
    em = calculation.emissions(activities, factor_snapshot, p, config, sig)
    snapshot_id = calculation.snapshot_id(factor_snapshot)
    status = dict(em.group_by("match_status").len().sort("match_status").rows())
    unmatched = em.filter(pl.col("match_status") != "matched")
    yield versioned(em, lineage_sha256=sig, match_status=dg.MetadataValue.json(status),
                    calculation_errors=unmatched.height,  # lines without a usable factor (run metric)
                    snapshot_id=snapshot_id or "",
                    total_kgco2e=float(em["em_kgco2e"].sum() or 0.0))
    yield dg.AssetCheckResult(
        check_name="all_lines_matched", passed=unmatched.height == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"unmatched_lines": unmatched.height, "by_status": dg.MetadataValue.json(status),
                  "unmatched": markdown_table(unmatched.select("source_file", "source_row", "activity_key",
                                                               "quantity", "unit", "match_status", "match_note"))})


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"numpy", "rust", "delta"},
          code_version=CODE_VERSION)
def emission_distributions(context: dg.AssetExecutionContext, emissions: pl.DataFrame,
                           params: CarbonParams, heavy: HeavyCompute) -> dg.Output[pl.DataFrame]:
    """Monte-Carlo summary per scope/category and total; each factor drawn once per sample, shared;
    activity uncertainty per line; the Bilan Carbone analytic interval beside the MC interval."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    t0 = time.perf_counter()
    if p.compute_mode == "local":
        dist, problem, totals = calculation.distributions(emissions, tenant, year, p)
    else:  # the same simulation as a Pipes external process on the mode's engine (defs/heavy_compute.py)
        dist, summary = heavy.run(context, p.compute_mode, emissions, tenant, year, p)
        problem = totals = None  # samples stay remote: no histogram in the metadata
        context.log.info(f"compute_mode={p.compute_mode} via {heavy.launcher(p.compute_mode)}: {summary}")
        dist = calculation.stamp(dist, calculation.signature_of(emissions))
    elapsed = time.perf_counter() - t0
    sig = calculation.signature_of(emissions)
    extra = {}
    if problem is not None:
        t = problem.groups.index((reports.TOTAL, reports.TOTAL))
        row = dist.row(t, named=True)
        png = plots.histogram_png(totals[t], row["deterministic_kgco2e"], f"{tenant} {year}: total, "
                                  f"{p.mc_samples:,} samples", interval=(row["p2_5_kgco2e"], row["p97_5_kgco2e"]),
                                  bc_interval=(row["bc_low_kgco2e"] or float("nan"),
                                               row["bc_high_kgco2e"] or float("nan")))
        extra["histogram"] = dg.MetadataValue.md(plots.markdown_image(png, "Monte-Carlo distribution of the total"))
        extra["activity_cells"] = problem.n_atoms
    return versioned(dist, lineage_sha256=sig or "", mc_samples=p.mc_samples, mc_seed=p.mc_seed,
                     mc_backend=dist["mc_backend"][0] if dist.height else "", mc_kernel=montecarlo.kernel_version(),
                     compute_mode=p.compute_mode,
                     mc_seconds=round(elapsed, 4),
                     mc_samples_per_second=round(p.mc_samples / elapsed, 1) if elapsed > 0 else 0.0,
                     intervals=markdown_table(dist.select("scope", "category", "deterministic_kgco2e", "mean_kgco2e",
                                                          "median_kgco2e", "p2_5_kgco2e", "p97_5_kgco2e",
                                                          "bc_low_kgco2e", "bc_high_kgco2e"), 40),
                     **extra)


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"numpy", "delta"},
          code_version=CODE_VERSION)
def sensitivity(context: dg.AssetExecutionContext, emissions: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Sobol first-order and total indices per report line and input (factors, activity cells), in closed
    form; the ranking of the data to improve first and a tornado chart of the total in metadata."""
    tenant, year = tenant_year(context)
    sens, problem = calculation.sensitivity(emissions, tenant, year)
    sig = calculation.signature_of(emissions)
    extra = {}
    if problem is not None:
        torn = sensitivity_mod.tornado(problem, problem.groups.index((reports.TOTAL, reports.TOTAL)))
        if torn.height:
            png = plots.tornado_png(torn, f"{tenant} {year}: total, inputs at their 2.5th / 97.5th percentiles")
            extra["tornado"] = dg.MetadataValue.md(plots.markdown_image(png, "tornado chart of the total"))
    return versioned(sens, lineage_sha256=sig or "", improve_first=markdown_table(reports.improve_next(sens), 10),
                     **extra)


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"numpy", "delta"},
          code_version=CODE_VERSION)
def emission_samples(context: dg.AssetExecutionContext, emissions: pl.DataFrame,
                     params: CarbonParams) -> dg.Output[pl.DataFrame]:
    """Optional: every Monte-Carlo sample per scope/category and total (one row per group and sample).

    Not part of tenant_year_job: materialize it for the tenant-years whose raw draws you want (same
    seed and streams as emission_distributions, so its percentiles are the same numbers)."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    samples = calculation.samples(emissions, tenant, year, p)
    sig = calculation.signature_of(emissions)
    return versioned(samples, lineage_sha256=sig or "", mc_samples=p.mc_samples, mc_seed=p.mc_seed)
