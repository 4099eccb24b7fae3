"""Client activity files: bronze rows (every cell as text) and canonical activities + rejects.

Invariant: for every file, accepted rows + rejected rows = rows read (the file's bronze rows).
A row is rejected with the file, row, column, value and a message; it is never silently dropped.
A file that cannot be read as a table at all (too large, empty, binary, duplicate headers, a single
column...) is read as ONE bronze row (its row number is where the problem is, 0 for the whole file)
that is rejected with the reason, so the invariant also holds for it.

Reading (engine/readers.py) finds the encoding, delimiter, sheet and header row; normalisation
(:func:`normalise_table`) is vectorised with polars: numbers per column (engine/numbers.py), dates
per column (engine/dates.py), units with pint (engine/units.py), currencies (engine/money.py), and
headers from the tenant's mapping template plus French/English synonyms (engine/headers.py).
The mapping applied to each file (field -> header, how it was found, number and date conventions,
encoding, delimiter, sheet, header row) is returned as a report and recorded in the lineage.
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import columns, dates, headers, money, numbers, readers, units
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.lineage import bytes_sha256
from carbon_assets.engine.params import validate_tenant_slug
from carbon_assets.engine.tables import ROW_COL

RAW_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "source_file": pl.String, "source_sha256": pl.String,
    "source_row": pl.Int64, "cells": pl.String, "read_info": pl.String,
}
ACTIVITY_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "activity_id": pl.String, "date": pl.Date, "site": pl.String,
    "region": pl.String, "description": pl.String, "activity_key": pl.String, "requested_factor_id": pl.String,
    "scope": pl.String, "scope3_category": pl.Int64, "category": pl.String, "quantity": pl.Float64,
    "unit": pl.String, "quantity_uncertainty_pct": pl.Float64, "source_file": pl.String,
    "source_sha256": pl.String, "source_row": pl.Int64, "amount": pl.Float64, "currency": pl.String,
}
REJECT_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "source_file": pl.String, "source_sha256": pl.String,
    "row": pl.Int64, "column": pl.String, "value": pl.String, "message": pl.String,
}
FILE_ERROR = "__file_error__"  # key of the single bronze cell of an unreadable file
ROW_ERROR_KEY = "__row_error__"  # bronze key of a row-level read error (more cells than headers)
FILE_COLUMN = "(file)"
EXTRA_COLUMN = "(extra cells)"
TOTAL_RE = r"(?i)^\s*(?:sous[-\s]?totale?s?|sub[-\s]?totals?|grand[-\s]total|totale?s?|totaux|somme|sum)\b"
DEFAULT_FILL_DOWN = ("site", "region")
ENGINE = "in-memory"  # polars engine for the normalisation queries (parallel over columns)


@dataclass(frozen=True)
class ColumnMapping:
    """A column-mapping template: canonical field -> accepted headers, plus reading options.

    YAML keys: ``columns`` (field -> list of headers), ``required`` (fields), and optional
    ``auto_headers`` (default true: French/English synonyms fill the fields the template misses),
    ``sheet``, ``header_row``, ``encoding``, ``delimiter``, ``decimal`` ("," or "."; default: detected
    per column), ``date_order`` (DMY or MDY; default: detected per column), ``fill_down`` (fields
    whose empty cells repeat the value above, as merged cells look; default site, region),
    ``max_mb`` (file size limit, default 50).
    """

    columns: dict[str, list[str]]
    required: tuple[str, ...]
    sha256: str
    auto_headers: bool = True
    sheet: str | None = None
    header_row: int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_order: str | None = None
    fill_down: tuple[str, ...] = DEFAULT_FILL_DOWN
    max_bytes: int = readers.DEFAULT_MAX_BYTES
    name: str = ""

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        raw = path.read_bytes()
        spec = yaml.safe_load(raw.decode("utf-8")) or {}
        return cls.from_spec(spec, sha256=bytes_sha256(raw), name=path.name)

    @classmethod
    def from_spec(cls, spec: dict, sha256: str = "", name: str = "") -> ColumnMapping:
        cols = {k: [str(h) for h in (v or [])] for k, v in (spec.get("columns") or {}).items()}
        numbers.forced(spec.get("decimal"))  # validate early
        dates.forced(spec.get("date_order"))
        max_mb = spec.get("max_mb")
        return cls(columns=cols, required=tuple(spec.get("required", ("date", "quantity", "unit"))),
                   sha256=sha256 or bytes_sha256(json.dumps(spec, sort_keys=True, default=str).encode()),
                   auto_headers=bool(spec.get("auto_headers", True)), sheet=spec.get("sheet"),
                   header_row=spec.get("header_row"), encoding=spec.get("encoding"),
                   delimiter=spec.get("delimiter"), decimal=spec.get("decimal"), date_order=spec.get("date_order"),
                   fill_down=tuple(spec.get("fill_down", DEFAULT_FILL_DOWN)),
                   max_bytes=int(float(max_mb) * 1024 * 1024) if max_mb else readers.DEFAULT_MAX_BYTES, name=name)

    def resolve(self, headers_: list[str]) -> dict[str, str]:
        """canonical field -> the file's header that holds it."""
        return headers.resolve(headers_, self.columns, self.auto_headers)[0]

    def read_options(self) -> readers.ReadOptions:
        return readers.ReadOptions(max_bytes=self.max_bytes, sheet=self.sheet, header_row=self.header_row,
                                   encoding=self.encoding, delimiter=self.delimiter, template=self.columns)


