"""Reading publishers' and clients' tables as text, with the real row number of every row."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import polars as pl

from carbon_assets.engine.errors import InputError

ROW_COL = "__row"  # 1-based row number in the source file (spreadsheet row or CSV line)


def read_text_table(path: Path, *, fmt: str, sheet: str | None = None, header_row: int = 1,
                    encoding: str = "utf-8", separator: str = ",") -> pl.DataFrame:
    """Every cell as text (or null when empty), plus ROW_COL; header taken from ``header_row``."""
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if fmt == "xlsx":
        return _read_xlsx(path, sheet, header_row)
    if fmt == "csv":
        return _read_csv(path, header_row, encoding, separator)
    raise InputError(f"unsupported format {fmt!r} (expected csv or xlsx)", file=str(path))


def _headers(raw: list, path: Path, header_row: int) -> list[str]:
    names = [("" if h is None else str(h)).strip() for h in raw]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError("header row is empty", file=str(path), row=header_row)
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen and n:
            raise InputError("duplicate column header", file=str(path), row=header_row, column=n)
        seen.add(n)
        if not n:
            names[i] = f"column_{i + 1}"
    return names


def _frame(names: list[str], rows: list[tuple[int, list]]) -> pl.DataFrame:
    data: dict[str, list] = {n: [] for n in names}
    data[ROW_COL] = []
    for rownum, cells in rows:
        for i, n in enumerate(names):
            v = cells[i] if i < len(cells) else None
            v = None if v is None else str(v).strip()
            data[n].append(v if v != "" else None)
        data[ROW_COL].append(rownum)
    return pl.DataFrame(data, schema={**{n: pl.String for n in names}, ROW_COL: pl.Int64})


@contextlib.contextmanager
def xlsx_sheet(path: Path, sheet: str | None):
    """The named sheet (or the first) of a workbook opened read-only, values only; closed on exit."""
    import openpyxl

    if not path.exists():
        raise InputError("file not found", file=str(path))
    try:
        with warnings.catch_warnings():  # publishers' workbooks carry headers/extensions openpyxl ignores
            warnings.simplefilter("ignore", UserWarning)
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for junk input
        raise InputError(f"not a readable xlsx workbook: {exc}", file=str(path)) from exc
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise InputError(f"sheet {sheet!r} not found (sheets: {wb.sheetnames})", file=str(path))
        yield wb[sheet] if sheet else wb.worksheets[0]
    finally:
        wb.close()


def _read_xlsx(path: Path, sheet: str | None, header_row: int) -> pl.DataFrame:
    with xlsx_sheet(path, sheet) as ws:
        it = ws.iter_rows(values_only=True)
        header = None
        rows: list[tuple[int, list]] = []
        for rownum, values in enumerate(it, start=1):
            if rownum < header_row:
                continue
            if rownum == header_row:
                header = _headers(list(values), path, header_row)
                continue
            cells = [_xlsx_text(v) for v in values]
            if any(c not in (None, "") for c in cells):
                rows.append((rownum, cells))
    if header is None:
        raise InputError(f"header row {header_row} not found", file=str(path))
    return _frame(header, rows)


def _xlsx_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return repr(v)  # shortest round-trip text, so parsing gives back the same double
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _read_csv(path: Path, header_row: int, encoding: str, separator: str) -> pl.DataFrame:
    import csv
    import io

    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        bad = raw[exc.start:exc.end]
        raise InputError(f"cannot decode as {encoding} (byte {bad.hex()} at offset {exc.start}); "
                         "wrong encoding declared?", file=str(path), row=line,
                         value=raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.end].decode(encoding, "replace")[-40:]
                         ) from exc
    except LookupError as exc:
        raise InputError(f"unknown encoding {encoding!r}", file=str(path)) from exc
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header = None
    rows: list[tuple[int, list]] = []
    for rec in reader:
        rownum = reader.line_num  # physical line where this record ends
        if header is None:
            if rownum >= header_row:
                header = _headers(rec, path, rownum)
                if len(header) == 1 and separator not in text.splitlines()[0]:
                    raise InputError(
                        f"only one column found with separator {separator!r}; wrong separator?",
                        file=str(path), row=rownum, column=header[0])
            continue
        if any(c.strip() for c in rec):
            if len(rec) > len(header) and any(c.strip() for c in rec[len(header):]):
                raise InputError(f"row has {len(rec)} cells but the header has {len(header)}",
                                 file=str(path), row=rownum)
            rows.append((rownum, rec))
    if header is None:
        raise InputError("file is empty (no header row)", file=str(path))
    return _frame(header, rows)
