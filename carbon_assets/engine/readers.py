"""Reading messy client activity files into text tables with real row numbers.

One entry point, :func:`read_table`, for CSV (encoding and delimiter detected), XLSX (sheet from the
mapping or the first non-empty one) and Parquet. The header row is found among the first rows
(it need not be line 1). Blank lines are not rows. Every data row keeps its physical row number
(CSV line, spreadsheet row; Parquet: 1-based record number).

Whole-file problems (too large, empty, binary junk, duplicate headers, a single column, unreadable
workbook) raise :class:`carbon_assets.engine.errors.InputError` naming file, row and column.
Row-level problems (a row with more cells than the header) are marked in the ``ROW_ERROR``
column and become rejects later; nothing is dropped.

The CSV data is split by the Rust kernel (rust_kernels/src/csv.rs) into Arrow string views over the
file's own bytes; where it is not installed or declines the text (quoting it cannot read exactly as the
``csv`` module does), polars parses it when no quoted field spans lines, else the ``csv`` module does. All
three give the same table.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from carbon_assets.engine import columns, numbers
from carbon_assets.engine import headers as hdr
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.tables import ROW_COL

ROW_ERROR = "__row_error"  # message for a row that cannot be aligned with the header, else null
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
HEADER_SCAN_ROWS = 30
SNIFF_LINES = 60
_NON_SPACE = re.compile(rb"\S")
HEAD_BYTES = 4 << 20  # header detection reads at most this much of a CSV


@dataclass(frozen=True)
class ReadOptions:
    max_bytes: int = DEFAULT_MAX_BYTES
    sheet: str | None = None
    header_row: int | None = None  # 1-based physical row of the header; None = detect
    encoding: str | None = None  # None = detect (UTF-8, UTF-8 BOM, UTF-16 BOM, Windows-1252, Latin-1)
    delimiter: str | None = None  # None = sniff among , ; TAB |
    template: dict[str, list[str]] | None = None  # headers the mapping knows, used to find the header row


@dataclass
class TextTable:
    frame: pl.DataFrame  # one String column per header (null when empty), ROW_COL, ROW_ERROR
    headers: list[str]
    header_row: int
    info: dict = field(default_factory=dict)  # format, encoding, delimiter, sheet, numeric_columns...


def _fmt_of(name: str, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    low = name.lower()
    if low.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if low.endswith(".parquet"):
        return "parquet"
    return "csv"


def read_table(path: Path, name: str | None = None, options: ReadOptions | None = None,
               raw: bytes | None = None) -> TextTable:
    """The file as a text table; InputError for a file that cannot be read as a table.

    ``raw``: the file's bytes when the caller has already read them."""
    opts = options or ReadOptions()
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=name) from exc
    if size > opts.max_bytes:
        raise InputError(f"file is {size / 2**20:.1f} MB, over the {opts.max_bytes / 2**20:.1f} MB limit "
                         "(split it, or raise max_mb in the tenant mapping)", file=name, row=0)
    raw = path.read_bytes() if raw is None else raw
    if not raw or raw.isspace():
        raise InputError("file is empty", file=name, row=0)
    fmt = _fmt_of(name, raw[:8])
    if fmt == "xls":
        raise InputError("legacy .xls workbook (OLE2): save it as .xlsx or CSV", file=name, row=0)
    if fmt == "xlsx":
        return _read_xlsx(path, name, opts)
    if fmt == "parquet":
        return _read_parquet(raw, name)
    return _read_csv(raw, name, opts)


# ------------------------------------------------------------------ helpers


