"""The `calculations` table: one row per calculation signature with everything needed to recompute it.

A row names the tenant-year, the parameters and code version, the input files (name -> sha256), the
raw_activities slice (Delta version + content sha256) the calculation read, the factor snapshot (id,
content sha256, Delta version), the TEXT and sha256 of every config file it read (engine/calculation.py
CONFIG_ROLES), each output table's content sha256 (+ Delta version), and its W3C PROV-JSON document.

Rows are deterministic: the same calculation gives the same row, byte for byte (no wall clock: the
Delta log of the table says when it was written). A tenant-year keeps the rows of all its past
signatures (:func:`merge`), so an old calculation can be replayed after newer ones.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import polars as pl

from carbon_assets.engine import lineage, provenance
from carbon_assets.engine.calculation import ConfigFiles

RECORD_FORMAT = 1  # bump when the layout of a row changes
CALCULATIONS_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "signature": pl.String, "record_format": pl.Int64,
    "parameters": pl.String,  # JSON: CalcParams.signature_dict()
    "code_version": pl.String,
    "inputs": pl.String,  # JSON {source_file: sha256}
    "raw_inputs_hash": pl.String,  # the client note's raw_inputs_hash: sha256- of the sorted input hashes
    "raw_activities_version": pl.Int64, "raw_activities_sha256": pl.String,
    "factor_snapshot_id": pl.String, "factor_snapshot_sha256": pl.String, "factor_snapshot_version": pl.Int64,
    "config_files": pl.String,  # JSON {role: {path, sha256, encoding, text}}
    "outputs": pl.String,  # JSON {table: {content_sha256, delta_version}}
    "mc_backend": pl.String,  # the Monte-Carlo backend whose bytes were recorded (numpy / rust)
    "provenance": pl.String,  # W3C PROV-JSON (engine/provenance.py)
}
JSON_COLUMNS = ("parameters", "inputs", "config_files", "outputs", "provenance")


class CorruptRecord(RuntimeError):
    """A calculations row that cannot be read back (bad JSON, missing or mistyped field)."""


@dataclass(frozen=True)
class TableVersion:
    """A table's content hash (canonical, lineage.frame_sha256) and its Delta version when known."""

    content_sha256: str
    delta_version: int | None = None

    def as_dict(self) -> dict:
        return {"content_sha256": self.content_sha256, "delta_version": self.delta_version}


def raw_inputs_hash(inputs: dict[str, str]) -> str:
    """One hash for all input files (the client note's provenance.raw_inputs_hash)."""
    return "sha256-" + lineage.bytes_sha256("|".join(sorted(set(inputs.values()))).encode())


def config_entry(relative_path: str, data: bytes) -> dict:
    """A config file as recorded: its path under the data folder, sha256 and text (base64 if not UTF-8)."""
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode("ascii"), "base64"
    return {"path": relative_path, "sha256": lineage.bytes_sha256(data), "encoding": encoding, "text": text}


def config_bytes(entry: dict) -> bytes:
    """The recorded bytes of a config file (inverse of config_entry)."""
    if entry["encoding"] == "base64":
        return base64.b64decode(entry["text"])
    return entry["text"].encode(entry["encoding"])


def config_entries(config: ConfigFiles) -> dict[str, dict]:
    """role -> recorded entry of every config file the calculation of ``config.tenant`` reads."""
    return {role: config_entry(config.relative(role), path.read_bytes())
            for role, path in sorted(config.present().items())}


