"""Reports per tenant-year: the inventory, its views (scope, Scope 3 category, poste, Scope 2 location/market),
ESRS E1-6 datapoints, the year-over-year trajectory, the calculation record, and the published exports."""


import hashlib
import json
from pathlib import Path

import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs import calculation_record
from carbon_assets.defs.config import CarbonParams
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import LakeStorage, ProjectFiles, ReportPolicy
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import (
    activities,
    attribution,
    calculation,
    delta_io,
    esrs,
    lineage,
    plots,
    provenance,
    reports,
)
from carbon_assets.engine import calculations as calculations_mod
from carbon_assets.engine import emissions as emissions_mod
from carbon_assets.engine import exports as exports_mod
from carbon_assets.engine import sensitivity as sensitivity_mod
from carbon_assets.engine import trajectory as trajectory_mod

CODE_VERSION = settings.asset_code_version()


def export_path(exports_dir: str | Path, tenant: str, year: str) -> Path:
    """The latest inventory JSON of a tenant-year (engine/exports.publish keeps this path valid)."""
    return Path(exports_dir) / tenant / year / "inventory.json"


def _signature_of(frame: pl.DataFrame) -> str:
    return frame["signature"][0] if frame.height and "signature" in frame.columns else ""


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"polars", "delta"},
          code_version=CODE_VERSION)
def inventory_report(context: dg.AssetExecutionContext, emission_distributions: pl.DataFrame
                     ) -> dg.Output[pl.DataFrame]:
    """Tenant, year, scope, category: deterministic, mean, median, p2.5/p5/p95/p97.5, lines, signature."""
    tenant, year = tenant_year(context)
    if emission_distributions.height == 0:
        raise dg.Failure(f"no matched emission lines for {tenant} {year}: nothing to report")
    report = calculation.inventory(emission_distributions)
    return versioned(report, lineage_sha256=_signature_of(report),
                     report=markdown_table(report.drop("tenant", "year", "signature")))


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"numpy", "delta"},
          code_version=CODE_VERSION)
def report_views(context: dg.AssetExecutionContext, emissions: pl.DataFrame, factor_snapshot: pl.DataFrame,
                 files: ProjectFiles, params: CarbonParams) -> dg.Output[pl.DataFrame]:
    """Every report line of the tenant-year in one table: by scope (Scope 2 location- and market-based), GHG
    Protocol Scope 3 category, Bilan Carbone poste, report category and total; one Monte Carlo shared by all."""
    tenant, year = tenant_year(context)
    config = calculation.ConfigFiles(files.root, tenant)
    views = calculation.report_views(emissions, factor_snapshot, config, tenant, year, params.to_domain(tenant))
    if views.height == 0:
        raise dg.Failure(f"no matched emission lines for {tenant} {year}: nothing to report")
    scope_rows = views.filter(pl.col("view").is_in(["scope", "total"]))
    return versioned(views, lineage_sha256=_signature_of(views),
                     by_scope=markdown_table(scope_rows.select("view", "basis", "key", "deterministic_kgco2e",
                                                               "mean_kgco2e", "p5_kgco2e", "p95_kgco2e")),
                     by_poste=markdown_table(views.filter(pl.col("view") == "poste")
                                             .select("basis", "key", "label", "deterministic_kgco2e"), 30))


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"polars", "delta"},
          code_version=CODE_VERSION)
def esrs_e1_6(context: dg.AssetExecutionContext, report_views: pl.DataFrame,
              files: ProjectFiles) -> dg.Output[pl.DataFrame]:
    """ESRS E1-6 datapoints in tCO2eq keyed by EFRAG taxonomy element (intensity when revenue is given)."""
    tenant, year = tenant_year(context)
    points = calculation.esrs_datapoints(report_views, calculation.ConfigFiles(files.root, tenant), tenant, year)
    return versioned(points, lineage_sha256=_signature_of(report_views),
                     datapoints=markdown_table(points.select("element", "member", "value_tco2e", "unit"), 40))


