"""Inbox sensor: new files become tenant-year runs; a new tenant becomes a partition in the same tick."""


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


@dg.sensor(job=tenant_year_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def inbox_sensor(context: dg.SensorEvaluationContext, files: ProjectFiles) -> dg.SensorResult | dg.SkipReason:
    """Watches <data>/inbox/<tenant>/<year>/ ; run_key = hash of the new files' contents."""
    found, refused = inbox.scan(Path(files.inbox))
    for r in refused:
        context.log.warning(f"inbox: refused {r.path}: {r.reason} (left in place)")
    cursor = inbox.InboxCursor.parse(context.cursor)
    new = [f for f in found if cursor.is_new(f)]
    if not new:
        return dg.SkipReason(f"no new files ({len(found)} known, {len(refused)} refused)")
    by_slice: dict[tuple[str, str], list[inbox.InboxFile]] = {}
    for f in new:
        by_slice.setdefault((f.tenant, f.year), []).append(f)
    known = set(context.instance.get_dynamic_partitions(TENANTS))
    new_tenants = sorted({t for t, _ in by_slice} - known)
    runs = [
        tenant_year_run(t, y, f"inbox|{t}|{y}|" + bytes_sha256("|".join(sorted({f.sha256 for f in fs})).encode()),
                        **{"carbon/source_files": ",".join(sorted(f.name for f in fs))[:500]})
        for (t, y), fs in sorted(by_slice.items())
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[tenant_partitions.build_add_request(new_tenants)] if new_tenants else [],
        cursor=cursor.advance(new).dump(),
    )