def tenant_mapping_path(tenants_dir: Path, tenant: str) -> Path:
    """The tenant's own template if it has one, else the default; never outside ``tenants_dir``."""
    validate_tenant_slug(tenant)
    own = (tenants_dir / tenant / "mapping.yaml").resolve()
    if own.parent.parent != tenants_dir.resolve():
        raise InputError("tenant mapping path escapes the tenants folder", file=str(own))
    return own if own.exists() else tenants_dir / "default_mapping.yaml"


def load_vocabulary(path: Path) -> dict[str, dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- bronze


@dataclass
class FileRead:
    """One file as read: a text table, or the reason it could not be read."""

    name: str
    sha256: str
    table: readers.TextTable | None = None
    error: InputError | None = None
    info: dict = field(default_factory=dict)


def read_file(name: str, path: Path, mapping: ColumnMapping | None = None) -> FileRead:
    opts = mapping.read_options() if mapping else readers.ReadOptions()
    raw = None
    try:
        if path.stat().st_size <= opts.max_bytes:
            raw = path.read_bytes()
        else:
            sha = _file_sha(path)
    except OSError as exc:
        return FileRead(name, "", error=InputError(f"cannot read file: {exc.strerror}", file=name, row=0))
    with ThreadPoolExecutor(max_workers=1) as pool:  # hashlib releases the GIL: hash while parsing
        hashing = pool.submit(bytes_sha256, raw) if raw is not None else None
        try:
            table = readers.read_table(path, name, opts, raw=raw)
        except InputError as exc:
            table, error = None, exc
        if hashing is not None:
            sha = hashing.result()
    if table is None:
        return FileRead(name, sha, error=error, info={"error": error.reason})
    return FileRead(name, sha, table=table, info=table.info)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dedupe_by_content(files: list[tuple[str, Path]]) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The files with distinct content (first name wins), and {skipped name: name it duplicates}."""
    kept: list[tuple[str, Path]] = []
    first: dict[str, str] = {}
    dupes: dict[str, str] = {}
    for name, path in files:
        sha = _file_sha(path)
        if sha in first:
            dupes[name] = first[sha]
            continue
        first[sha] = name
        kept.append((name, path))
    return kept, dupes


def _bronze(fr: FileRead, tenant: str, year: str) -> pl.DataFrame:
    if fr.table is None:
        err = fr.error
        cells = json.dumps({FILE_ERROR: err.reason if err else "unreadable", "column": err.column if err else None,
                            "value": None if err is None or err.value is None else str(err.value)},
                           ensure_ascii=False)
        return pl.DataFrame({"tenant": [tenant], "year": [year], "source_file": [fr.name],
                             "source_sha256": [fr.sha256], "source_row": [err.row if err and err.row else 0],
                             "cells": [cells], "read_info": [json.dumps(fr.info, sort_keys=True)]}, schema=RAW_SCHEMA)
    t = fr.table
    cols = [pl.col(h) for h in t.headers]
    if t.frame[readers.ROW_ERROR].null_count() < t.frame.height:
        cols.append(pl.col(readers.ROW_ERROR).alias(ROW_ERROR_KEY))
    df = t.frame.select(
        pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"), pl.lit(fr.name).alias("source_file"),
        pl.lit(fr.sha256).alias("source_sha256"), pl.col(ROW_COL).alias("source_row"),
        pl.struct(cols).struct.json_encode().alias("cells"),
        pl.lit(json.dumps(fr.info, sort_keys=True)).alias("read_info"),
    )
    return df.cast(RAW_SCHEMA)


def read_raw(files: list[tuple[str, Path]], tenant: str, year: str,
             mapping: ColumnMapping | None = None) -> pl.DataFrame:
    """Bronze rows of the given (name, path) files: every cell as text, file hash and row number."""
    frames = [_bronze(read_file(name, path, mapping), tenant, year) for name, path in files]
    return pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)


def _from_bronze(part: pl.DataFrame) -> FileRead:
    """Rebuild the text table of one file from its bronze rows."""
    name, sha = part["source_file"][0], part["source_sha256"][0]
    info = json.loads(part["read_info"][0] or "{}")
    first = json.loads(part["cells"][0])
    if FILE_ERROR in first:
        err = InputError(first[FILE_ERROR], file=name, row=int(part["source_row"][0]), column=first.get("column"),
                         value=first.get("value"))
        return FileRead(name, sha, error=err, info=info)
    keys = list(first)
    hdrs = [k for k in keys if k != ROW_ERROR_KEY]
    blob = part["cells"].str.join("\n").item().encode("utf-8")
    schema = {k: pl.String for k in keys}
    frame = pl.read_ndjson(io.BytesIO(blob), schema=schema)
    if ROW_ERROR_KEY not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(ROW_ERROR_KEY))
    frame = frame.rename({ROW_ERROR_KEY: readers.ROW_ERROR}).with_columns(part["source_row"].alias(ROW_COL))
    table = readers.TextTable(frame=frame, headers=hdrs, header_row=int(info.get("header_row") or 0), info=info)
    return FileRead(name, sha, table=table, info=info)


# ---------------------------------------------------------------- silver


def activity_id_prefix(tenant: str, file_sha: str) -> str:
    return hashlib.sha256(f"{tenant}|{file_sha}".encode()).hexdigest()[:16]


def activity_id(tenant: str, file_sha: str, row: int) -> str:
    """Stable id of a line: hash of tenant and file content, then the row number."""
    return f"{activity_id_prefix(tenant, file_sha)}-{row}"


def _empty(expr: pl.Expr) -> pl.Expr:
    return expr.is_null() | (expr.str.strip_chars() == "")


def _all_rejected(fr: FileRead, tenant: str, year: str, rows: pl.Series, column: str, value: str | None,
                  message: str) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame({"tenant": [tenant] * n, "year": [year] * n, "source_file": [fr.name] * n,
                         "source_sha256": [fr.sha256] * n, "row": rows, "column": [column] * n,
                         "value": [value] * n, "message": [message] * n}, schema=REJECT_SCHEMA)


def _unit_lookup(values: list[str]) -> dict[str, str]:
    def parsed(v: str) -> str | None:
        try:
            u = units.parse_unit(v)
        except Exception:  # noqa: BLE001 - pint raises UnitError, but also e.g. ZeroDivisionError on "1/0"
            return None
        return v.strip() if u.basis else u.expr

    return {v: out for v in values if (out := parsed(v)) is not None}


def _currency_lookup(values: list[str]) -> dict[str, str]:
    def code(v: str) -> str | None:
        try:
            return money.currency_code(v)
        except money.MoneyError:
            return None

    return {v: c for v in values if (c := code(v)) is not None}


def _per_value(cells: pl.Series, lookup, dtype: pl.DataType, name: str) -> pl.Series:
    """``lookup`` (distinct values -> {value: result}) applied once per distinct cell, spread over the cells."""
    codes, values = columns.distinct(cells)
    found = lookup(values.to_list())
    return columns.gather_by_code([found.get(v) for v in values.to_list()], codes, dtype, name)


def _read_dates(cells: pl.Series, date_order: str | None) -> tuple[pl.DataFrame, str]:
    """``__d_val`` (Date) and ``__d_status`` of a date column, and the column's day/month order.
    Each distinct value is parsed once: a ledger repeats its dates."""
    column = cells.name
    codes, values = columns.distinct(cells)
    u = values.to_frame(column)
    with_time = bool(u[column].str.contains(":", literal=True).any())
    lf = u.lazy()
    for stage in dates.prepare(column, "__d_", with_time=with_time):
        lf = lf.with_columns(stage)
    u = lf.collect()
    order = dates.forced(date_order) or dates.detect(u, "__d_")[0]
    lf = u.lazy()
    for stage in dates.finish("__d_", order):
        lf = lf.with_columns(stage)
    u = lf.collect()
    return pl.DataFrame([columns.gather_by_code(u["__d_val"].to_list(), codes, pl.Date, "__d_val"),
                         columns.gather_by_code(u["__d_status"].to_list(), codes, pl.String, "__d_status")]), order


def _total_at(df: pl.DataFrame, headers: list[str]) -> pl.Series:
    """``__total_at``: index of the first header whose cell reads as a total or subtotal label.
    Only rows without a date value can be rejected as totals, so only they are searched."""
    where = df.select(pl.arg_where(pl.col("__d_val").is_null())).to_series()
    hits = df.select(headers)[where].select(
        pl.coalesce([pl.when(pl.col(h).str.contains(TOTAL_RE).fill_null(False)).then(pl.lit(i, pl.Int32))
                     for i, h in enumerate(headers)]).alias("__total_at")).to_series()
    out = pl.repeat(None, df.height, dtype=pl.Int32, eager=True).alias("__total_at")
    return out.scatter(where, hits) if len(where) else out


def normalise_table(fr: FileRead, tenant: str, year: str, mapping: ColumnMapping,
                    vocabulary: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(activities, rejects, report) of one file read (see the module docstring)."""
    report: dict = {"file": fr.name, "sha256": fr.sha256, "read": fr.info}
    if fr.table is None:
        err = fr.error
        rej = _all_rejected(fr, tenant, year, pl.Series([err.row or 0], dtype=pl.Int64),
                            err.column or FILE_COLUMN, None if err.value is None else str(err.value), err.reason)
        report.update(rows_read=1, accepted=0, rejected=1, error=err.reason)
        return pl.DataFrame(schema=ACTIVITY_SCHEMA), rej, report
    t = fr.table
    df = t.frame
    rows = df[ROW_COL]
    fmap, how = headers.resolve(t.headers, mapping.columns, mapping.auto_headers)
    report.update(rows_read=df.height, mapping={k: fmap[k] for k in sorted(fmap)},
                  found_by={k: how[k] for k in sorted(how)}, template=mapping.name, template_sha256=mapping.sha256)
    spend_ok = "amount" in fmap
    missing = [f for f in mapping.required if f not in fmap and not (f in ("quantity", "unit") and spend_ok)]
    if missing:
        f = missing[0]
        accepted = mapping.columns.get(f) or list(headers.SYNONYMS.get(f, ()))[:6]
        msg = f"missing column for {f!r} (accepted headers: {accepted}; file headers: {t.headers})"
        report.update(accepted=0, rejected=df.height)
        return pl.DataFrame(schema=ACTIVITY_SCHEMA), _all_rejected(fr, tenant, year, rows, f, None, msg), report
    if "activity_key" not in fmap and "factor_id" not in fmap:
        msg = "missing column: need activity_key or factor_id (e.g. headers 'activity_key', 'activite')"
        report.update(accepted=0, rejected=df.height)
        return (pl.DataFrame(schema=ACTIVITY_SCHEMA),
                _all_rejected(fr, tenant, year, rows, "activity_key", None, msg), report)

    fill = [fmap[f] for f in mapping.fill_down if f in fmap]
    if fill:
        df = df.with_columns([pl.col(h).forward_fill() for h in fill])
    numeric_cols = set((fr.info or {}).get("numeric_columns") or [])
    num_fields = [f for f in ("quantity", "amount", "quantity_uncertainty_pct") if f in fmap]
    prefixes = {"quantity": "__q_", "amount": "__a_", "quantity_uncertainty_pct": "__u_"}

    def col(f: str) -> pl.Expr:
        return pl.col(fmap[f]) if f in fmap else pl.lit(None, pl.String)

    def text(f: str) -> pl.Expr:  # cells come stripped, empty ones as null (engine/readers.py)
        return col(f)

    # stage 1: helper columns, each cell read once (numbers by the Rust kernel when installed)
    stages: list[list[pl.Expr]] = [[col(f).is_null().alias(f"__e_{f}") for f in
                                    ("date", "quantity", "amount", "unit", "currency", "activity_key", "factor_id")]]
    kernel = numbers.text_kernel() is not None
    per_field: list[list[list[pl.Expr]]] = []
    for f in num_fields:
        h, p = fmap[f], prefixes[f]
        if h in numeric_cols:
            per_field.append(numbers.prepare_canonical(h, p))
        elif kernel:
            df = df.hstack(numbers.parse(df[h], p, currency=(f == "amount")).get_columns())
        else:
            per_field.append(numbers.prepare(h, p, currency=(f == "amount")))
    for group in per_field:
        for i, stage in enumerate(group):
            if i + 1 >= len(stages):
                stages.append([])
            stages[i + 1] += stage
    lf = df.lazy()
    for stage in stages:
        lf = lf.with_columns(stage)
    df = lf.collect(engine=ENGINE)

    conventions: dict[str, str] = {}
    for f in num_fields:
        conv = numbers.forced(mapping.decimal)
        if conv is None:
            conv = numbers.CANONICAL if fmap[f] in numeric_cols else numbers.detect(df, prefixes[f])[0]
        conventions[f] = conv
    if "date" in fmap:
        date_cols, order = _read_dates(df[fmap["date"]], mapping.date_order)
    else:
        date_cols, order = pl.DataFrame({"__d_val": pl.repeat(None, df.height, dtype=pl.Date, eager=True),
                                         "__d_status": pl.repeat(None, df.height, dtype=pl.String, eager=True)}), None
    df = df.hstack(date_cols.get_columns())
    df = df.with_columns(_total_at(df, t.headers))
    report["conventions"] = {"number": {fmap[f]: c for f, c in conventions.items()},
                             "date_order": {fmap["date"]: order} if order else {}}
    finish = [numbers.finish(prefixes[f], conventions[f]) for f in num_fields]
    # attributes of the unit, currency and key cells: looked up once per distinct value
    vocab_keys = list(vocabulary)
    looked_up = [
        _per_value(df[fmap["unit"]], _unit_lookup, pl.String, "__unit") if "unit" in fmap
        else pl.repeat(None, df.height, dtype=pl.String, eager=True).alias("__unit"),
        _per_value(df[fmap["currency"]], _currency_lookup, pl.String, "__cur_cell") if "currency" in fmap
        else pl.repeat(None, df.height, dtype=pl.String, eager=True).alias("__cur_cell"),
        # position of the line's key in the vocabulary (null when unknown): one lookup for every attribute
        _per_value(df[fmap["activity_key"]], lambda _: {k: i for i, k in enumerate(vocab_keys)}, pl.UInt32,
                   "__key_idx") if "activity_key" in fmap
        else pl.repeat(None, df.height, dtype=pl.UInt32, eager=True).alias("__key_idx"),
    ]
    df = df.hstack(looked_up)
    frame_columns = df.columns
    lf = df.lazy()  # from here on one lazy query, collected once for both outputs
    for i in range(max((len(g) for g in finish), default=0)):
        lf = lf.with_columns([e for g in finish if i < len(g) for e in g[i]])
    none_s = pl.lit(None, pl.String)

    # stage 2: parsed values and statuses
    stage2: list[pl.Expr] = [
        (pl.col("__a_cur").replace_strict({**money.SYMBOLS, **{c: c for c in money.ISO_4217}}, default=None,
                                          return_dtype=pl.String) if "amount" in conventions else none_s).alias("__cur_sym"),
        (pl.col("__e_quantity") & ~pl.col("__e_amount")).alias("__spend") if "amount" in fmap
        else pl.lit(False).alias("__spend"),
    ]
    lf = lf.with_columns(stage2)
    lf = lf.with_columns(pl.coalesce(pl.col("__cur_cell"), pl.col("__cur_sym")).alias("__currency"))

    spend, currency = pl.col("__spend"), pl.col("__currency")
    e = {f: pl.col(f"__e_{f}") for f in ("date", "quantity", "amount", "unit", "currency", "activity_key",
                                          "factor_id")}
    key = col("activity_key")

    def hdr(f: str) -> str:
        return fmap.get(f, f)

    def status_msg(st: str, prefix: str, conv: str | None) -> pl.Expr:
        return pl.format(prefix + ": {}", pl.col(st).replace_strict(
            {s: numbers.status_message(s, conv or "") for s in
             (numbers.NOT_A_NUMBER, numbers.AMBIGUOUS_VALUE, numbers.MIXED_VALUE)}, default="not a number"))

    total_header = pl.col("__total_at").replace_strict(dict(enumerate(t.headers)), default=None,
                                                       return_dtype=pl.String)
    total_value = pl.coalesce([pl.when(pl.col("__total_at") == i).then(pl.col(h)) for i, h in enumerate(t.headers)])
    # (condition, column, value, message), in the order they are tried: the first failing check is the reason
    checks: list[tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]] = [
        (pl.col(readers.ROW_ERROR).is_not_null(), pl.lit(EXTRA_COLUMN), none_s, pl.col(readers.ROW_ERROR)),
        (pl.col("__total_at").is_not_null() & pl.col("__d_val").is_null(), total_header, total_value,
         pl.lit("total or subtotal row, not an activity line")),
    ]
    if "date" in mapping.required:
        checks.append((e["date"], pl.lit(hdr("date")), col("date"), pl.lit("empty date")))
    qa_header = hdr("quantity") if "quantity" in fmap or "amount" not in fmap else hdr("amount")
    checks.append((e["quantity"] & e["amount"], pl.lit(qa_header), none_s, pl.lit("empty quantity")))
    if "unit" in mapping.required:
        checks.append((~spend & e["unit"], pl.lit(hdr("unit")), col("unit"), pl.lit("empty unit")))
    if "quantity" in conventions:
        checks += [
            (~e["quantity"] & pl.col("__q_status").is_not_null(), pl.lit(hdr("quantity")), col("quantity"),
             status_msg("__q_status", "quantity", conventions["quantity"])),
            (~e["quantity"] & pl.col("__q_pct"), pl.lit(hdr("quantity")), col("quantity"),
             pl.lit("quantity: a percentage where a quantity is expected")),
        ]
    if "amount" in conventions:
        checks += [
            (spend & pl.col("__a_status").is_not_null(), pl.lit(hdr("amount")), col("amount"),
             status_msg("__a_status", "amount", conventions["amount"])),
            (spend & ~e["currency"] & pl.col("__cur_cell").is_null(), pl.lit(hdr("currency")), col("currency"),
             pl.lit("not an ISO 4217 currency code")),
            (spend & currency.is_null() & pl.col("__a_cur").is_in(list(money.AMBIGUOUS_SYMBOLS)),
             pl.lit(hdr("amount")), col("amount"),
             pl.lit("ambiguous currency symbol: give an ISO 4217 code (currency column)")),
            (spend & currency.is_null(), pl.lit(hdr("currency")), col("currency"),
             pl.lit("spend line without a currency (ISO 4217 code column or symbol)")),
        ]
    checks += [
        (~spend & ~e["unit"] & pl.col("__unit").is_null(), pl.lit(hdr("unit")), col("unit"), pl.lit("unknown unit")),
        (pl.col("__d_status").is_not_null(), pl.lit(hdr("date")), col("date"),
         pl.col("__d_status").replace_strict({s: dates.status_message(s) for s in
                                              (dates.NOT_A_DATE, dates.AMBIGUOUS_VALUE, dates.MIXED_VALUE)},
                                             default="not a date")),
        (pl.col("__d_val").dt.year() != int(year), pl.lit(hdr("date")), col("date"),
         pl.lit(f"date is outside the partition year {year}")),
        (e["activity_key"] & e["factor_id"], pl.lit(hdr("activity_key")), none_s,
         pl.lit("neither activity_key nor factor_id given")),
        (~e["activity_key"] & pl.col("__key_idx").is_null(), pl.lit(hdr("activity_key")), key,
         pl.lit("unknown activity_key (see data/activity_keys.yaml)")),
    ]
    if "quantity_uncertainty_pct" in conventions:
        checks.append((pl.col("__u_status").is_not_null(), pl.lit(hdr("quantity_uncertainty_pct")),
                       col("quantity_uncertainty_pct"), pl.lit("uncertainty is not a number")))

    # stage 3: index of the first failing check, then its column / value / message
    lf = lf.with_columns(pl.coalesce([pl.when(c.fill_null(False)).then(pl.lit(i, pl.Int32))
                                      for i, (c, _, _, _) in enumerate(checks)]).alias("__fail"))
    keep = [*t.headers, ROW_COL, readers.ROW_ERROR, "__fail", "__d_val", "__unit", "__currency", "__spend",
            "__total_at", "__e_activity_key", "__a_cur", "__key_idx",
            *[f"{prefixes[f]}{k}" for f in num_fields for k in ("val", "status", "pct")], "__d_status", "__cur_cell"]
    derived = {"__fail", "__d_val", "__unit", "__currency", "__spend", "__total_at", "__d_status", "__cur_cell",
               "__key_idx",
               *[f"{prefixes[f]}{k}" for f in num_fields for k in ("val", "status")]}
    checked = lf.select([c for c in dict.fromkeys(keep) if c in frame_columns or c in derived]).collect(engine=ENGINE)
    bad = checked.lazy().filter(pl.col("__fail").is_not_null())
    ok = checked.lazy().filter(pl.col("__fail").is_null())

    def pick(k: int) -> pl.Expr:
        return pl.coalesce([pl.when(pl.col("__fail") == i).then(chk[k].cast(pl.String))
                            for i, chk in enumerate(checks)])

    rejects = bad.select(
        pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"), pl.lit(fr.name).alias("source_file"),
        pl.lit(fr.sha256).alias("source_sha256"), pl.col(ROW_COL).alias("row"), pick(1).alias("column"),
        pick(2).alias("value"), pick(3).alias("message"),
    ).cast(REJECT_SCHEMA)

    prefix = activity_id_prefix(tenant, fr.sha256)
    voc = {k: v or {} for k, v in vocabulary.items()}
    q_value = pl.col("__q_val") if "quantity" in conventions else pl.lit(None, pl.Float64)
    a_value = pl.col("__a_val") if "amount" in conventions else pl.lit(None, pl.Float64)

    def lookup(attr: str, dtype) -> pl.Expr:
        values = pl.Series([voc[k].get(attr) for k in vocab_keys], dtype=dtype)
        return pl.lit(values).gather(pl.col("__key_idx")) if vocab_keys else pl.lit(None, dtype)

    acts = ok.select(
        pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"),
        none_s.alias("activity_id"),  # written below from source_row
        pl.col("__d_val").alias("date"), text("site").alias("site"), text("region").alias("region"),
        text("description").alias("description"), key.alias("activity_key"),
        text("factor_id").alias("requested_factor_id"),
        lookup("scope", pl.String).alias("scope"), lookup("scope3_category", pl.Int64).alias("scope3_category"),
        lookup("category", pl.String).alias("category"),
        pl.when(spend).then(a_value).otherwise(q_value).alias("quantity"),
        pl.when(spend).then(currency).otherwise(pl.col("__unit")).alias("unit"),
        (pl.col("__u_val") if "quantity_uncertainty_pct" in conventions else pl.lit(None, pl.Float64))
        .alias("quantity_uncertainty_pct"),
        pl.lit(fr.name).alias("source_file"), pl.lit(fr.sha256).alias("source_sha256"),
        pl.col(ROW_COL).alias("source_row"),
        pl.when(spend).then(a_value).otherwise(None).alias("amount"),
        pl.when(spend).then(currency).otherwise(None).alias("currency"),
    ).cast(ACTIVITY_SCHEMA)
    rejects, acts = pl.collect_all([rejects, acts], engine=ENGINE)
    acts = acts.with_columns(columns.prefixed(f"{prefix}-", acts["source_row"], "activity_id"))
    report.update(accepted=acts.height, rejected=rejects.height)
    return acts, rejects, report