def record(*, tenant: str, year: str, signature: str, parameters: dict, code_version: str,
           inputs: dict[str, str], raw_activities: TableVersion, factor_snapshot_id: str,
           factor_snapshot: TableVersion, config_files: dict[str, dict], outputs: dict[str, TableVersion],
           mc_backend: str | None) -> dict:
    """The calculations row (JSON columns as canonical JSON text), with its PROV-JSON document."""
    if raw_activities.delta_version is None or factor_snapshot.delta_version is None:
        raise ValueError("raw_activities and factor_snapshot need their Delta versions to be replayable")
    body = {
        "tenant": tenant, "year": year, "signature": signature, "record_format": RECORD_FORMAT,
        "parameters": parameters, "code_version": code_version, "inputs": dict(sorted(inputs.items())),
        "raw_inputs_hash": raw_inputs_hash(inputs),
        "raw_activities_version": raw_activities.delta_version,
        "raw_activities_sha256": raw_activities.content_sha256,
        "factor_snapshot_id": factor_snapshot_id, "factor_snapshot_sha256": factor_snapshot.content_sha256,
        "factor_snapshot_version": factor_snapshot.delta_version,
        "config_files": dict(sorted(config_files.items())),
        "outputs": {k: v.as_dict() for k, v in sorted(outputs.items())},
        "mc_backend": mc_backend,
    }
    body["provenance"] = provenance.prov_document(body)
    return {k: _dump(v) if k in JSON_COLUMNS else v for k, v in body.items()}


def _dump(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CALCULATIONS_SCHEMA, orient="row") if rows else \
        pl.DataFrame(schema=CALCULATIONS_SCHEMA)


def merge(existing: pl.DataFrame | None, row: dict) -> pl.DataFrame:
    """The tenant-year's rows with ``row`` added (or replacing the row of the same signature), sorted by
    signature: what to write as the tenant-year's slice of the calculations table."""
    new = to_frame([row])
    if existing is None or existing.height == 0:
        return new
    old = existing.select(list(CALCULATIONS_SCHEMA)).cast(CALCULATIONS_SCHEMA)
    return pl.concat([old.filter(pl.col("signature") != row["signature"]), new]).sort("signature")


@dataclass(frozen=True)
class Record:
    """A calculations row read back, JSON decoded and typed."""

    tenant: str
    year: str
    signature: str
    parameters: dict
    code_version: str
    inputs: dict[str, str]
    raw_activities: TableVersion
    factor_snapshot_id: str
    factor_snapshot: TableVersion
    config_files: dict[str, dict]
    outputs: dict[str, TableVersion]
    mc_backend: str | None
    provenance: dict


def parse(row: dict) -> Record:
    """A row as a Record; CorruptRecord naming the column when it cannot be read."""
    sig = row.get("signature")

    def col(name: str, kind: type | tuple):
        v = row.get(name)
        if name in JSON_COLUMNS:
            try:
                v = json.loads(v)
            except (TypeError, ValueError) as exc:
                raise CorruptRecord(f"calculation record {sig}: column {name} is not valid JSON ({exc})") from exc
        if not isinstance(v, kind):
            raise CorruptRecord(f"calculation record {sig}: column {name} has {type(v).__name__} {str(v)[:60]!r}, "
                                f"expected {getattr(kind, '__name__', kind)}")
        return v

    def version(v, where: str) -> TableVersion:
        if not (isinstance(v, dict) and isinstance(v.get("content_sha256"), str)
                and (v.get("delta_version") is None or isinstance(v["delta_version"], int))):
            raise CorruptRecord(f"calculation record {sig}: {where} is not {{content_sha256, delta_version}}")
        return TableVersion(v["content_sha256"], v.get("delta_version"))

    if row.get("record_format") != RECORD_FORMAT:
        raise CorruptRecord(f"calculation record {sig}: record_format {row.get('record_format')!r} is not "
                            f"{RECORD_FORMAT}")
    configs = col("config_files", dict)
    for role, entry in configs.items():
        if not (isinstance(entry, dict) and {"path", "sha256", "encoding", "text"} <= set(entry)):
            raise CorruptRecord(f"calculation record {sig}: config_files[{role!r}] lacks path/sha256/encoding/text")
    return Record(
        tenant=col("tenant", str), year=col("year", str), signature=col("signature", str),
        parameters=col("parameters", dict), code_version=col("code_version", str), inputs=col("inputs", dict),
        raw_activities=TableVersion(col("raw_activities_sha256", str), col("raw_activities_version", int)),
        factor_snapshot_id=col("factor_snapshot_id", str),
        factor_snapshot=TableVersion(col("factor_snapshot_sha256", str), col("factor_snapshot_version", int)),
        config_files=configs,
        outputs={k: version(v, f"outputs[{k!r}]") for k, v in col("outputs", dict).items()},
        mc_backend=col("mc_backend", (str, type(None))), provenance=col("provenance", dict),
    )