def _emissions_by_year(lake: LakeStorage, tenant: str, year: str, current: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """This tenant's emissions for every year up to ``year``: earlier years as the lake holds them now."""
    uri = lake.table_uri("emissions")
    older = pl.DataFrame()
    if delta_io.table_version(uri, lake.storage_options()) is not None:
        lf = pl.scan_delta(uri, storage_options=lake.storage_options())
        cols = [c for c in trajectory_mod.NEEDED_COLUMNS if c in lf.collect_schema().names()]
        older = lf.filter((pl.col("tenant") == tenant) & (pl.col("year") < year)).select(cols).collect()
    by_year = trajectory_mod.split_by_year(older) if older.height else {}
    return dict(sorted({**by_year, year: current}.items()))


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"numpy", "delta"},
          code_version=CODE_VERSION,
          check_specs=[dg.AssetCheckSpec("yoy_change_within_threshold", asset="trajectory",
                                         description="The total moves less than the threshold from the previous "
                                                     "year (ReportPolicy.yoy_threshold, default 5%)")])
def trajectory(context: dg.AssetExecutionContext, emissions: pl.DataFrame, factor_snapshot: pl.DataFrame,
               files: ProjectFiles, lake: LakeStorage, params: CarbonParams, policy: ReportPolicy):
    """The tenant's totals for every year up to this one, with year-over-year deltas whose intervals come from
    shared factor draws (a factor used in both years is drawn once per sample); the waterfall vs the previous
    year in metadata."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    by_year = _emissions_by_year(lake, tenant, year, emissions)
    points = trajectory_mod.trajectory(by_year, tenant, p)
    passed, check_meta = trajectory_mod.yoy_check(points, year, policy.yoy_threshold)
    extra = {}
    prev = [y for y in by_year if y < year and y in set(points["year"])]
    if prev:  # the previous year's activities as recorded in the lake, against this run's factor release
        tie = emissions_mod.load_tie_break(files.selection)
        acts = list(activities.ACTIVITY_SCHEMA)
        prev_acts = _activities_of(lake, tenant, prev[-1])
        a = attribution.CalcInputs(prev_acts, factor_snapshot, p, tie, label=f"{tenant} {prev[-1]}")
        b = attribution.CalcInputs(emissions.select(acts), factor_snapshot, p, tie, label=f"{tenant} {year}")
        frame = attribution.waterfall(a, b)
        extra["waterfall_vs_previous_year"] = markdown_table(frame)
        extra["waterfall_chart"] = dg.MetadataValue.md(plots.markdown_image(
            attribution.render_waterfall_png(frame, f"{tenant}: {prev[-1]} -> {year}"), "change attribution"))
    # one slice per as-of year: `year` is the partition, `point_year` the year each row describes
    traj = points.rename({"year": "point_year"}).with_columns(pl.lit(year).alias("year"))
    yield versioned(traj, lineage_sha256=_signature_of(emissions),
                    trajectory=markdown_table(points.drop("tenant", "signature")), **extra)
    yield dg.AssetCheckResult(check_name="yoy_change_within_threshold", passed=passed,
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={k: v if isinstance(v, (int, float, str, bool)) else dg.MetadataValue.json(v)
                                        for k, v in check_meta.items() if v is not None})


def _activities_of(lake: LakeStorage, tenant: str, year: str) -> pl.DataFrame:
    return delta_io.read_slices(lake.table_uri("activities"), {"tenant": [tenant], "year": [year]},
                                storage_options=lake.storage_options())


RECORDED = ["raw_activities", "activities", "activity_rejects", "emissions", "emission_distributions", "sensitivity",
            "inventory_report", "report_views", "esrs_e1_6"]


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"delta"}, code_version=CODE_VERSION,
          deps=RECORDED)
def calculations(context: dg.AssetExecutionContext, files: ProjectFiles, lake: LakeStorage,
                 params: CarbonParams) -> dg.Output[pl.DataFrame]:
    """Signature -> everything needed to replay the tenant-year's calculation (input hashes, Delta versions of
    raw_activities and factor_snapshot, config file texts, parameters, code version, output hashes, PROV-JSON);
    earlier signatures of the tenant-year are kept, so `carbon-assets replay` finds them later."""
    tenant, year = tenant_year(context)
    try:
        row = calculation_record.build_record(context.instance, lake.root_uri, lake.storage_options(), files.root,
                                              tenant, year, params.to_domain(tenant), settings.full_code_version())
    except calculation_record.RecordError as exc:
        raise dg.Failure(description=f"cannot record the calculation of {tenant} {year}: {exc}") from exc
    rows = calculations_mod.merge(
        calculation_record.existing_rows(lake.root_uri, tenant, year, lake.storage_options()), row)
    return versioned(rows, lineage_sha256=row["signature"], signatures=rows.height,
                     outputs=dg.MetadataValue.json(json.loads(row["outputs"])))


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"json", "html"},
          code_version=CODE_VERSION)
def exports(context: dg.AssetExecutionContext, inventory_report: pl.DataFrame, report_views: pl.DataFrame,
            esrs_e1_6: pl.DataFrame, trajectory: pl.DataFrame, sensitivity: pl.DataFrame,
            emissions: pl.DataFrame, activity_rejects: pl.DataFrame, calculations: pl.DataFrame,
            files: ProjectFiles, params: CarbonParams) -> dg.MaterializeResult:
    """bilan.json, strategy.json, esg.json (the /app/bilan, /app/strategy, /app/esg pages), inventory.json,
    report.html and provenance.json of the tenant-year, built in memory and published all at once (latest
    only): a missing input fails before anything is written, so no partial export is ever visible."""
    tenant, year = tenant_year(context)
    p = params.to_domain(tenant)
    sig = _signature_of(inventory_report)
    mine = calculations.filter(pl.col("signature") == sig)
    if mine.height == 0:
        raise dg.Failure(f"{tenant} {year}: no calculations record for {sig}; materialize calculations first "
                         "(nothing published)")
    _, problem, totals = reports.simulate(emissions, tenant, year, p)  # same streams as emission_distributions
    if problem is None:
        raise dg.Failure(f"no matched emission lines for {tenant} {year}: nothing published")
    ti = problem.groups.index((reports.TOTAL, reports.TOTAL))
    inputs = sorted(set(lineage.input_files(emissions, activity_rejects).values()))
    summary = {"raw_inputs_hash": "sha256-" + lineage.bytes_sha256("|".join(inputs).encode()),
               "fe_snapshot_id": emissions["snapshot_id"][0],
               "git_commit": settings.full_code_version().rsplit("+git-", 1)[-1],
               "code_version": settings.full_code_version(), "github_repo_url": p.github_repo_url}
    try:
        docs = exports_mod.documents(
            tenant=tenant, year=year, inventory=inventory_report, views=report_views, emissions=emissions,
            rejects_count=activity_rejects.height, provenance_summary=summary, trajectory=trajectory,
            sensitivity=sensitivity, esrs=esrs_e1_6,
            company=esrs.load_company(calculation.ConfigFiles(files.root, tenant).path("company")),
            total_samples=totals[ti], tornado=sensitivity_mod.tornado(problem, ti),
            provenance_doc=provenance.dumps(json.loads(mine["provenance"][0])))
    except exports_mod.ExportError as exc:
        raise dg.Failure(f"{tenant} {year}: {exc}; nothing published") from exc
    path = exports_mod.publish(files.exports_dir, tenant, year, docs, required=exports_mod.DOCUMENTS)
    manifest = exports_mod.manifest_bytes(tenant, year, docs)
    return dg.MaterializeResult(data_version=dg.DataVersion(hashlib.sha256(manifest).hexdigest()),
                                metadata={"export_dir": dg.MetadataValue.path(str(path)), "lineage_sha256": sig,
                                          "files": dg.MetadataValue.json(sorted(docs)),
                                          "inventory_json": dg.MetadataValue.path(str(export_path(
                                              files.exports_dir, tenant, year)))})
