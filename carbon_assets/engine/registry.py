"""The factor registry in SQL: published factor snapshots, exactly one of them current.

Two tables (portable SQLAlchemy Core types, SQLite and PostgreSQL):

* ``factor_snapshots`` — one row per published snapshot: snapshot_id, content_sha256, delta_version,
  n_factors, created_at, is_current (a partial unique index allows at most one current row);
* ``emission_factors`` — the factors of every published snapshot, keyed by (snapshot_id, id), with
  the columns of CLIENT_DESIGN_NOTE §3.1 (id = factor_id; scope_applicable stored as text;
  every other snapshot column goes into the ``metadata`` JSON, so extra columns are kept).

Publishing is idempotent (a snapshot already published is not re-inserted) and switching the
current snapshot happens in the same single transaction as the insert: if anything fails, the
previous snapshot stays current and its rows are untouched.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

METADATA = sa.MetaData()

factor_snapshots = sa.Table(
    "factor_snapshots", METADATA,
    sa.Column("snapshot_id", sa.String(64), primary_key=True),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("delta_version", sa.BigInteger, nullable=True),
    sa.Column("n_factors", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("is_current", sa.Boolean, nullable=False, default=False),
)
_current = factor_snapshots.c.is_current
sa.Index("uq_factor_snapshots_one_current", _current, unique=True,
         sqlite_where=_current.is_(True), postgresql_where=_current.is_(True))

emission_factors = sa.Table(
    "emission_factors", METADATA,
    sa.Column("snapshot_id", sa.String(64), sa.ForeignKey("factor_snapshots.snapshot_id"), primary_key=True),
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("value", sa.Double, nullable=False),  # kgCO2e per unit
    sa.Column("unit", sa.String(128), nullable=False),
    sa.Column("scope_applicable", sa.Text, nullable=True),
    sa.Column("source_url", sa.Text, nullable=True),
    sa.Column("valid_from", sa.Date, nullable=True),  # NULL = open
    sa.Column("valid_to", sa.Date, nullable=True),
    sa.Column("uncertainty_pct", sa.Double, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# snapshot column -> registry column; everything else (except snapshot_id) goes to metadata
_COLUMNS = {"factor_id": "id", "namespace": "namespace", "name": "name", "value_kgco2e": "value", "unit": "unit",
            "scope_applicable": "scope_applicable", "source_url": "source_url", "valid_from": "valid_from",
            "valid_to": "valid_to", "uncertainty_pct": "uncertainty_pct"}
_BATCH = 1000


class RegistryError(RuntimeError):
    """A registry state that publishing must not paper over (e.g. a snapshot id reused for other content)."""


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    content_sha256: str
    delta_version: int | None
    n_factors: int
    created_at: dt.datetime
    is_current: bool


@dataclass(frozen=True)
class PublishResult:
    snapshot: SnapshotInfo
    inserted: bool  # False when the snapshot was already published (rows left as they were)
    previous_snapshot_id: str | None


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; a SQLite file's folder is created if needed."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


def redacted(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def create_schema(engine: sa.Engine) -> None:
    METADATA.create_all(engine, checkfirst=True)


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    return v


def factor_rows(snapshot: pl.DataFrame, snapshot_id: str, created_at: dt.datetime) -> list[dict]:
    """Registry rows for a snapshot frame (extra columns land in ``metadata``)."""
    missing = [c for c in ("factor_id", "namespace", "unit", "value_kgco2e") if c not in snapshot.columns]
    if missing:
        raise ValueError(f"snapshot frame lacks column(s) {missing}")
    rows = []
    for r in snapshot.iter_rows(named=True):
        row = {dst: r.get(src) for src, dst in _COLUMNS.items()}
        row["scope_applicable"] = None if row["scope_applicable"] is None else str(row["scope_applicable"])
        for k in ("value", "uncertainty_pct"):
            if isinstance(row[k], float) and math.isnan(row[k]):
                row[k] = None
        row["metadata"] = {k: _json_safe(v) for k, v in r.items() if k not in _COLUMNS and k != "snapshot_id"}
        row.update(snapshot_id=snapshot_id, created_at=created_at)
        rows.append(row)
    return rows


def _info(row) -> SnapshotInfo:
    m = row._mapping
    return SnapshotInfo(snapshot_id=m["snapshot_id"], content_sha256=m["content_sha256"],
                        delta_version=m["delta_version"], n_factors=m["n_factors"], created_at=m["created_at"],
                        is_current=bool(m["is_current"]))


def _insert_snapshot(conn: sa.Connection, snapshot: pl.DataFrame, snapshot_id: str, content_sha256: str,
                     delta_version: int | None, created_at: dt.datetime) -> None:
    conn.execute(factor_snapshots.insert().values(
        snapshot_id=snapshot_id, content_sha256=content_sha256, delta_version=delta_version,
        n_factors=snapshot.height, created_at=created_at, is_current=False))
    rows = factor_rows(snapshot, snapshot_id, created_at)
    for i in range(0, len(rows), _BATCH):
        conn.execute(emission_factors.insert(), rows[i:i + _BATCH])


def _switch_current(conn: sa.Connection, snapshot_id: str) -> None:
    conn.execute(factor_snapshots.update().where(_current.is_(True)).values(is_current=False))
    conn.execute(factor_snapshots.update().where(factor_snapshots.c.snapshot_id == snapshot_id)
                 .values(is_current=True))


def publish_snapshot(engine: sa.Engine, snapshot: pl.DataFrame, snapshot_id: str, content_sha256: str,
                     delta_version: int | None = None, *, now: dt.datetime | None = None) -> PublishResult:
    """Insert the snapshot (unless already published) and make it current, in ONE transaction."""
    create_schema(engine)
    created_at = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:  # commit on success, rollback on any exception
        if conn.dialect.name == "postgresql":  # serialise concurrent publishers on the registry
            conn.execute(sa.text("LOCK TABLE factor_snapshots IN SHARE ROW EXCLUSIVE MODE"))
        prev = conn.execute(sa.select(factor_snapshots.c.snapshot_id).where(_current.is_(True))).scalar()
        existing = conn.execute(sa.select(factor_snapshots)
                                .where(factor_snapshots.c.snapshot_id == snapshot_id)).first()
        if existing is not None:
            if existing._mapping["content_sha256"] != content_sha256:
                raise RegistryError(f"snapshot {snapshot_id} is already published with content "
                                    f"{existing._mapping['content_sha256']}, not {content_sha256}")
            inserted = False
        else:
            _insert_snapshot(conn, snapshot, snapshot_id, content_sha256, delta_version, created_at)
            inserted = True
        if prev != snapshot_id:
            _switch_current(conn, snapshot_id)
        info = _info(conn.execute(sa.select(factor_snapshots)
                                  .where(factor_snapshots.c.snapshot_id == snapshot_id)).one())
    return PublishResult(snapshot=info, inserted=inserted, previous_snapshot_id=prev)


def current_snapshot(engine: sa.Engine) -> SnapshotInfo | None:
    create_schema(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(factor_snapshots).where(_current.is_(True))).first()
    return None if row is None else _info(row)


def list_snapshots(engine: sa.Engine) -> list[SnapshotInfo]:
    create_schema(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(factor_snapshots).order_by(factor_snapshots.c.created_at,
                                                                 factor_snapshots.c.snapshot_id)).all()
    return [_info(r) for r in rows]


_SCHEMA = {"snapshot_id": pl.String, "id": pl.String, "namespace": pl.String, "name": pl.String,
           "value": pl.Float64, "unit": pl.String, "scope_applicable": pl.String, "source_url": pl.String,
           "valid_from": pl.Date, "valid_to": pl.Date, "uncertainty_pct": pl.Float64, "metadata": pl.Object}


def snapshot_factors(engine: sa.Engine, snapshot_id: str) -> pl.DataFrame:
    """The registry rows of one snapshot, sorted by id (``metadata`` as a JSON text column)."""
    import json

    create_schema(engine)
    cols = [c for c in emission_factors.c if c.name != "created_at"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).where(emission_factors.c.snapshot_id == snapshot_id)
                            .order_by(emission_factors.c.id)).all()
    schema = {**_SCHEMA, "metadata": pl.String}
    data = [{**r._mapping, "metadata": None if r._mapping["metadata"] is None
             else json.dumps(r._mapping["metadata"], sort_keys=True)} for r in rows]
    return pl.DataFrame(data, schema=schema) if data else pl.DataFrame(schema=schema)


def current_factors(engine: sa.Engine) -> pl.DataFrame:
    """The current snapshot's factors (empty frame when nothing is published yet)."""
    cur = current_snapshot(engine)
    return snapshot_factors(engine, cur.snapshot_id) if cur else snapshot_factors(engine, "")