def _check_headers(cells: list, name: str, row: int) -> list[str]:
    names = [("" if h is None else str(h)).strip() for h in cells]
    while names and not names[-1]:
        names.pop()
    if not any(names):
        raise InputError("header row is empty", file=name, row=row)
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n and n in seen:
            raise InputError(f"duplicate column header (columns {seen[n] + 1} and {i + 1})",
                             file=name, row=row, column=n)
        seen[n] = i
    names = [n or f"column_{i + 1}" for i, n in enumerate(names)]
    # polars reads "*" and "^...$" as column patterns, and "__..." names are the reader's own helpers
    names = [f"{n} [{i + 1}]" if n == "*" or (n.startswith("^") and n.endswith("$")) or n.startswith("__") else n
             for i, n in enumerate(names)]
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError("duplicate column header (after naming empty or reserved headers)", file=name, row=row,
                         column=dup)
    if len(names) < 2:
        raise InputError("only one column found: a table needs several columns (wrong delimiter?)",
                         file=name, row=row, column=names[0])
    return names


def _frame_from_rows(names: list[str], rows: list[tuple]) -> pl.DataFrame:
    """Rows are (row number, cells) or (row number, cells, error message)."""
    n = len(names)
    data: dict[str, list] = {h: [] for h in names}
    rownums, errors = [], []
    for rownum, cells, *err in rows:
        vals = [None if v is None else str(v).strip() for v in cells]
        vals = [v if v != "" else None for v in vals]
        if not err and not any(v is not None for v in vals):
            continue  # blank row: not a row
        extra = [v for v in vals[n:] if v is not None]
        for i, h in enumerate(names):
            data[h].append(vals[i] if i < len(vals) else None)
        rownums.append(rownum)
        last = max(i for i, v in enumerate(vals) if v is not None) + 1 if extra else 0
        errors.append(err[0] if err else f"row has {last} cells but the header has {n}" if extra else None)
    return pl.DataFrame({**data, ROW_COL: rownums, ROW_ERROR: errors},
                        schema={**{h: pl.String for h in names}, ROW_COL: pl.Int64, ROW_ERROR: pl.String})


# ------------------------------------------------------------------ CSV


