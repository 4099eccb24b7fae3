"""Run metrics as run tags (run_metrics_sensor) and JSON log lines on the console."""

import json

import dagster as dg
import polars as pl

from carbon_assets import runner
from carbon_assets.defs.jobs import TENANT_YEAR_ASSETS
from carbon_assets.engine.params import CalcParams

PARAMS = CalcParams(mc_samples=500)


def test_run_metrics_sensor_tags_the_run(factors_ready):
    tmp, d, inst = factors_ready
    res = runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS)
    assert res.success
    success = next(e for e in res.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    run = inst.get_run_by_id(res.run_id)
    ctx = dg.build_run_status_sensor_context(sensor_name="run_metrics_sensor", dagster_event=success,
                                             dagster_instance=inst, dagster_run=run)
    d.get_sensor_def("run_metrics_sensor")(ctx)
    tags = inst.get_run_by_id(res.run_id).tags
    # rows of every table the run wrote, read back from the lake; 1 unit_mismatch line in globex-uk 2024
    lake = tmp / "lake"
    written = sum(pl.read_delta(str(lake / t)).filter((pl.col("tenant") == "globex-uk") & (pl.col("year") == "2024"))
                  .height for t in TENANT_YEAR_ASSETS if t != "exports")  # exports are files, not rows
    assert int(tags["rows_processed_total"]) == written
    assert tags["calculation_errors_total"] == "1"
    assert float(tags["job_duration_seconds"]) > 0 and float(tags["mc_samples_per_second"]) > 0


def test_jobs_log_json_lines(factors_ready, capfd):
    _, d, inst = factors_ready
    capfd.readouterr()
    assert runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS).success
    lines = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every console line is one JSON object
    assert len(records) > 20 and all({"levelname", "msg", "dagster_meta"} <= set(r) for r in records)
    steps = {r["dagster_meta"].get("step_key") for r in records} - {None}
    assert {"emissions", "inventory_report"} <= steps
