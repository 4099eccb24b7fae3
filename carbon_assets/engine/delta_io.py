"""Delta tables written one slice at a time (e.g. one tenant-year), idempotently.

A slice write is an overwrite with a predicate on the slice's partition columns: it replaces
exactly that slice, leaves every other slice untouched, and refuses rows outside the slice.
"""

from __future__ import annotations

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError


class SliceError(ValueError):
    """Rows outside the slice being written."""


def _quote(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def sql_predicate(where: dict[str, str]) -> str:
    return " AND ".join(f"{k} = {_quote(v)}" for k, v in sorted(where.items()))


def polars_filter(where: dict[str, list[str]]) -> pl.Expr:
    expr = pl.lit(True)
    for k, vals in sorted(where.items()):
        expr = expr & pl.col(k).is_in(sorted(vals))
    return expr


def check_rows_match(df: pl.DataFrame, where: dict[str, str]) -> None:
    for col, val in where.items():
        if col not in df.columns:
            raise SliceError(f"partition column {col!r} missing from the frame being written")
        bad = df.filter(pl.col(col).is_null() | (pl.col(col) != val))
        if bad.height:
            raise SliceError(f"{bad.height} row(s) have {col}={bad[col][0]!r} outside the slice {col}={val!r}")


def write_slice(df: pl.DataFrame, uri: str, where: dict[str, str], *, storage_options: dict | None = None,
                custom_metadata: dict[str, str] | None = None) -> int:
    """Replace the slice ``where`` of the table at ``uri`` by ``df``; returns the new Delta version."""
    table = df.to_arrow()
    commit = CommitProperties(custom_metadata=custom_metadata) if custom_metadata else None
    if where:
        check_rows_match(df, where)
        write_deltalake(uri, table, mode="overwrite", partition_by=sorted(where), predicate=sql_predicate(where),
                        storage_options=storage_options, commit_properties=commit, schema_mode="merge")
    else:
        write_deltalake(uri, table, mode="overwrite", storage_options=storage_options, commit_properties=commit,
                        schema_mode="overwrite")
    return DeltaTable(uri, storage_options=storage_options).version()


def read_slices(uri: str, where: dict[str, list[str]] | None = None, *, storage_options: dict | None = None,
                version: int | None = None) -> pl.DataFrame:
    """The rows of the given slices (all rows when ``where`` is empty)."""
    lf = pl.scan_delta(uri, version=version, storage_options=storage_options)
    if where:
        lf = lf.filter(polars_filter(where))
    return lf.collect()


def table_version(uri: str, storage_options: dict | None = None) -> int | None:
    try:
        return DeltaTable(uri, storage_options=storage_options).version()
    except TableNotFoundError:
        return None
