"""The Delta lake on S3 (a real S3 API: moto's server on 127.0.0.1): factors and a tenant-year
materialize into s3:// tables, which read back through delta-rs with the same rows as a local lake."""

import dagster as dg
import polars as pl

from carbon_assets import runner, settings
from carbon_assets.engine import delta_io
from carbon_assets.engine.params import CalcParams

PARAMS = CalcParams(mc_samples=500)
TABLES = ("raw_activities", "activities", "activity_rejects", "emissions", "emission_distributions", "sensitivity",
          "inventory_report")


def test_tenant_year_into_an_s3_lake(s3_endpoint, s3_bucket, lake_env, instance, monkeypatch):
    tmp, d_local = lake_env
    client, bucket = s3_bucket
    runner.materialize_factors(d_local, instance)
    assert runner.materialize_tenant_year(d_local, instance, "globex-uk", "2024", PARAMS).success

    monkeypatch.setenv("CARBON_LAKE_URI", f"s3://{bucket}/lake")
    monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", s3_endpoint)
    from carbon_assets.definitions import defs

    d = defs()
    with dg.instance_for_test() as inst:
        runner.materialize_factors(d, inst)
        assert runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS).success
    keys = {o["Key"].split("/")[1] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]}
    assert set(TABLES) | {"factor_snapshot", "emission_factors"} <= keys
    opts = settings.lake_storage_options(f"s3://{bucket}/lake")
    assert opts["AWS_ENDPOINT_URL"] == s3_endpoint and opts["AWS_ALLOW_HTTP"] == "true"
    for table in TABLES:
        remote = delta_io.read_slices(f"s3://{bucket}/lake/{table}", storage_options=opts)
        local = delta_io.read_slices(str(tmp / "lake" / table))
        sort = [c for c in ("scope", "category", "source_file", "source_row", "input") if c in local.columns]
        assert remote.sort(sort).equals(local.sort(sort)), table
    assert delta_io.table_version(f"s3://{bucket}/lake/emissions", opts) == 0
    report = pl.read_delta(f"s3://{bucket}/lake/inventory_report", storage_options=opts)
    assert report.filter(pl.col("scope") == "total")["deterministic_kgco2e"][0] > 0


def test_s3_outage_fails_clearly_and_leaves_the_tables(s3_endpoint, s3_bucket, lake_env, monkeypatch):
    _, bucket = s3_bucket
    monkeypatch.setenv("CARBON_LAKE_URI", f"s3://{bucket}/lake")
    monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", s3_endpoint)
    from carbon_assets.definitions import defs

    with dg.instance_for_test() as inst:
        runner.materialize_factors(defs(), inst)
        assert runner.materialize_tenant_year(defs(), inst, "acme-fr", "2024", PARAMS).success
        opts = settings.lake_storage_options()
        before = {t: delta_io.read_slices(f"s3://{bucket}/lake/{t}", storage_options=opts) for t in TABLES}
        # the S3 endpoint goes away (a closed port) for the next run
        dead = f"http://127.0.0.1:{_closed_port()}"
        monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", dead)
        res = runner.materialize_tenant_year(defs(), inst, "acme-fr", "2024", PARAMS, raise_on_error=False)
        assert not res.success
        failure = next(e for e in res.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        text = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
        text += str(failure.step_failure_data.user_failure_data.description
                    if failure.step_failure_data.user_failure_data else "")
        assert failure.step_key == "raw_activities" and f"cannot write Delta table s3://{bucket}/lake/raw_activities" \
            in text and "Connection refused" in text and "left at its previous version" in text
    for t in TABLES:  # every table still at its previous version with its previous rows
        assert delta_io.table_version(f"s3://{bucket}/lake/{t}", opts) == 0
        assert delta_io.read_slices(f"s3://{bucket}/lake/{t}", storage_options=opts).equals(before[t])


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_s3_mode_end_to_end_sensor_to_report(s3_endpoint, s3_bucket, lake_env, instance, data_dir, monkeypatch):
    """Inbox and lake both on S3: the S3 sensor sees a new tenant's files, the partition it adds runs,
    and the report read back from S3 equals the one computed from the local inbox and lake."""
    tmp, d_local = lake_env
    runner.materialize_factors(d_local, instance)
    assert runner.materialize_tenant_year(d_local, instance, "globex-uk", "2024", PARAMS).success
    local_report = delta_io.read_slices(str(tmp / "lake" / "inventory_report")).sort("scope", "category")

    client, bucket = s3_bucket
    for f in sorted((data_dir / "inbox" / "globex-uk" / "2024").iterdir()):
        client.put_object(Bucket=bucket, Key=f"inbox/globex-uk/2024/{f.name}", Body=f.read_bytes())
    monkeypatch.setenv("CARBON_INBOX_URI", f"s3://{bucket}/inbox")
    monkeypatch.setenv("CARBON_LAKE_URI", f"s3://{bucket}/lake")
    monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", s3_endpoint)
    from carbon_assets.definitions import defs

    d = defs()
    with dg.instance_for_test() as inst:
        ctx = dg.build_sensor_context(instance=inst, instance_ref=inst.get_ref(), definitions=d,
                                      resources={k: d.resources[k] for k in ("s3_inbox", "files")})
        tick = d.get_sensor_def("s3_inbox_sensor").evaluate_tick(ctx)
        assert [r.partition_key.keys_by_dimension for r in tick.run_requests] == [{"tenant": "globex-uk",
                                                                                  "year": "2024"}]
        assert [p.partition_keys for p in tick.dynamic_partitions_requests] == [["globex-uk"]]
        runner.materialize_factors(d, inst)
        assert runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS).success
    opts = settings.lake_storage_options()
    remote_report = delta_io.read_slices(f"s3://{bucket}/lake/inventory_report", storage_options=opts)
    assert remote_report.sort("scope", "category").equals(local_report)  # same bytes, same lineage signature
    total = remote_report.filter(pl.col("scope") == "total")["deterministic_kgco2e"][0]
    assert round(total / 1000, 2) == 163.58  # the demo figure of globex-uk 2024
    raw = delta_io.read_slices(f"s3://{bucket}/lake/raw_activities", storage_options=opts)
    assert raw["source_file"].unique().sort().to_list() == sorted(f.name for f in (data_dir / "inbox" / "globex-uk" /
                                                                                   "2024").iterdir())