def _concat(frames: list[pl.DataFrame], schema: dict) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def normalise_with_report(raw: pl.DataFrame, mapping: ColumnMapping,
                          vocabulary: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """Canonical activities, rejects and one report per file, from bronze rows."""
    acts, rejs, reports = [], [], []
    if raw.height == 0:
        return pl.DataFrame(schema=ACTIVITY_SCHEMA), pl.DataFrame(schema=REJECT_SCHEMA), []
    tenant, year = raw["tenant"][0], raw["year"][0]
    for (name,), part in raw.group_by("source_file", maintain_order=True):
        fr = _from_bronze(part.sort("source_row"))
        a, r, rep = normalise_table(fr, part["tenant"][0] or tenant, part["year"][0] or year, mapping, vocabulary)
        acts.append(a)
        rejs.append(r)
        reports.append(rep)
    return _concat(acts, ACTIVITY_SCHEMA), _concat(rejs, REJECT_SCHEMA), reports


def normalise(raw: pl.DataFrame, mapping: ColumnMapping, vocabulary: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical activities and rejects from bronze rows (see module docstring for the invariant)."""
    acts, rejects, _ = normalise_with_report(raw, mapping, vocabulary)
    return acts, rejects


def ingest_files(files: list[tuple[str, Path]], tenant: str, year: str, mapping: ColumnMapping,
                 vocabulary: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    """Files straight to activities + rejects (same result as read_raw then normalise, without bronze)."""
    acts, rejs, reports = [], [], []
    for name, path in files:
        a, r, rep = normalise_table(read_file(name, path, mapping), tenant, year, mapping, vocabulary)
        acts.append(a)
        rejs.append(r)
        reports.append(rep)
    return _concat(acts, ACTIVITY_SCHEMA), _concat(rejs, REJECT_SCHEMA), reports


def applied_mapping_sha256(reports: list[dict]) -> str:
    """Hash of the mappings applied to every file (field -> header, conventions, read options)."""
    keep = [{k: r.get(k) for k in ("file", "sha256", "mapping", "conventions", "read", "template_sha256")}
            for r in reports]
    return bytes_sha256(json.dumps(keep, sort_keys=True, default=str).encode())
