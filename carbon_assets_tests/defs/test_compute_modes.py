"""compute_mode: cluster and serverless run the heavy step as a Dagster Pipes external process
(python -m carbon_assets.pipes_step). Run locally through the Pipes subprocess client, it gives the
same bytes as local; the cloud launch settings are validated."""

import dagster as dg
import polars as pl
import yaml

from carbon_assets import runner
from carbon_assets.defs.heavy_compute import HeavyCompute
from carbon_assets.engine import lineage
from carbon_assets.engine.params import CalcParams
from carbon_assets_tests.engine.shared_factors import PROJECT


def _dist(tmp, tenant="globex-uk", year="2024") -> pl.DataFrame:
    df = pl.read_delta(str(tmp / "lake" / "emission_distributions"))
    return df.filter((pl.col("tenant") == tenant) & (pl.col("year") == year)).sort("scope", "category")


def test_remote_modes_through_pipes_give_the_local_bytes(factors_ready, monkeypatch):
    tmp, d, inst = factors_ready
    assert runner.materialize_tenant_year(d, inst, "globex-uk", "2024", CalcParams(mc_samples=2000)).success
    local = _dist(tmp)
    monkeypatch.setenv("CARBON_HEAVY_CLUSTER_LAUNCHER", "subprocess")
    monkeypatch.setenv("CARBON_HEAVY_SERVERLESS_LAUNCHER", "subprocess")
    from carbon_assets.definitions import defs

    d2 = defs()
    for mode in ("cluster", "serverless"):
        res = runner.materialize_tenant_year(d2, inst, "globex-uk", "2024", CalcParams(mc_samples=2000,
                                                                                       compute_mode=mode))
        assert res.success
        remote = _dist(tmp)
        assert lineage.frame_sha256(remote) == lineage.frame_sha256(local) and remote.equals(local)
        mat = res.asset_materializations_for_node("emission_distributions")[0]
        assert mat.metadata["compute_mode"].value == mode
        logs = [e.message for e in inst.all_logs(res.run_id) if "via subprocess" in (e.message or "")]
        assert logs and "'rows': " in logs[0]  # the step's Pipes message reached the orchestrator


def test_cloud_launcher_without_settings_fails_naming_them(factors_ready):
    _, d, inst = factors_ready
    res = runner.materialize_tenant_year(d, inst, "globex-uk", "2024", CalcParams(mc_samples=200,
                                                                                   compute_mode="cluster"),
                                         raise_on_error=False)
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    msg = failure.step_failure_data.user_failure_data.description
    assert "compute_mode=cluster with launcher ecs needs ecs_cluster, ecs_task_definition, ecs_subnets, staging_uri" \
        in msg


def test_cloud_launch_parameters(monkeypatch):
    monkeypatch.setenv("CARBON_HEAVY_ECS_CLUSTER", "carbon")
    monkeypatch.setenv("CARBON_HEAVY_ECS_TASK_DEFINITION", "carbon-assets:7")
    monkeypatch.setenv("CARBON_HEAVY_ECS_SUBNETS", "subnet-a,subnet-b")
    monkeypatch.setenv("CARBON_HEAVY_STAGING_URI", "s3://carbon-staging/heavy")
    monkeypatch.setenv("CARBON_HEAVY_SERVERLESS_LAUNCHER", "emr_serverless")
    h = HeavyCompute.from_env()
    assert h.missing_settings("cluster") == []
    assert h.missing_settings("serverless") == ["emr_application_id", "emr_execution_role_arn"]
    task = h.ecs_run_task_params()
    assert task["cluster"] == "carbon" and task["taskDefinition"] == "carbon-assets:7"
    assert task["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-a", "subnet-b"]
    assert task["overrides"]["containerOverrides"][0]["command"] == ["python", "-m", "carbon_assets.pipes_step"]
    emr = HeavyCompute(emr_application_id="app", emr_execution_role_arn="arn:role").emr_start_job_run_params({"a": 1})
    assert emr["applicationId"] == "app" and emr["jobDriver"]["sparkSubmit"]["entryPointArguments"] == ['{"a": 1}']


def test_ecs_run_launcher_config_is_valid():
    from dagster._config import convert_potential_field, post_process_config, process_config
    from dagster_aws.ecs import EcsRunLauncher

    cfg = yaml.safe_load((PROJECT / "deploy" / "ecs.run_launcher.yaml").read_text())["run_launcher"]
    assert (cfg["module"], cfg["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    schema = convert_potential_field(EcsRunLauncher.config_type()).config_type
    result = process_config(schema, cfg["config"])  # the launcher's own schema
    assert result.success, result.errors
    resolved = post_process_config(schema, result.value)
    assert resolved.success and resolved.value["container_name"] == "carbon-assets"
    # the launcher's own {env: ...} form of task_definition, which it reads from the environment at startup
    assert resolved.value["task_definition"] == {"env": "CARBON_ECS_TASK_DEFINITION"}
    bad = process_config(schema, {**cfg["config"], "include_sidecars": "maybe"})
    assert not bad.success
