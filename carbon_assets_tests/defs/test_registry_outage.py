"""A PostgreSQL outage when the factor registry publishes: a clear error naming the (redacted)
server, the run fails, nothing is half-published, and the lake's snapshot is untouched."""

import socket

import dagster as dg
import polars as pl

from carbon_assets import runner


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry_down_fails_clearly(tmp_path, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("CARBON_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("CARBON_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("CARBON_DB_URL", f"postgresql+psycopg://carbon:s3cret@127.0.0.1:{port}/registry")
    from carbon_assets.definitions import defs

    d = defs()
    with dg.instance_for_test() as inst:
        results = runner.materialize_factors(d, inst, raise_on_error=False)
    *upstream, registry_run = results
    assert all(r.success for r in upstream) and not registry_run.success
    failure = next(e for e in registry_run.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    msg = failure.step_failure_data.user_failure_data.description
    assert msg.startswith(f"factor registry postgresql+psycopg://carbon:***@127.0.0.1:{port}/registry unreachable:")
    assert "nothing was published" in msg and "s3cret" not in msg
    snap = pl.read_delta(str(tmp_path / "lake" / "factor_snapshot"))
    assert snap.height == 56 and snap["snapshot_id"].n_unique() == 1
