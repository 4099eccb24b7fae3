"""Tenant activity files: bronze rows, then canonical activities and rejects."""


import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import activities, inbox
from carbon_assets.engine.lineage import file_sha256


@dg.asset(partitions_def=tenant_year_partitions, group_name="activities", kinds={"polars", "delta"},
          code_version=settings.asset_code_version())
def raw_activities(context: dg.AssetExecutionContext, files: ProjectFiles) -> dg.Output[pl.DataFrame]:
    """Bronze: every cell of the tenant-year's inbox files as text, with file hash and row number."""
    tenant, year = tenant_year(context)
    found = inbox.files_for(files.inbox, tenant, year)
    if not found:
        raise dg.Failure(f"no activity files in {files.inbox / tenant / year}: drop files there first")
    raw = activities.read_raw(found, tenant, year)
    return versioned(raw, files=dg.MetadataValue.json({name: file_sha256(p) for name, p in found}))


@dg.multi_asset(
    partitions_def=tenant_year_partitions, group_name="activities", code_version=settings.asset_code_version(),
    outs={"activities": dg.AssetOut(kinds={"polars", "delta"}, description="Canonical activity rows."),
          "activity_rejects": dg.AssetOut(kinds={"polars", "delta"},
                                          description="Unusable rows with file, row, column, value and message.")},
)
def activity_tables(context: dg.AssetExecutionContext, raw_activities: pl.DataFrame, files: ProjectFiles):
    """Canonical activities and their rejects; accepted + rejected = rows read, per file."""
    tenant, _ = tenant_year(context)
    mapping_path = activities.tenant_mapping_path(files.tenants, tenant)
    mapping = activities.ColumnMapping.load(mapping_path)
    acts, rejects = activities.normalise(raw_activities, mapping, activities.load_vocabulary(files.vocabulary))
    by_msg = dict(rejects.group_by("message").len().sort("message").rows())
    yield versioned(acts, output_name="activities", column_mapping=str(mapping_path.name),
                    column_mapping_sha256=mapping.sha256)
    yield versioned(rejects, output_name="activity_rejects", rejects_by_message=dg.MetadataValue.json(by_msg),
                    first_rejects=markdown_table(rejects.select("source_file", "row", "column", "value", "message")))
