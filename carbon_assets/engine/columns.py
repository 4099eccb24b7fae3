"""Text columns handed to the Rust kernel as Arrow string views (no copy of the text): whether a column has
padded cells, and a column's distinct values with one code per cell, so that each distinct date, unit or key
of a ledger is read once. Each function has a polars path for when the kernel is not installed.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from carbon_assets.engine import numbers


def _view_chunks(cells: pl.Series) -> list[tuple] | None:
    """(views, data buffers, validity or None, offset) of each chunk of a String column, as numpy arrays over
    the Arrow buffers; None when a chunk is not in the string-view layout."""
    out = []
    for chunk in cells.get_chunks():
        arr = chunk.to_arrow(compat_level=pl.CompatLevel.newest())
        if not isinstance(arr, pa.StringViewArray):
            return None
        valid, views, *buffers = arr.buffers()
        out.append((np.frombuffer(views, dtype=np.uint8, count=len(arr) * 16, offset=arr.offset * 16),
                    [np.frombuffer(b, dtype=np.uint8) for b in buffers if b is not None],
                    None if valid is None else np.frombuffer(valid, dtype=np.uint8), arr.offset))
    return out


def any_padded(cells: pl.Series) -> bool:
    """True when some cell starts or ends with whitespace (without the kernel, every column counts as padded)."""
    kernel = numbers.text_kernel()
    chunks = _view_chunks(cells) if kernel is not None else None
    if chunks is None:
        return True
    return any(kernel.any_padded(*chunk) for chunk in chunks)


def distinct(cells: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(codes, values): the column's distinct non-null values in order of first appearance, and for each cell
    the index of its value (UInt32); a null cell has code ``len(values)``, so ``gather_by_code`` maps it to null."""
    kernel = numbers.text_kernel()
    if kernel is not None and hasattr(kernel, "distinct_values"):
        chunks = _view_chunks(cells.rechunk() if cells.n_chunks() > 1 else cells)
        if chunks is not None and len(chunks) == 1:
            codes, values = kernel.distinct_values(*chunks[0])
            return pl.Series(cells.name, codes, dtype=pl.UInt32), pl.Series(cells.name, values, dtype=pl.String)
    values = cells.unique(maintain_order=True).drop_nulls()
    codes = cells.replace_strict(values, list(range(len(values))), default=None, return_dtype=pl.UInt32)
    return codes.fill_null(len(values)), values


def gather_by_code(mapped: list, codes: pl.Series, dtype: pl.DataType, name: str) -> pl.Series:
    """The per-value results ``mapped`` (one per distinct value) spread back over the cells by code."""
    return pl.Series(name, [*mapped, None], dtype=dtype).gather(codes)


def prefixed(prefix: str, values: pl.Series, name: str) -> pl.Series:
    """``prefix`` followed by each integer in decimal (the activity ids ``<file hash>-<row>``), written by the
    kernel straight into a string-view column; polars ``concat_str`` without it."""
    kernel = numbers.text_kernel()
    if kernel is not None and hasattr(kernel, "prefixed_numbers") and not values.has_nulls():
        views, buffers = kernel.prefixed_numbers(prefix, values.cast(pl.Int64).to_numpy())
        arr = pa.Array.from_buffers(pa.string_view(), len(values),
                                    [None, pa.py_buffer(views), *(pa.py_buffer(b) for b in buffers)])
        return pl.Series(name, arr)
    return values.to_frame("n").select(pl.concat_str([pl.lit(prefix), pl.col("n").cast(pl.String)])) \
        .to_series().alias(name)
