"""Yearly close-out: last year's partition for every tenant."""


import dagster as dg

from carbon_assets.defs.inbox_sensor import tenant_year_run
from carbon_assets.defs.jobs import tenant_year_job
from carbon_assets.defs.partitions import TENANTS


@dg.schedule(job=tenant_year_job, cron_schedule="0 3 1 1 *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def yearly_closeout(context: dg.ScheduleEvaluationContext):
    """On 1 January, recompute the year just closed for every tenant."""
    year = str(context.scheduled_execution_time.year - 1)
    tenants = sorted(context.instance.get_dynamic_partitions(TENANTS))
    if not tenants:
        return dg.SkipReason("no tenants yet")
    return [tenant_year_run(t, year, f"closeout|{t}|{year}", **{"carbon/trigger": "yearly_closeout"})
            for t in tenants]
