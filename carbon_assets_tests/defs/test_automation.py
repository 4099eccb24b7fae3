import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from carbon_assets.definitions import defs
from carbon_assets.defs.resources import ProjectFiles

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inbox_root(tmp_path, data_dir):
    root = tmp_path / "data"
    shutil.copytree(data_dir / "inbox" / "acme-fr" / "2024", root / "inbox" / "acme-fr" / "2024")
    return root


def _tick(d, inst, root, cursor=None):
    ctx = dg.build_sensor_context(
        instance=inst, instance_ref=inst.get_ref(), definitions=d, cursor=cursor,
        resources={"files": ProjectFiles(data_dir=str(root), exports_dir=str(root / "exports"))})
    return d.get_sensor_def("inbox_sensor").evaluate_tick(ctx)


def test_sensor_adds_tenant_and_requests_its_run_in_one_tick(inbox_root):
    d = defs()
    with dg.instance_for_test() as inst:
        result = _tick(d, inst, inbox_root)
        adds = result.dynamic_partitions_requests
        assert len(adds) == 1 and adds[0].partitions_def_name == "tenants" and list(adds[0].partition_keys) == ["acme-fr"]
        assert len(result.run_requests) == 1
        req = result.run_requests[0]
        assert req.partition_key == "acme-fr|2024" and req.tags["carbon/tenant"] == "acme-fr"
        assert req.run_key.startswith("inbox|acme-fr|2024|")
        # same files again: nothing new; the same file under another name: still nothing
        again = _tick(d, inst, inbox_root, cursor=result.cursor)
        assert again.run_requests == [] and again.skip_message
        src = inbox_root / "inbox" / "acme-fr" / "2024" / "deplacements_2024.csv"
        shutil.copy(src, src.with_name("copy_of_deplacements.csv"))
        assert _tick(d, inst, inbox_root, cursor=result.cursor).run_requests == []
        # a new file for a new year of the known tenant: one run, no partition add
        (inbox_root / "inbox" / "acme-fr" / "2025").mkdir()
        (inbox_root / "inbox" / "acme-fr" / "2025" / "x.csv").write_text("date,activity_key,quantity,unit\n")
        inst.add_dynamic_partitions("tenants", ["acme-fr"])
        third = _tick(d, inst, inbox_root, cursor=result.cursor)
        assert [r.partition_key for r in third.run_requests] == ["acme-fr|2025"]
        assert third.dynamic_partitions_requests == []
        # the run_key is a function of content: recomputed from scratch it is the same
        assert _tick(d, inst, inbox_root).run_requests[0].run_key == req.run_key


def test_sensor_refuses_bad_tenant_folders_and_leaves_them(inbox_root, caplog):
    bad = inbox_root / "inbox" / "Acme Corp" / "2024"
    bad.mkdir(parents=True)
    (bad / "a.csv").write_text("x\n")
    with dg.instance_for_test() as inst:
        result = _tick(defs(), inst, inbox_root)
    assert [r.partition_key for r in result.run_requests] == ["acme-fr|2024"]
    assert (bad / "a.csv").exists()


def test_yearly_closeout_requests_last_year_for_every_tenant():
    d = defs()
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("tenants", ["acme-fr", "globex-uk"])
        ctx = dg.build_schedule_context(instance=inst, instance_ref=inst.get_ref(), repository_def=d.get_repository_def(),
                                        scheduled_execution_time=dt.datetime(2026, 1, 1, 3, 0))
        result = d.get_schedule_def("yearly_closeout").evaluate_tick(ctx)
        assert sorted(r.partition_key for r in result.run_requests) == ["acme-fr|2025", "globex-uk|2025"]
        assert all(r.run_key.startswith("closeout|") for r in result.run_requests)


def test_definitions_load_and_validate():
    d = defs()
    dg.Definitions.validate_loadable(d)
    keys = {k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"emission_factors", "factor_snapshot", "factor_registry", "raw_activities", "activities", "activity_rejects",
                    "emissions", "emission_distributions", "emission_samples", "sensitivity", "inventory_report",
                    "report_views", "esrs_e1_6", "trajectory", "calculations", "exports"}
    out = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stderr + out.stdout


def test_dagster_yaml_is_a_valid_instance_config(tmp_path):
    shutil.copy(PROJECT / "dagster.yaml", tmp_path / "dagster.yaml")
    inst = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        queue = inst.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 4
        assert {"key": "dagster/partition/tenant", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in \
            queue.tag_concurrency_limits
        assert type(inst.run_storage).__name__ == "SqliteRunStorage"
        assert type(inst.run_coordinator).__name__ == "QueuedRunCoordinator"
    finally:
        inst.dispose()


def test_cli_rejects_an_invalid_parameter():
    out = subprocess.run([sys.executable, "-m", "carbon_assets.cli", "demo", "--primary-fe-namespace", "GHGP"],
                         cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert "primary_fe_namespace='GHGP' is invalid; allowed values: ADEME, DEFRA, EPA" in out.stderr


def test_a_bad_tenant_partition_added_by_hand_fails_with_the_slug_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CARBON_LAKE_URI", str(tmp_path / "lake"))
    d = defs()
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("tenants", ["Acme Corp"])  # the instance itself accepts it
        result = d.resolve_job_def("tenant_year_job").execute_in_process(
            instance=inst, raise_on_error=False,
            partition_key=dg.MultiPartitionKey({"tenant": "Acme Corp", "year": "2024"}))
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        cause = failure.step_failure_data.error.cause
        assert cause.cls_name == "ParameterError" and "not a valid tenant slug" in cause.message
