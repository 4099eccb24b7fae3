"""The SQL factor registry, run against SQLite (temp file) and a real PostgreSQL server."""

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa

from carbon_assets.engine import lineage, registry


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'sub' / 'registry.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    eng = registry.make_engine(url)
    registry.METADATA.drop_all(eng)  # the PostgreSQL database is shared by the session
    yield eng
    registry.METADATA.drop_all(eng)
    eng.dispose()


def _snap(snapshot: pl.DataFrame, **changes) -> tuple[pl.DataFrame, str, str]:
    df = snapshot
    for fid, value in changes.items():
        df = df.with_columns(pl.when(pl.col("factor_id") == fid).then(value).otherwise(pl.col("value_kgco2e"))
                             .alias("value_kgco2e"))
    content = lineage.frame_sha256(df)
    sid = "fs-" + content[:16]
    return df.with_columns(pl.lit(sid).alias("snapshot_id")), sid, content


def _count(engine, table) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_server_is_real(engine):
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            version = c.execute(sa.text("SHOW server_version")).scalar()
            print(f"PostgreSQL server_version={version}")
            assert version.split(".")[0].isdigit()
        else:
            assert c.execute(sa.text("select sqlite_version()")).scalar()


def test_publish_read_back_and_idempotent(engine, snapshot):
    df, sid, content = _snap(snapshot.with_columns(pl.lit(2024).alias("zz_extra")))  # an extra column
    assert registry.current_snapshot(engine) is None and registry.current_factors(engine).height == 0
    res = registry.publish_snapshot(engine, df, sid, content, delta_version=3)
    assert res.inserted and res.previous_snapshot_id is None
    cur = registry.current_snapshot(engine)
    assert (cur.snapshot_id, cur.content_sha256, cur.delta_version, cur.n_factors, cur.is_current) == \
        (sid, content, 3, df.height, True)
    back = registry.current_factors(engine)
    assert back["id"].to_list() == sorted(df["factor_id"].to_list())
    row = back.filter(pl.col("id") == "DEFRA:7_400_4000_5").row(0, named=True)
    src = df.filter(pl.col("factor_id") == "DEFRA:7_400_4000_5").row(0, named=True)
    assert row["value"] == pytest.approx(src["value_kgco2e"]) and row["unit"] == src["unit"]
    assert row["valid_from"] == src["valid_from"] and row["scope_applicable"] == src["scope_applicable"]
    assert '"zz_extra": 2024' in row["metadata"] and '"source_file"' in row["metadata"]
    # the same snapshot again: no duplicate rows, still current
    again = registry.publish_snapshot(engine, df, sid, content, delta_version=3)
    assert not again.inserted and again.previous_snapshot_id == sid
    assert _count(engine, registry.emission_factors) == df.height
    assert _count(engine, registry.factor_snapshots) == 1
    # same id, other content: refused
    with pytest.raises(registry.RegistryError, match="already published"):
        registry.publish_snapshot(engine, df, sid, "0" * 64)


def test_switch_and_switch_back(engine, snapshot):
    a, sid_a, ca = _snap(snapshot)
    b, sid_b, cb = _snap(snapshot, **{"DEFRA:7_400_4000_5": 0.3})
    registry.publish_snapshot(engine, a, sid_a, ca, now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    res = registry.publish_snapshot(engine, b, sid_b, cb, now=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    assert res.inserted and res.previous_snapshot_id == sid_a
    assert registry.current_snapshot(engine).snapshot_id == sid_b
    assert [s.is_current for s in registry.list_snapshots(engine)] == [False, True]
    grid = registry.current_factors(engine).filter(pl.col("id") == "DEFRA:7_400_4000_5")["value"][0]
    assert grid == pytest.approx(0.3)
    assert registry.snapshot_factors(engine, sid_a).filter(pl.col("id") == "DEFRA:7_400_4000_5")["value"][0] \
        == pytest.approx(0.20705)
    back = registry.publish_snapshot(engine, a, sid_a, ca)  # rolling back to an older snapshot: no re-insert
    assert not back.inserted and registry.current_snapshot(engine).snapshot_id == sid_a
    assert _count(engine, registry.emission_factors) == a.height + b.height


def test_at_most_one_current_is_enforced(engine, snapshot):
    a, sid_a, ca = _snap(snapshot)
    b, sid_b, cb = _snap(snapshot, **{"DEFRA:7_400_4000_5": 0.3})
    registry.publish_snapshot(engine, a, sid_a, ca)
    registry.publish_snapshot(engine, b, sid_b, cb)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as c:
        c.execute(registry.factor_snapshots.update().values(is_current=True))


@pytest.mark.parametrize("fail_in", ["insert", "switch"])
def test_failure_mid_switch_keeps_previous_snapshot(engine, snapshot, monkeypatch, fail_in):
    a, sid_a, ca = _snap(snapshot)
    b, sid_b, cb = _snap(snapshot, **{"DEFRA:7_400_4000_5": 0.3})
    registry.publish_snapshot(engine, a, sid_a, ca)
    before = registry.current_factors(engine)

    if fail_in == "insert":  # half of the new rows written, then a failure
        real = registry.factor_rows
        monkeypatch.setattr(registry, "_BATCH", 5)

        def rows_then_fail(*args, **kw):
            rows = real(*args, **kw)
            rows[7]["unit"] = None  # NOT NULL violation in the second batch
            return rows

        monkeypatch.setattr(registry, "factor_rows", rows_then_fail)
        expected = sa.exc.IntegrityError
    else:  # the old snapshot already un-marked and the new one marked, then a failure before commit
        real = registry._switch_current

        def switch_then_fail(conn, snapshot_id):
            real(conn, snapshot_id)
            assert conn.execute(sa.select(registry.factor_snapshots.c.snapshot_id)
                                .where(registry.factor_snapshots.c.is_current.is_(True))).scalar() == sid_b
            raise RuntimeError("injected failure after the switch")

        monkeypatch.setattr(registry, "_switch_current", switch_then_fail)
        expected = RuntimeError
    with pytest.raises(expected):
        registry.publish_snapshot(engine, b, sid_b, cb)
    assert registry.current_snapshot(engine).snapshot_id == sid_a
    assert [s.snapshot_id for s in registry.list_snapshots(engine)] == [sid_a]
    assert registry.current_factors(engine).equals(before)
    assert _count(engine, registry.emission_factors) == a.height
    monkeypatch.undo()
    assert registry.publish_snapshot(engine, b, sid_b, cb).inserted  # and it can be retried
    assert registry.current_snapshot(engine).snapshot_id == sid_b


def test_redacted_url():
    assert "secret" not in registry.redacted("postgresql+psycopg://u:secret@h:5432/db")
