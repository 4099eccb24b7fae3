"""The inventory report per tenant-year and its latest-only JSON export."""


import json
import os
from pathlib import Path

import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.config import CarbonParams
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import lineage, reports


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers see the old or the new file, never a partial one


def export_path(exports_dir: str | Path, tenant: str, year: str) -> Path:
    return Path(exports_dir) / tenant / year / "inventory.json"


@dg.asset(partitions_def=tenant_year_partitions, group_name="reports", kinds={"polars", "delta", "json"},
          code_version=settings.asset_code_version())
def inventory_report(context: dg.AssetExecutionContext, emission_distributions: pl.DataFrame,
                     emissions: pl.DataFrame, activity_rejects: pl.DataFrame,
                     files: ProjectFiles, params: CarbonParams) -> dg.Output[pl.DataFrame]:
    """Tenant, year, scope, category: deterministic, mean, median, p2.5/p5/p95/p97.5, lines, signature."""
    tenant, year = tenant_year(context)
    if emission_distributions.height == 0:
        raise dg.Failure(f"no matched emission lines for {tenant} {year}: nothing to report")
    sig = emission_distributions["signature"][0]
    report = reports.inventory(emission_distributions, sig)
    inputs = sorted(set(lineage.input_files(emissions, activity_rejects).values()))
    doc = reports.export_json(report, emissions, activity_rejects.height, {
        "raw_inputs_hash": "sha256-" + lineage.bytes_sha256("|".join(inputs).encode()),
        "fe_snapshot_id": emissions["snapshot_id"][0],
        "git_commit": settings.full_code_version().rsplit("+git-", 1)[-1],
        "code_version": settings.full_code_version(),
        "github_repo_url": params.github_repo_url,
    })
    path = export_path(files.exports_dir, tenant, year)
    _write_atomic(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
    return versioned(report, lineage_sha256=sig, export_json=dg.MetadataValue.path(str(path)),
                     report=markdown_table(report.drop("tenant", "year", "signature")))
