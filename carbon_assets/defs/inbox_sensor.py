"""Inbox sensors: new files become tenant-year runs; a new tenant becomes a partition in the same tick.

``inbox_sensor`` watches the local folder <data>/inbox/<tenant>/<year>/; ``s3_inbox_sensor``
(defs/s3_inbox.py) watches an S3 prefix with the same rules. The cursor holds the content ids
(SHA-256 of the bytes, locally and on S3) already handed to a run, per tenant-year: several files
written in the same second are all seen, and the same bytes under another name never run twice.
A tenant-year's ``replaces.yaml`` is content like any file: changing it requests a run.
"""


from pathlib import Path

import dagster as dg

from carbon_assets.defs.jobs import tenant_year_job
from carbon_assets.defs.partitions import TENANTS, tenant_partitions
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.engine import inbox
from carbon_assets.engine.lineage import bytes_sha256


def tenant_year_run(tenant: str, year: str, run_key: str, **tags: str) -> dg.RunRequest:
    return dg.RunRequest(run_key=run_key, partition_key=dg.MultiPartitionKey({"tenant": tenant, "year": year}),
                         tags={"carbon/tenant": tenant, **tags})


def inbox_tick(context: dg.SensorEvaluationContext, found: list, refused: list[inbox.Refused],
               source: str, cursor: inbox.InboxCursor | None = None) -> dg.SensorResult:
    """Runs for the tenant-years with new content, partitions for new tenants, the advanced cursor.

    ``cursor`` is the parsed context cursor, possibly updated by the caller (the S3 hashes)."""
    for r in refused:
        context.log.warning(f"{source}: refused {r.path}: {r.reason} (left in place)")
    cursor = cursor if cursor is not None else inbox.InboxCursor.parse(context.cursor)
    new = [f for f in found if cursor.is_new(f)]
    # every listed file is new or already seen: advancing over all of them also records the current
    # id of files an older cursor knew under a former id
    advanced = cursor.advance(found).dump()
    if not new:
        return dg.SensorResult(skip_reason=f"no new files ({len(found)} known, {len(refused)} refused)",
                               cursor=advanced)
    by_slice: dict[tuple[str, str], list] = {}
    for f in new:
        by_slice.setdefault((f.tenant, f.year), []).append(f)
    known = set(context.instance.get_dynamic_partitions(TENANTS))
    new_tenants = sorted({t for t, _ in by_slice} - known)
    runs = [
        tenant_year_run(t, y, f"{source}|{t}|{y}|" + bytes_sha256("|".join(sorted({f.content_id for f in fs})).encode()),
                        **{"carbon/source_files": ",".join(sorted(f.name for f in fs))[:500]})
        for (t, y), fs in sorted(by_slice.items())
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[tenant_partitions.build_add_request(new_tenants)] if new_tenants else [],
        cursor=advanced,
    )


@dg.sensor(job=tenant_year_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def inbox_sensor(context: dg.SensorEvaluationContext, files: ProjectFiles) -> dg.SensorResult:
    """Watches <data>/inbox/<tenant>/<year>/ ; run_key = hash of the new files' contents."""
    found, refused = inbox.scan(Path(files.inbox))
    return inbox_tick(context, found, refused, "inbox")
