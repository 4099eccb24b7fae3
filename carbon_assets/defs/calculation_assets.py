"""Emissions per line, Monte-Carlo distributions and Sobol sensitivity for one tenant-year."""


import time

import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.config import CarbonParams
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import activities, lineage, reports
from carbon_assets.engine import emissions as emissions_mod

CODE_VERSION = settings.asset_code_version()


def _signature(acts: pl.DataFrame, rejects: pl.DataFrame, snapshot: pl.DataFrame, files: ProjectFiles,
               tenant: str, params) -> str:
    inputs = lineage.input_files(acts, rejects)
    mapping_path = activities.tenant_mapping_path(files.tenants, tenant)
    return lineage.signature(
        inputs=inputs,
        factor_snapshot=lineage.frame_sha256(snapshot),
        mappings={"column_mapping": lineage.file_sha256(mapping_path),
                  "activity_keys": lineage.file_sha256(files.vocabulary)},
        code_version=settings.full_code_version(),
        parameters=params.signature_dict(),
    )


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"polars", "delta"},
          code_version=CODE_VERSION,
          check_specs=[dg.AssetCheckSpec("all_lines_matched", asset="emissions",
                                         description="Every activity line found a usable factor")])
def emissions(context: dg.AssetExecutionContext, activities: pl.DataFrame, activity_rejects: pl.DataFrame,
              factor_snapshot: pl.DataFrame, files: ProjectFiles, params: CarbonParams):
    """Deterministic kgCO2e per activity line; unmatched lines kept and flagged with their reason."""
    tenant, _ = tenant_year(context)
    p = params.to_domain(tenant)
    em = emissions_mod.compute(activities, factor_snapshot, p)
    sig = _signature(activities, activity_rejects, factor_snapshot, files, tenant, p)
    snapshot_id = factor_snapshot["snapshot_id"][0] if factor_snapshot.height else None
    em = em.with_columns(pl.lit(snapshot_id, pl.String).alias("snapshot_id"), pl.lit(sig).alias("signature"))
    status = dict(em.group_by("match_status").len().sort("match_status").rows())
    unmatched = em.filter(pl.col("match_status") != "matched")
    yield versioned(em, lineage_sha256=sig, match_status=dg.MetadataValue.json(status),
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
                           params: CarbonParams) -> dg.Output[pl.DataFrame]:
    """Monte-Carlo summary per scope/category and total; each factor drawn once per sample, shared."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    t0 = time.perf_counter()
    dist = reports.distributions(emissions, tenant, year, p)
    elapsed = time.perf_counter() - t0
    sig = emissions["signature"][0] if emissions.height else None
    dist = dist.with_columns(pl.lit(sig, pl.String).alias("signature"))
    return versioned(dist, lineage_sha256=sig or "", mc_samples=p.mc_samples, mc_seed=p.mc_seed,
                     mc_seconds=round(elapsed, 4),
                     mc_samples_per_second=round(p.mc_samples / elapsed, 1) if elapsed > 0 else 0.0,
                     intervals=markdown_table(dist.select("scope", "category", "deterministic_kgco2e",
                                                          "mean_kgco2e", "p5_kgco2e", "p95_kgco2e")))


@dg.asset(partitions_def=tenant_year_partitions, group_name="calculation", kinds={"numpy", "delta"},
          code_version=CODE_VERSION)
def sensitivity(context: dg.AssetExecutionContext, emissions: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Sobol first-order and total indices per report line and input, in closed form."""
    tenant, year = tenant_year(context)
    sens = reports.sensitivity(emissions, tenant, year)
    sig = emissions["signature"][0] if emissions.height else None
    sens = sens.with_columns(pl.lit(sig, pl.String).alias("signature"))
    ranking = sens.filter(pl.col("scope") == reports.TOTAL).select("input", "s1", "st")
    return versioned(sens, lineage_sha256=sig or "", improve_first=markdown_table(ranking, 10))
