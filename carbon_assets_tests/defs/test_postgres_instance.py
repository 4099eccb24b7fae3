"""The Dagster instance on a real PostgreSQL server (deploy/postgres.storage.yaml appended to
dagster.yaml): a tenant-year materializes with runs, event log and schedule state in PostgreSQL."""

import uuid
from urllib.parse import urlparse

import dagster as dg
import psycopg
import pytest

from carbon_assets import runner
from carbon_assets.engine.params import CalcParams
from carbon_assets_tests.engine.shared_factors import PROJECT


@pytest.fixture
def pg_instance(postgres_url, tmp_path, monkeypatch):
    url = urlparse(postgres_url.replace("postgresql+psycopg", "postgresql"))
    db = "dagster_" + uuid.uuid4().hex[:8]
    with psycopg.connect(host=url.hostname, port=url.port, user=url.username, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    for key, value in {"DAGSTER_PG_HOST": url.hostname, "DAGSTER_PG_PORT": str(url.port), "DAGSTER_PG_DB": db,
                       "DAGSTER_PG_USERNAME": url.username, "DAGSTER_PG_PASSWORD": "unused-trust-auth"}.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT / "dagster.yaml").read_text()
                                       + (PROJECT / "deploy" / "postgres.storage.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst, url, db


def _count(url, db: str, sql: str) -> int:
    with psycopg.connect(host=url.hostname, port=url.port, user=url.username, dbname=db) as conn:
        return conn.execute(sql).fetchone()[0]


def test_tenant_year_on_a_postgres_instance(lake_env, pg_instance):
    _, d = lake_env
    inst, url, db = pg_instance
    assert type(inst.run_storage).__name__ == "PostgresRunStorage"
    assert type(inst.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(inst.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert inst.run_coordinator is not None  # the run-queue limits of dagster.yaml came along
    runner.materialize_factors(d, inst)
    result = runner.materialize_tenant_year(d, inst, "acme-fr", "2024", CalcParams())
    assert result.success
    # the run and its materializations are rows in PostgreSQL, read back through SQL
    assert _count(url, db, f"select count(*) from runs where run_id = '{result.run_id}'") == 1
    assert _count(url, db, "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION' "
                           f"and run_id = '{result.run_id}'") >= 7
    mat = inst.fetch_materializations(dg.AssetKey("inventory_report"), limit=1).records[0]
    assert mat.run_id == result.run_id
    # schedule state: switch the yearly close-out on, as the UI does, and find it in PostgreSQL
    remote = _remote_schedule(inst, d, "yearly_closeout")
    inst.start_schedule(remote)
    assert _count(url, db, "select count(*) from jobs where job_type = 'SCHEDULE' and status = 'RUNNING' "
                           "and job_body like '%yearly_closeout%'") == 1


def _remote_schedule(inst, d, name):
    from dagster._core.remote_representation.external import RemoteSchedule
    from dagster._core.remote_representation.external_data import ScheduleSnap
    from dagster._core.remote_representation.handle import RepositoryHandle

    repo_def = d.get_repository_def()
    handle = RepositoryHandle.for_test(location_name="carbon_assets", repository_name=repo_def.name)
    return RemoteSchedule(ScheduleSnap.from_def(repo_def.get_schedule_def(name), repo_def), handle)
