"""Replay a past calculation from its record and prove the outputs byte-identical.

Given a signature, the `calculations` table (engine/calculations.py) names the tenant-year, the raw
activities and factor snapshot as they were (Delta versions, read by time travel), the config files'
texts and the parameters. Replay checks every recorded hash against what the lake holds, re-derives
the signature from the recorded ingredients, recomputes every recorded output with the functions the
assets use (engine/calculation.py) and compares content hashes (lineage.frame_sha256).

Errors: ValidationError (unknown signature, missing table or version, a hash that does not match:
the message names the table or file) and CorruptRecord (the record itself cannot be read). Anything
else (an unreachable lake...) propagates as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from carbon_assets.engine import calculation, calculations, delta_io, lineage, money
from carbon_assets.engine.calculations import CorruptRecord, Record
from carbon_assets.engine.params import CalcParams

SIGNATURE_RE = re.compile(r"sha256-[0-9a-f]{64}")
CALCULATIONS_TABLE = "calculations"
# the outputs replay knows how to recompute, in dependency order
REPLAYABLE = ("activities", "activity_rejects", "emissions", "emission_distributions", "sensitivity",
              "inventory_report", "emission_samples", "report_views", "esrs_e1_6")

__all__ = ["CorruptRecord", "ReplayResult", "ValidationError", "replay"]


class ValidationError(ValueError):
    """The replay cannot start or its inputs are not what was recorded; the message names what."""


@dataclass
class ReplayResult:
    signature: str
    tenant: str
    year: str
    identical: bool
    tables: dict[str, dict] = field(default_factory=dict)  # table -> {recorded, recomputed}
    differing: list[str] = field(default_factory=list)
    not_replayed: list[str] = field(default_factory=list)  # recorded outputs this code cannot recompute
    code_version_recorded: str = ""
    code_version_now: str | None = None
    frames: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)  # the recomputed outputs


def _noop(_event: dict) -> None:
    return None


def replay(lake_uri: str, signature: str, storage_options: dict | None = None,
           progress: Callable[[dict], None] | None = None, *, code_version: str | None = None,
           tenant: str | None = None, year: str | None = None) -> ReplayResult:
    """Recompute the calculation ``signature`` recorded in the lake at ``lake_uri``.

    ``code_version`` is the running code's version (settings.full_code_version()); a difference with
    the recorded one is reported as a warning event, and is the first suspect when outputs differ.
    ``tenant`` / ``year`` pick one record when a signature was recorded for several tenant-years."""
    emit = progress or _noop
    if not isinstance(signature, str) or not SIGNATURE_RE.fullmatch(signature):
        raise ValidationError(f"signature {signature!r} is not of the form sha256-<64 lowercase hex digits>")
    lake = lake_uri.rstrip("/")
    emit({"event": "start", "signature": signature, "lake": lake})
    rec = find_record(lake, signature, storage_options, tenant, year)
    emit({"event": "record", "tenant": rec.tenant, "year": rec.year, "code_version": rec.code_version,
          "outputs": sorted(rec.outputs)})
    if code_version is not None and code_version != rec.code_version:
        emit({"event": "warning", "message": f"recorded with {rec.code_version}, replaying with {code_version}"})

    where = {"tenant": [rec.tenant], "year": [rec.year]}
    raw = read_version(lake, "raw_activities", rec.raw_activities.delta_version, where, storage_options)
    _check_hash("raw_activities", raw, rec.raw_activities)
    files = lineage.input_files(raw)
    if files != rec.inputs:
        changed = sorted(set(files.items()) ^ set(rec.inputs.items()))
        raise ValidationError(f"raw_activities at Delta version {rec.raw_activities.delta_version}: input files "
                              f"differ from the record: {changed}")
    emit({"event": "input", "table": "raw_activities", "delta_version": rec.raw_activities.delta_version,
          "rows": raw.height, "content_sha256": rec.raw_activities.content_sha256, "files": len(files)})
    snapshot = read_version(lake, "factor_snapshot", rec.factor_snapshot.delta_version, None, storage_options)
    _check_hash("factor_snapshot", snapshot, rec.factor_snapshot)
    if calculation.snapshot_id(snapshot) != rec.factor_snapshot_id:
        raise ValidationError(f"factor_snapshot at Delta version {rec.factor_snapshot.delta_version} is "
                              f"{calculation.snapshot_id(snapshot)}, the record says {rec.factor_snapshot_id}")
    emit({"event": "input", "table": "factor_snapshot", "delta_version": rec.factor_snapshot.delta_version,
          "snapshot_id": rec.factor_snapshot_id, "rows": snapshot.height})

    config_data = _config_bytes(rec)
    config_sha = {role: lineage.bytes_sha256(data) for role, (_, data) in config_data.items()}
    derived = calculation.signature_from(rec.inputs, rec.factor_snapshot.content_sha256, rec.year, config_sha,
                                         rec.code_version, rec.parameters)
    if derived != signature:
        raise ValidationError(f"the record's ingredients give signature {derived}, not {signature}: the record "
                              "was altered or written by another signature scheme")
    emit({"event": "signature", "derived": derived, "matches": True})

    params = _params(rec)
    with tempfile.TemporaryDirectory(prefix="carbon-replay-") as tmp:
        config = calculation.ConfigFiles(Path(tmp), rec.tenant)
        for role, (path, data) in config_data.items():
            config.write(role, path, data)
        with _money_tables(Path(tmp)):
            produced = _recompute(raw, snapshot, rec, params, config, emit)
    return _compare(rec, produced, code_version, emit)


def find_record(lake: str, signature: str, storage_options: dict | None, tenant: str | None = None,
                year: str | None = None) -> Record:
    uri = f"{lake}/{CALCULATIONS_TABLE}"
    try:
        DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError as exc:
        raise ValidationError(f"no calculations table at {uri}: no calculation was recorded in this lake") from exc
    rows = pl.scan_delta(uri, storage_options=storage_options).filter(pl.col("signature") == signature).collect()
    if tenant is not None:
        rows = rows.filter(pl.col("tenant") == tenant)
    if year is not None:
        rows = rows.filter(pl.col("year") == str(year))
    if rows.height == 0:
        raise ValidationError(f"unknown signature {signature}: not in {uri}")
    if rows.height > 1:
        where = sorted(f"{t}|{y}" for t, y in rows.select("tenant", "year").rows())
        raise ValidationError(f"signature {signature} was recorded for several tenant-years ({', '.join(where)}): "
                              "give the tenant and year")
    return calculations.parse(rows.row(0, named=True))


def read_version(lake: str, table: str, version: int, where: dict | None,
                 storage_options: dict | None) -> pl.DataFrame:
    """The table (or its slice) as it was at ``version``; ValidationError naming table and version when that
    version, or its data files, no longer exist."""
    uri = f"{lake}/{table}"
    try:
        latest = DeltaTable(uri, storage_options=storage_options).version()
    except TableNotFoundError as exc:
        raise ValidationError(f"table {table} not found at {uri}: a recorded input is missing") from exc
    if not 0 <= version <= latest:
        raise ValidationError(f"{table}: recorded Delta version {version} does not exist at {uri} "
                              f"(versions 0..{latest})")
    try:
        DeltaTable(uri, version=version, storage_options=storage_options)
    except DeltaError as exc:  # the log of that version was cleaned up
        raise ValidationError(f"{table}: Delta version {version} is no longer in the log at {uri}: {exc}") from exc
    try:
        return delta_io.read_slices(uri, where, storage_options=storage_options, version=version)
    except pl.exceptions.ComputeError as exc:  # a data file that is no longer the Parquet the log describes
        raise _damaged(table, version, uri, exc) from exc
    except (FileNotFoundError, OSError, DeltaError) as exc:
        text = str(exc)
        if isinstance(exc, FileNotFoundError) or "not found" in text.lower() or "no such file" in text.lower():
            raise ValidationError(f"{table}: the data files of Delta version {version} are gone from {uri} "
                                  f"(vacuumed?): {text.splitlines()[0]}") from exc
        raise
    except BaseException as exc:
        # the Rust Parquet reader panics on a file shorter than the log says (pyo3's PanicException is a
        # BaseException): the recorded input is damaged, not the replay
        if type(exc).__name__ != "PanicException":
            raise
        raise _damaged(table, version, uri, exc) from exc


def _damaged(table: str, version: int, uri: str, exc: BaseException) -> ValidationError:
    return ValidationError(f"{table}: the data files of Delta version {version} at {uri} cannot be read (altered "
                           f"or damaged): {(str(exc).splitlines() or [type(exc).__name__])[0]}")


def _check_hash(table: str, frame: pl.DataFrame, recorded: calculations.TableVersion) -> None:
    got = lineage.frame_sha256(frame)
    if got != recorded.content_sha256:
        raise ValidationError(f"{table} at Delta version {recorded.delta_version}: content sha256 {got} does not "
                              f"match the recorded {recorded.content_sha256} (the input was altered)")


def _config_bytes(rec: Record) -> dict[str, tuple[str, bytes]]:
    out = {}
    for role, entry in sorted(rec.config_files.items()):
        try:
            data = calculations.config_bytes(entry)
        except (ValueError, LookupError) as exc:
            raise CorruptRecord(f"calculation record {rec.signature}: config {role} cannot be decoded: {exc}") \
                from exc
        if lineage.bytes_sha256(data) != entry["sha256"]:
            raise ValidationError(f"config {role} ({entry['path']}): the recorded text does not match its recorded "
                                  f"sha256 {entry['sha256']}")
        out[role] = (entry["path"], data)
    return out


def _params(rec: Record) -> CalcParams:
    try:
        return CalcParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in rec.parameters.items()})
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(f"calculation record {rec.signature}: parameters {rec.parameters} are invalid: {exc}") \
            from exc


@contextlib.contextmanager
def _money_tables(data_dir: Path):
    """engine/money.py reads its tables from CARBON_DATA_DIR (cached per process): point it at the recorded
    copies for the recomputation, then back."""
    saved = os.environ.get("CARBON_DATA_DIR")
    os.environ["CARBON_DATA_DIR"] = str(data_dir)
    money.eur_rates.cache_clear()
    money.price_indices.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CARBON_DATA_DIR", None)
        else:
            os.environ["CARBON_DATA_DIR"] = saved
        money.eur_rates.cache_clear()
        money.price_indices.cache_clear()


def _recompute(raw: pl.DataFrame, snapshot: pl.DataFrame, rec: Record, params: CalcParams,
               config: calculation.ConfigFiles, emit: Callable[[dict], None]) -> dict[str, pl.DataFrame]:
    """Every recorded output this code can recompute, through the assets' own functions."""
    tenant, year = rec.tenant, rec.year
    wanted = set(rec.outputs)
    out: dict[str, pl.DataFrame] = {}

    def done(name: str, frame: pl.DataFrame) -> pl.DataFrame:
        out[name] = frame
        emit({"event": "recomputed", "table": name, "rows": frame.height})
        return frame

    acts, rejects, _, _ = calculation.activity_tables(raw, config)
    done("activities", acts)
    done("activity_rejects", rejects)
    sig = calculation.signature(acts, rejects, snapshot, year, config.sha256(), rec.code_version, params)
    if sig != rec.signature:
        emit({"event": "warning", "message": f"recomputed activities give signature {sig}, not {rec.signature}"})
    em = done("emissions", calculation.emissions(acts, snapshot, params, config, sig))
    backend = rec.mc_backend or "auto"
    if wanted & {"emission_distributions", "inventory_report"}:
        dist = done("emission_distributions", calculation.distributions(em, tenant, year, params, backend)[0])
        if "inventory_report" in wanted and dist.height:
            done("inventory_report", calculation.inventory(dist))
    if "sensitivity" in wanted:
        done("sensitivity", calculation.sensitivity(em, tenant, year)[0])
    if "emission_samples" in wanted:
        done("emission_samples", calculation.samples(em, tenant, year, params, backend))
    if wanted & {"report_views", "esrs_e1_6"} and _has_module("report_views"):
        views = done("report_views", calculation.report_views(em, snapshot, config, tenant, year, params,
                                                                backend))
        if "esrs_e1_6" in wanted and _has_module("esrs"):
            done("esrs_e1_6", calculation.esrs_datapoints(views, config, tenant, year))
    return out


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"carbon_assets.engine.{name}") is not None


def _compare(rec: Record, produced: dict[str, pl.DataFrame], code_version: str | None,
             emit: Callable[[dict], None]) -> ReplayResult:
    res = ReplayResult(signature=rec.signature, tenant=rec.tenant, year=rec.year, identical=True,
                       code_version_recorded=rec.code_version, code_version_now=code_version, frames=produced)
    for table, recorded in sorted(rec.outputs.items()):
        if table not in produced:
            res.not_replayed.append(table)
            emit({"event": "skipped", "table": table, "message": "this code cannot recompute it"})
            continue
        got = lineage.frame_sha256(produced[table])
        same = got == recorded.content_sha256
        res.tables[table] = {"recorded": recorded.content_sha256, "recomputed": got}
        emit({"event": "compared", "table": table, "identical": same, "recorded": recorded.content_sha256,
              "recomputed": got})
        if not same:
            res.differing.append(table)
    res.identical = not res.differing and not res.not_replayed
    emit({"event": "done", "identical": res.identical, "differing": res.differing,
          "not_replayed": res.not_replayed, "tenant": rec.tenant, "year": rec.year})
    return res
