"""Observability: run metrics as run tags (the JSON console logger is in json_logs.py).

``run_metrics_sensor`` watches finished runs of this code location and tags each with
job_duration_seconds, rows_processed_total (rows of every table it materialized),
calculation_errors_total (activity lines it could not calculate) and mc_samples_per_second (when
it ran the Monte Carlo), read from the run's own materialization metadata, so that run lists,
alerts and scrapers see them without opening the assets.
"""


import dagster as dg

METRIC_SOURCES = {"rows_processed_total": "row_count", "calculation_errors_total": "calculation_errors"}


def run_metrics(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """The metric tags of one finished run, from its record and its materialization events."""
    record = instance.get_run_record_by_id(run_id)
    tags: dict[str, str] = {}
    if record is not None and record.start_time and record.end_time:
        tags["job_duration_seconds"] = f"{record.end_time - record.start_time:.3f}"
    totals = dict.fromkeys(METRIC_SOURCES, 0)
    rates = []
    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        meta = event.asset_materialization.metadata
        for tag, key in METRIC_SOURCES.items():
            if key in meta:
                totals[tag] += int(meta[key].value)
        if "mc_samples_per_second" in meta:
            rates.append(float(meta["mc_samples_per_second"].value))
    tags.update({k: str(v) for k, v in totals.items()})
    if rates:
        tags["mc_samples_per_second"] = f"{min(rates):.1f}"
    return tags


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="run_metrics_sensor",
                      default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30)
def run_metrics_sensor(context: dg.RunStatusSensorContext):
    """Tag each successful run with its metrics (see module docstring)."""
    tags = run_metrics(context.instance, context.dagster_run.run_id)
    context.instance.add_run_tags(context.dagster_run.run_id, tags)
    context.log.info(f"run {context.dagster_run.run_id}: {tags}")
