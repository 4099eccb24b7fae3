"""A new factor snapshot, once published to the registry, requests exactly the stale tenant-years.

The cursor is the Delta version of ``factor_snapshot`` last compared. When ``factor_registry``
has published a later version (so the snapshot passed its blocking checks), the sensor reads both
versions from the lake (Delta time travel) and the lines of the ``emissions`` table, and requests
a run for every tenant-year whose factor selection changes (engine/staleness.py).
"""


import dagster as dg

from carbon_assets.defs.config import CarbonParams
from carbon_assets.defs.inbox_sensor import tenant_year_run
from carbon_assets.defs.jobs import tenant_year_job
from carbon_assets.defs.resources import LakeStorage
from carbon_assets.engine import delta_io, staleness


def _published_version(context: dg.SensorEvaluationContext) -> int | None:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("factor_registry"))
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("snapshot_delta_version")
    return None if value is None or value.value is None else int(value.value)


@dg.sensor(job=tenant_year_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def factor_refresh_sensor(context: dg.SensorEvaluationContext, lake: LakeStorage, params: CarbonParams):
    """Runs for the tenant-years a newly published factor snapshot changes, and nothing else."""
    published = _published_version(context)
    if published is None:
        return dg.SkipReason("no factor snapshot published to the registry yet")
    last = int(context.cursor) if context.cursor else None
    if last is not None and published <= last:
        return dg.SkipReason(f"factor snapshot version {published} already compared")
    opts = lake.storage_options()
    emissions_uri = lake.table_uri("emissions")
    if last is None or delta_io.table_version(emissions_uri, opts) is None:  # nothing computed against it yet
        return dg.SensorResult(skip_reason=dg.SkipReason(f"baseline: factor snapshot version {published}"),
                               cursor=str(published))
    snap_uri = lake.table_uri("factor_snapshot")
    previous = delta_io.read_slices(snap_uri, storage_options=opts, version=last)
    current = delta_io.read_slices(snap_uri, storage_options=opts, version=published)
    lines = delta_io.read_slices(emissions_uri, storage_options=opts)
    stale = staleness.stale_tenant_years(lines, previous, current, params.to_domain(None))
    snapshot_id = current["snapshot_id"][0] if current.height else "empty"
    context.log.info(f"factor snapshot v{last} -> v{published} ({snapshot_id}): {len(stale)} stale tenant-year(s)")
    runs = [tenant_year_run(t, y, f"factors|{snapshot_id}|{t}|{y}", **{"carbon/trigger": "factor_refresh",
                                                                       "carbon/snapshot_id": snapshot_id})
            for t, y in stale]
    return dg.SensorResult(run_requests=runs, cursor=str(published),
                           skip_reason=None if runs else dg.SkipReason("no tenant-year affected"))
