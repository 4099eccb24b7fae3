"""Canonical content hashes and lineage signatures.

A frame's content hash is SHA-256 over a plain Parquet encoding of the frame with its columns in
the given (schema) order and its rows sorted by every column: the same content always gives
the same hash. Parquet encodes values only; Arrow IPC copies raw buffers, whose padding bytes
(validity bitmaps past the last row, string-view prefixes) are not guaranteed to be zeroed.
The serialisation format is named in every signature (CANONICAL_FORMAT).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

CANONICAL_FORMAT = f"parquet-plain-sorted/pyarrow-{pa.__version__.split('.')[0]}"


def canonical(df: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by every column (nulls last), columns in their given order."""
    if df.width == 0 or df.height == 0:
        return df
    sortable = [c for c, t in df.schema.items() if not isinstance(t, (pl.List, pl.Struct, pl.Object))]
    return df.sort(sortable, nulls_last=True, maintain_order=True)


def frame_bytes(df: pl.DataFrame) -> bytes:
    table = canonical(df).to_arrow().replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="none", use_dictionary=False, write_statistics=False,
                   store_schema=False, row_group_size=max(1, table.num_rows))
    return sink.getvalue()


def frame_sha256(df: pl.DataFrame) -> str:
    return hashlib.sha256(frame_bytes(df)).hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_files(*frames: pl.DataFrame) -> dict[str, str]:
    """{source_file: source_sha256} over frames that carry both columns (activities, rejects...)."""
    pairs: set[tuple[str, str]] = set()
    for f in frames:
        pairs |= set(f.select("source_file", "source_sha256").unique().rows())
    return dict(sorted(pairs))


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def signature(*, inputs: dict, factor_snapshot: str | None, mappings: dict, code_version: str,
              parameters: dict) -> str:
    """`sha256-` + SHA-256 of the canonical JSON of everything that determines a result."""
    payload = {
        "inputs": inputs,
        "factor_snapshot": factor_snapshot,
        "mappings": mappings,
        "code_version": code_version,
        "parameters": parameters,
        "format": CANONICAL_FORMAT,
    }
    return "sha256-" + hashlib.sha256(canonical_json(payload)).hexdigest()


def git_commit(repo_dir: str | Path) -> str | None:
    """HEAD commit of the checkout the code runs from, when there is one."""
    try:
        out = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
