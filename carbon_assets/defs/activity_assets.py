"""Tenant activity files: bronze rows, then canonical activities and rejects."""


import json
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from carbon_assets import settings
from carbon_assets.defs.partitions import tenant_year, tenant_year_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.s3_inbox import S3Inbox
from carbon_assets.defs.versioning import markdown_table, versioned
from carbon_assets.engine import activities, calculation, inbox
from carbon_assets.engine import s3_inbox as s3_inbox_mod
from carbon_assets.engine.lineage import file_sha256


def _raw(tenant: str, year: str, found: list[tuple[str, Path]], mapping: activities.ColumnMapping,
         source: str) -> dg.Output[pl.DataFrame]:
    try:
        activity_files, replaces = inbox.read_replaces(found)
    except inbox.ReplacesError as exc:
        raise dg.Failure(f"{source}/{exc}", metadata={"source": source}) from exc
    if not activity_files:
        raise dg.Failure(f"no activity files in {source}, only {inbox.REPLACES_FILE}: drop files there first")
    current, superseded = inbox.current_versions(activity_files, replaces)
    distinct, duplicates = activities.dedupe_by_content(current)
    raw = activities.read_raw(distinct, tenant, year, mapping)
    declared = {} if replaces is None else {
        "replaces_declared": dg.MetadataValue.json(replaces.declared), "replaces_sha256": replaces.sha256}
    return versioned(raw, files=dg.MetadataValue.json({name: file_sha256(p) for name, p in found}),
                     source=source, files_read=len(distinct),
                     superseded_versions=dg.MetadataValue.json(superseded), **declared,
                     duplicate_content=dg.MetadataValue.json(duplicates),
                     rows_by_file=dg.MetadataValue.json(dict(raw.group_by("source_file").len().sort("source_file")
                                                             .rows())))


@dg.asset(partitions_def=tenant_year_partitions, group_name="activities", kinds={"polars", "delta"},
          code_version=settings.asset_code_version())
def raw_activities(context: dg.AssetExecutionContext, files: ProjectFiles,
                   s3_inbox: S3Inbox) -> dg.Output[pl.DataFrame]:
    """Bronze: every cell of the tenant-year's inbox files as text, with file hash and row number.

    Only the tenant's own folder (or S3 prefix) is listed. A corrected file replaces earlier ones:
    as declared in the folder's ``replaces.yaml`` (``new.csv: [old.csv]``; an invalid declaration
    fails the run), else by version suffix (``_v2``, ``(1)``, ``_corrige``...); the same bytes under
    two names are read once."""
    tenant, year = tenant_year(context)
    mapping = activities.ColumnMapping.load(activities.tenant_mapping_path(files.tenants, tenant))
    if s3_inbox.enabled:
        bucket, prefix = s3_inbox.location()
        client = s3_inbox.client()
        objects = s3_inbox_mod.files_for(client, bucket, prefix, tenant, year)
        where = f"s3://{bucket}/{s3_inbox_mod.tenant_prefix(prefix, tenant, year)}"
        if not objects:
            raise dg.Failure(f"no activity files under {where}: drop files there first")
        with tempfile.TemporaryDirectory(prefix="carbon-inbox-") as tmp:
            found = s3_inbox_mod.download(client, bucket, objects, Path(tmp), mapping.max_bytes)
            return _raw(tenant, year, found, mapping, where)
    found = inbox.files_for(files.inbox, tenant, year)
    if not found:
        raise dg.Failure(f"no activity files in {files.inbox / tenant / year}: drop files there first")
    return _raw(tenant, year, found, mapping, str(files.inbox / tenant / year))



@dg.multi_asset(
    partitions_def=tenant_year_partitions, group_name="activities", code_version=settings.asset_code_version(),
    outs={"activities": dg.AssetOut(kinds={"polars", "delta"}, description="Canonical activity rows."),
          "activity_rejects": dg.AssetOut(kinds={"polars", "delta"},
                                          description="Unusable rows with file, row, column, value and message.")},
)
def activity_tables(context: dg.AssetExecutionContext, raw_activities: pl.DataFrame, files: ProjectFiles):
    """Canonical activities and their rejects; accepted + rejected = rows read, per file."""
    tenant, _ = tenant_year(context)
    config = calculation.ConfigFiles(files.root, tenant)
    mapping_path = config.path("column_mapping")
    acts, rejects, reports, mapping = calculation.activity_tables(raw_activities, config)
    read = dict(raw_activities.group_by("source_file").len().rows())
    ok = dict(acts.group_by("source_file").len().rows())
    bad = dict(rejects.group_by("source_file").len().rows())
    broken = {f: (n, ok.get(f, 0), bad.get(f, 0)) for f, n in read.items() if ok.get(f, 0) + bad.get(f, 0) != n}
    if broken:  # the invariant is tested; this guards it in production too
        raise dg.Failure("accepted + rejected != rows read", metadata={"files": dg.MetadataValue.json(broken)})
    by_msg = dict(rejects.group_by("message").len().sort("len", "message", descending=[True, False]).rows())
    rows_by_file = {f: {"read": n, "accepted": ok.get(f, 0), "rejected": bad.get(f, 0)} for f, n in sorted(read.items())}
    applied = {r["file"]: {k: r.get(k) for k in ("mapping", "found_by", "conventions", "read", "template")}
               for r in reports}
    yield versioned(acts, output_name="activities", column_mapping=str(mapping_path.name),
                    column_mapping_sha256=mapping.sha256,
                    mapping_applied=dg.MetadataValue.json(json.loads(json.dumps(applied, default=str))),
                    mapping_applied_sha256=activities.applied_mapping_sha256(reports),
                    rows_by_file=dg.MetadataValue.json(rows_by_file))
    yield versioned(rejects, output_name="activity_rejects", rejects_by_message=dg.MetadataValue.json(by_msg),
                    rows_by_file=dg.MetadataValue.json(rows_by_file),
                    first_rejects=markdown_table(rejects.sort("source_file", "row")
                                                 .select("source_file", "row", "column", "value", "message")))