def _decode(raw: bytes, name: str, forced: str | None) -> tuple[bytes, str, str]:
    """The file's text as bytes, the encoding it was read with, and the codec the bytes are in: "utf-8" (BOM
    removed), or "cp1252"/"latin-1" for 8-bit text left as it is because the Rust kernel transcodes it cell by
    cell (:func:`_split`)."""
    if forced:
        try:
            data, codec = _source(raw, forced)
        except (UnicodeDecodeError, LookupError, ValueError) as exc:
            raise InputError(f"cannot decode with the mapping's encoding {forced!r}: {exc}", file=name, row=0) from exc
        return data, forced, codec
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16").encode("utf-8"), "utf-16", "utf-8"
        except UnicodeDecodeError as exc:
            raise InputError("invalid UTF-16 text", file=name, row=0) from exc
    head = raw[:65536]
    if b"\x00" in head:
        raise InputError("binary content (NUL bytes): not a CSV, XLSX or Parquet file", file=name, row=0)
    ctrl = sum(head.count(bytes([b])) for b in (*range(1, 9), 11, 12, *range(14, 32)))
    if ctrl > max(8, len(head) // 100):
        raise InputError("binary content (control bytes): not a CSV, XLSX or Parquet file", file=name, row=0)
    if raw.startswith(b"\xef\xbb\xbf") and _is_utf8(raw[3:]):
        return raw[3:], "utf-8-sig", "utf-8"  # (a BOM on a file that is not UTF-8 after all: try the 8-bit pages)
    if _is_utf8(raw):
        return raw, "utf-8", "utf-8"
    try:
        data, codec = _source(raw, "cp1252")
        return data, "cp1252", codec
    except (UnicodeDecodeError, ValueError):
        data, codec = _source(raw, "latin-1")
        return data, "latin-1", codec


def _is_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    # in pieces: a failed decode of the whole file would copy it into the exception
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for i in range(0, len(raw), 1 << 20):
            decoder.decode(raw[i:i + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _to_utf8(raw: bytes, encoding: str) -> bytes:
    """``raw`` read as ``encoding``, as UTF-8 bytes; the 8-bit code pages go through the Rust kernel."""
    codec = codecs.lookup(encoding).name
    kernel = numbers.text_kernel()
    if codec in ("cp1252", "iso8859-1") and kernel is not None:
        return kernel.transcode_8bit(raw, codec == "cp1252")
    if codec == "utf-8":
        raw.decode("utf-8")  # validates
        return raw.removeprefix(b"\xef\xbb\xbf")
    return raw.decode(encoding).removeprefix("\ufeff").encode("utf-8")


def _source(raw: bytes, encoding: str) -> tuple[bytes, str]:
    """``raw`` ready to split, and the codec it is in: Windows-1252 and Latin-1 stay as they are when the kernel
    splitter will transcode them cell by cell (Windows-1252 checked for undefined bytes here), anything else
    becomes UTF-8."""
    codec = codecs.lookup(encoding).name
    kernel = numbers.text_kernel()
    if codec in ("cp1252", "iso8859-1") and kernel is not None and hasattr(kernel, "split_csv"):
        if codec == "cp1252" and (at := kernel.first_undefined_cp1252(raw)) is not None:
            raise ValueError(f"byte 0x{raw[at]:02x} at offset {at} is undefined in Windows-1252")
        return raw, "cp1252" if codec == "cp1252" else "latin-1"
    return _to_utf8(raw, encoding), "utf-8"


def _sample_lines(text: str, n: int) -> list[str]:
    out: list[str] = []
    head = text[:1 << 20]
    if len(head) < len(text):
        head = head[: head.rfind("\n") + 1] or head
    for line in io.StringIO(head, newline=None):
        if line.strip():
            out.append(line)
            if len(out) >= n:
                break
    return out


def _sniff(lines: list[str]) -> str | None:
    best, best_score = None, (0, 0)
    for d in DELIMITERS:
        counts = [len(rec) for rec in csv.reader(lines, delimiter=d)]
        counts = [c for c in counts if c > 1]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (counts.count(mode), mode)
        if score > best_score:
            best, best_score = d, score
    return best


def _line_offset(text: str, nlines: int) -> int:
    """Character offset of the start of physical line ``nlines + 1`` (0 when nlines = 0)."""
    pos = 0
    for _ in range(nlines):
        nxt = text.find("\n", pos)
        if nxt < 0:
            return len(text)
        pos = nxt + 1
    return pos


def _read_csv(raw: bytes, name: str, opts: ReadOptions) -> TextTable:
    data, encoding, codec = _decode(raw, name, opts.encoding)
    newlines, has_quote, has_cr = _scan(data)
    if has_cr:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        newlines, has_quote, _ = _scan(data)
    # header detection only needs the first lines: decode a head, not the whole file
    cut = data.rfind(b"\n", 0, HEAD_BYTES) + 1 if len(data) > HEAD_BYTES else 0
    text = _text(data[:cut] if cut else data, codec)
    sample = _sample_lines(text, SNIFF_LINES)
    if not sample:
        raise InputError("file is empty", file=name, row=0)
    delim = opts.delimiter or _sniff(sample)
    if delim is None:
        first = sample[0].strip()
        raise InputError("only one column found: no delimiter among , ; TAB | (is this a table?)",
                         file=name, row=1, column=first[:60])
    # candidate header rows: the first records with their physical line numbers
    reader = csv.reader(io.StringIO(text[:sum(len(s) for s in sample) * 4 + 4096]), delimiter=delim)
    cands: list[tuple[int, list[str]]] = []
    start_line = 1
    try:
        for rec in reader:
            if any(c.strip() for c in rec):
                cands.append((start_line, rec))
            start_line = reader.line_num + 1
            if len(cands) >= HEADER_SCAN_ROWS:
                break
    except csv.Error:
        pass  # a malformed record within the sample: the candidates so far are enough
    if not cands:
        raise InputError("file is empty (no header row)", file=name, row=0)
    if opts.header_row is not None:
        match = [c for c in cands if c[0] == opts.header_row]
        if not match:
            raise InputError(f"header row {opts.header_row} (from the mapping) is blank or missing", file=name,
                             row=opts.header_row)
        header_line, header_cells = match[0]
    else:
        i = hdr.find_header_row([c[1] for c in cands], opts.template)
        header_line, header_cells = cands[i]
    # the header record may span lines when quoted: count its physical end
    names = _check_headers(header_cells, name, header_line)
    if cut and header_line + 1 >= text.count("\n"):  # a header near the end of the head: read it all
        text, cut = _text(data, codec), 0
    end_line = header_line + _record_span(text, header_line, delim) - 1
    frame = _split(data, codec, end_line, has_quote, names, delim)
    if frame is None and codec != "utf-8":  # declined by the kernel: the general readers need UTF-8
        data = _to_utf8(data, codec)
    if frame is None:
        frame = _parse_fast(data, end_line, newlines, has_quote, names, delim)
    if frame is None:
        body = data[len(text[:_line_offset(text, end_line)].encode("utf-8")):]
        frame = _parse_slow(body.decode("utf-8"), names, delim, end_line)
    info = {"format": "csv", "encoding": encoding, "delimiter": delim, "header_row": header_line,
            "preamble_rows": sum(1 for c in cands if c[0] < header_line)}
    return TextTable(frame=frame, headers=names, header_row=header_line, info=info)


def _text(data: bytes, codec: str) -> str:
    """``data`` (in ``codec``, see :func:`_decode`) as text."""
    kernel = numbers.text_kernel()
    if codec != "utf-8" and kernel is not None:  # the kernel's transcoding beats the charmap codec
        data = kernel.transcode_8bit(data, codec == "cp1252")
    return data.decode("utf-8")


def _split(data: bytes, codec: str, end_line: int, has_quote: bool, names: list[str],
           delim: str) -> pl.DataFrame | None:
    """The rows after the first ``end_line`` lines, split by the Rust kernel (contract in rust_kernels/src/csv.rs:
    the same table as :func:`_parse_slow` gives); None without the kernel or when it declines the text.
    The columns are Arrow string views into ``data`` itself and the kernel's side buffers: no copy of the text."""
    kernel = numbers.text_kernel()
    sep = delim.encode("utf-8")
    if kernel is None or not hasattr(kernel, "split_csv") or len(sep) != 1:
        return None
    chunks = kernel.split_csv(data, _nth_line_start(data, end_line), end_line + 1, sep[0], has_quote, len(names),
                              codec)
    if chunks is None:
        return None
    text = pa.py_buffer(data)
    cols = {h: pa.chunked_array(
        [pa.Array.from_buffers(pa.string_view(), rows, [None if valid[j] is None else pa.py_buffer(valid[j]),
                                                        pa.py_buffer(views[j]), text, pa.py_buffer(side)],
                               null_count=nulls[j])
         for rows, views, valid, nulls, _, side, _ in chunks], type=pa.string_view()) for j, h in enumerate(names)}
    cols[ROW_COL] = pa.chunked_array([lines for *_, lines, _, _ in chunks], type=pa.int64())
    frame = pl.from_arrow(pa.table(cols)).rechunk()  # one chunk: later queries run faster on it
    n = len(names)
    ragged = {int(lines[r]): f"row has {cells} cells but the header has {n}"
              for *_, lines, _, rag in chunks for r, cells in rag}
    errors = pl.col(ROW_COL).replace_strict(ragged, default=None, return_dtype=pl.String) if ragged \
        else pl.lit(None, pl.String)
    return frame.with_columns(errors.alias(ROW_ERROR))


def _record_span(text: str, line: int, delim: str) -> int:
    start = _line_offset(text, line - 1)
    reader = csv.reader(io.StringIO(text[start:start + 1_000_000]), delimiter=delim)
    try:
        next(reader)
    except (StopIteration, csv.Error):
        return 1
    return max(1, reader.line_num)


def _parse_fast(data: bytes, end_line: int, newlines: int, has_quote: bool, names: list[str],
                delim: str) -> pl.DataFrame | None:
    """polars parse of the UTF-8 text after its first ``end_line`` lines (preamble and header) when every
    record is one line; None when that cannot be guaranteed. ``newlines``, ``has_quote``: from :func:`_scan`."""
    n_lines = newlines + (0 if data.endswith(b"\n") else 1) - end_line
    if n_lines <= 0 or not _NON_SPACE.search(data, _nth_line_start(data, end_line)):
        return _frame_from_rows(names, [])
    # polars keeps blank lines as rows, so one record per line <=> as many records as lines;
    # a quoted field spanning lines (or a stray quote) shows as fewer records: the csv module decides.
    # One spare column catches rows with more cells than the header (the rest of such a row is cut).
    n = len(names)
    cols = [f"f{i}" for i in range(n + 1)]
    try:
        df = pl.read_csv(data, has_header=False, skip_lines=end_line, separator=delim,
                         quote_char='"' if has_quote else None, infer_schema=False,
                         schema={c: pl.String for c in cols}, missing_columns="insert", truncate_ragged_lines=True)
    except Exception:  # noqa: BLE001 - malformed quoting and the like: the csv module decides
        return None
    if df.height != n_lines:
        return None
    # cells are stripped (only the columns that have padded cells: stripping is a copy) and "" is null
    padded = [c for c in cols if columns.any_padded(df[c])]
    df = df.with_columns([pl.col(c).str.strip_chars() for c in padded]) \
        .with_columns([pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in cols])
    out = df.with_columns(pl.int_range(end_line + 1, end_line + 1 + df.height, dtype=pl.Int64).alias(ROW_COL))
    nonblank = pl.any_horizontal([pl.col(c).is_not_null() for c in cols])
    if not out.select(nonblank.all()).item():  # blank lines are not rows
        out = out.filter(nonblank)
    ragged = out.filter(pl.col(cols[n]).is_not_null())[ROW_COL].to_list()
    errors = pl.lit(None, pl.String)
    if ragged:  # rare: count the cells of those rows from their lines
        lines = data.split(b"\n")
        counts = {}
        for row in ragged:
            cells = [c.strip() for c in next(csv.reader([lines[row - 1].decode("utf-8")], delimiter=delim))]
            last = max(i for i, c in enumerate(cells) if c) + 1
            counts[row] = f"row has {last} cells but the header has {n}"
        errors = pl.col(ROW_COL).replace_strict(counts, default=None, return_dtype=pl.String)
    return out.select([pl.col(f"f{i}").alias(h) for i, h in enumerate(names)] + [ROW_COL, errors.alias(ROW_ERROR)])


def _scan(data: bytes) -> tuple[int, bool, bool]:
    """(newlines, has a double quote, has a carriage return) of the text, in one parallel pass when the
    Rust kernel is installed."""
    kernel = numbers.text_kernel()
    if kernel is not None:
        return kernel.scan_text(data, 0)
    return data.count(b"\n"), b'"' in data, b"\r" in data


def _nth_line_start(data: bytes, n: int) -> int:
    """Byte offset of the start of line ``n + 1``."""
    pos = 0
    for _ in range(n):
        pos = data.find(b"\n", pos) + 1
        if pos == 0:
            return len(data)
    return pos


def _parse_slow(data: str, names: list[str], delim: str, end_line: int) -> pl.DataFrame:
    reader = csv.reader(io.StringIO(data), delimiter=delim)
    rows: list[tuple[int, list]] = []
    start = 1
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. an unterminated quote: the rest of the file is one bad row
            rows.append((end_line + start, [], f"unreadable record (bad quoting: {exc})"))
            break
        rows.append((end_line + start, rec))
        start = reader.line_num + 1
    return _frame_from_rows(names, rows)


# ------------------------------------------------------------------ XLSX


def _cell_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _read_xlsx(path: Path, name: str, opts: ReadOptions) -> TextTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for junk input
        raise InputError(f"not a readable xlsx workbook: {type(exc).__name__}", file=name, row=0) from exc
    try:
        if opts.sheet is not None:
            if opts.sheet not in wb.sheetnames:
                raise InputError(f"sheet {opts.sheet!r} (from the mapping) not found; sheets: {wb.sheetnames}",
                                 file=name, row=0)
            sheets = [wb[opts.sheet]]
        else:
            sheets = list(wb.worksheets)
        for ws in sheets:
            rows = [(i, list(vals)) for i, vals in enumerate(ws.iter_rows(values_only=True), start=1)]
            rows = [(i, vals) for i, vals in rows if any(v not in (None, "") for v in vals)]
            if rows:
                return _xlsx_table(rows, name, ws.title, opts)
        raise InputError("workbook has no non-empty sheet", file=name, row=0)
    finally:
        wb.close()


def _xlsx_table(rows: list[tuple[int, list]], name: str, sheet: str, opts: ReadOptions) -> TextTable:
    cands = rows[:HEADER_SCAN_ROWS]
    if opts.header_row is not None:
        idx = next((k for k, (i, _) in enumerate(rows) if i == opts.header_row), None)
        if idx is None:
            raise InputError(f"header row {opts.header_row} (from the mapping) is blank or missing", file=name,
                             row=opts.header_row)
    else:
        idx = hdr.find_header_row([[_cell_text(v) for v in vals] for _, vals in cands], opts.template)
    header_line, header_vals = rows[idx]
    names = _check_headers([_cell_text(v) for v in header_vals], name, header_line)
    numeric = {h: True for h in names}
    body = []
    for rownum, vals in rows[idx + 1:]:
        for i, h in enumerate(names):
            v = vals[i] if i < len(vals) else None
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
                numeric[h] = False
        body.append((rownum, [_cell_text(v) for v in vals]))
    seen_any = {h: any((vals[i] if i < len(vals) else None) is not None for _, vals in rows[idx + 1:])
                for i, h in enumerate(names)}
    info = {"format": "xlsx", "sheet": sheet, "header_row": header_line,
            "preamble_rows": idx, "numeric_columns": sorted(h for h in names if numeric[h] and seen_any[h])}
    return TextTable(frame=_frame_from_rows(names, body), headers=names, header_row=header_line, info=info)


# ------------------------------------------------------------------ Parquet


def _read_parquet(raw: bytes, name: str) -> TextTable:
    try:
        df = pl.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # any unreadable parquet
        raise InputError(f"not a readable Parquet file: {type(exc).__name__}", file=name, row=0) from exc
    names = _check_headers(list(df.columns), name, 0)
    if len(names) != df.width:
        raise InputError("trailing columns without a name", file=name, row=0)
    df = df.rename(dict(zip(df.columns, names, strict=True)))
    numeric = sorted(c for c, t in df.schema.items() if t.is_numeric())
    cols = []
    for c, t in df.schema.items():
        if t.is_nested():
            cols.append(pl.col(c).cast(pl.String, strict=False))
        else:
            cols.append(pl.col(c).cast(pl.String))
    text = df.select(cols)
    stripped = [pl.col(c).str.strip_chars() for c in text.columns]
    text = text.select([pl.when(s == "").then(None).otherwise(s).alias(c) for s, c in zip(stripped, text.columns)])
    text = text.with_columns(pl.int_range(1, text.height + 1, dtype=pl.Int64).alias(ROW_COL),
                             pl.lit(None, pl.String).alias(ROW_ERROR))
    nonblank = pl.any_horizontal([pl.col(c).is_not_null() for c in names])
    info = {"format": "parquet", "header_row": 0, "numeric_columns": numeric}
    return TextTable(frame=text.filter(nonblank), headers=names, header_row=0, info=info)
