"""Emission-factor sources read through YAML mappings into one canonical factor table.

A mapping (``data/mappings/<source>.yaml``) declares how to read one publisher layout: file
reading, row filters, column -> field, id template, per-gas rows, constants (region, GWP set,
validity), uncertainty convention and the activity keys each row can serve. Adding a source
with an existing layout kind means writing YAML only.

Mapping keys beyond the basics (see data/mappings/ademe_base_carbone.yaml for all of them):
``read.filters`` (``column: value``, ``column: [values]``, ``column: {in: [...], not_in: [...]}``),
``unit_pattern`` (regex whose ``unit`` group is the activity unit, e.g. ``kgCO2e/(?P<unit>.+)``),
``region_map`` + ``region_unmapped`` (keep | error), ``validity`` (period column parsed by declared
``formats``, optional ``from_column``, ``empty``: open | error), ``tolerate`` (unknown_unit,
unparsed_validity: such rows are skipped and reported instead of failing the file).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import gwp as gwp_mod
from carbon_assets.engine import units
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.lineage import file_sha256
from carbon_assets.engine.tables import ROW_COL, read_text_table

GAS_COLUMNS = ("co2_fossil", "ch4_fossil", "ch4_biogenic", "ch4", "n2o", "other")

FACTOR_SCHEMA: dict[str, pl.DataType] = {
    "factor_id": pl.String,
    "namespace": pl.String,
    "source": pl.String,
    "source_id": pl.String,
    "name": pl.String,
    "category": pl.String,
    "activity_key": pl.String,
    "region": pl.String,
    "unit": pl.String,
    "unit_basis": pl.String,
    "value_kgco2e": pl.Float64,
    "gwp_set": pl.String,
    **{g: pl.Float64 for g in GAS_COLUMNS},
    "gas_basis": pl.String,
    "co2_biogenic": pl.Float64,
    "uncertainty_pct": pl.Float64,
    "uncertainty_note": pl.String,
    "dist": pl.String,
    "dist_convention": pl.String,
    "dist_param": pl.Float64,
    "scope_applicable": pl.String,
    "valid_from": pl.Date,
    "valid_to": pl.Date,
    "year_fallback": pl.String,
    "source_file": pl.String,
    "source_row": pl.Int64,
    "source_url": pl.String,
}

# Uncertainty conventions (DOMAIN.md): u = published % read as the half-width of a ~95% interval.
CONVENTIONS = {
    "lognormal_95": ("lognormal", lambda u: math.log1p(u) / 1.96),  # median = value, sigma_ln
    "normal_95": ("normal", lambda u: u / 1.96),  # mean = value, relative sd
}


@dataclass(frozen=True)
class Mapping:
    path: Path
    spec: dict

    @property
    def name(self) -> str:
        return self.spec["source"]

    @property
    def namespace(self) -> str:
        return self.spec["namespace"]

    def files(self, factors_dir: Path) -> list[Path]:
        return [factors_dir / f for f in self.spec["files"]]


_REQUIRED = ("source", "namespace", "files", "read", "columns")


def load_mapping(path: Path) -> Mapping:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=str(path)) from exc
    if not isinstance(spec, dict):
        raise InputError("a mapping must be a YAML mapping", file=str(path))
    for key in _REQUIRED:
        if key not in spec:
            raise InputError(f"mapping lacks required key {key!r}", file=str(path), column=key)
    conv = spec.get("uncertainty", {}).get("convention", "lognormal_95")
    if conv not in CONVENTIONS:
        raise InputError(f"unknown uncertainty convention {conv!r}; known: {sorted(CONVENTIONS)}",
                         file=str(path), column="uncertainty.convention", value=conv)
    for key, allowed in (("region_unmapped", ("keep", "error")), ("tolerate", TOLERABLE)):
        values = spec.get(key)
        for v in (values if isinstance(values, list) else [values] if values is not None else []):
            if v not in allowed:
                raise InputError(f"{key} must be one of {list(allowed)}", file=str(path), column=key, value=v)
    validity = spec.get("validity")
    if validity is not None:
        if not isinstance(validity, dict) or "period_column" not in validity:
            raise InputError("validity needs a period_column", file=str(path), column="validity")
        if validity.get("empty", "error") not in ("open", "error"):
            raise InputError("validity.empty must be open or error", file=str(path), column="validity.empty",
                             value=validity.get("empty"))
        for f in validity.get("formats", []):
            if f.get("means") not in PERIOD_MEANINGS:
                raise InputError(f"unknown validity format meaning; known: {list(PERIOD_MEANINGS)}",
                                 file=str(path), column="validity.formats", value=f.get("means"))
    return Mapping(path=path, spec=spec)


def discover_mappings(mappings_dir: Path) -> list[Mapping]:
    return [load_mapping(p) for p in sorted(mappings_dir.glob("*.yaml"))]


def mappings_for_namespace(mappings_dir: Path, namespace: str) -> list[Mapping]:
    return [m for m in discover_mappings(mappings_dir) if m.namespace == namespace]


# ---------------------------------------------------------------- cell parsing


def parse_number(text: str | None, *, decimal: str = ".", file: str, row: int, column: str) -> float | None:
    if text is None:
        return None
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if s == "" or s in ("-", "n/a", "N/A", "not-supplied"):
        return None
    if decimal == ",":
        s = s.replace(".", "").replace(",", ".") if re.search(r",\d", s) else s
    try:
        return float(s)
    except ValueError:
        raise InputError("not a number", file=file, row=row, column=column, value=text) from None


def parse_date(text: str | None, *, file: str, row: int, column: str) -> dt.date | None:
    if text is None:
        return None
    s = text.strip()
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            pass
    raise InputError("not a date (expected YYYY-MM-DD or DD/MM/YYYY)", file=file, row=row, column=column, value=text)


def parse_scope(text: str | None, *, file: str, row: int, column: str) -> str | None:
    if text is None:
        return None
    m = re.fullmatch(r"(?:scope\s*)?([123])", text.strip(), re.IGNORECASE)
    if m:
        return m.group(1)
    if text.strip().lower().startswith("outside"):
        return "outside"
    raise InputError("not a scope (expected 1, 2, 3 or 'Scope N')", file=file, row=row, column=column, value=text)


# ---------------------------------------------------------------- normalisation


def _col(df: pl.DataFrame, name: str, mapping: Mapping, path: Path | None = None) -> str:
    if name not in df.columns:
        hint = ("; the header looks mis-decoded: wrong encoding declared?"
                if any("Ã" in c or "\ufffd" in c for c in df.columns) else "")
        where = f" required by mapping {mapping.path.name}" if path is not None else ""
        raise InputError(f"missing column {name!r}{where}{hint} (columns: {df.columns})",
                         file=str(path if path is not None else mapping.path), column=name)
    return name


def _apply_read_limits(df: pl.DataFrame, read: dict, mapping: Mapping, path: Path | None = None) -> pl.DataFrame:
    stop = read.get("stop_when")
    if stop:
        col = _col(df, stop["column"], mapping, path)
        hits = df.with_row_index("__i").filter(pl.col(col) == stop["equals"])
        if hits.height == 0:
            raise InputError(f"end marker {stop['equals']!r} not found: truncated file?",
                             file=str(path if path is not None else mapping.path), column=col)
        df = df.head(hits["__i"][0])
    for col, rule in (read.get("filters") or {}).items():
        c = pl.col(_col(df, col, mapping, path))
        if isinstance(rule, dict):  # {in: [...]} and/or {not_in: [...]} (a null cell is never "in")
            unknown = set(rule) - {"in", "not_in"}
            if unknown:
                raise InputError(f"unknown filter operator(s) {sorted(unknown)} (expected in, not_in)",
                                 file=str(mapping.path), column=f"read.filters.{col}")
            if "in" in rule:
                df = df.filter(c.is_in(_as_list(rule["in"])))
            if "not_in" in rule:
                df = df.filter(c.is_null() | ~c.is_in(_as_list(rule["not_in"])))
        else:
            df = df.filter(c.is_in(_as_list(rule)))
    return df


def _as_list(v) -> list:
    return [str(x) for x in (v if isinstance(v, list) else [v])]


def _match(row: dict, where: dict) -> bool:
    return all(row.get(col) == val for col, val in where.items())


def read_source(mapping: Mapping, factors_dir: Path, skipped: list[dict] | None = None) -> pl.DataFrame:
    """All factors of one mapping, in FACTOR_SCHEMA; raises InputError on any unusable cell.

    A mapping may declare ``tolerate: [unknown_unit, unparsed_validity]``: rows with only those
    problems are left out instead of failing the file, and each is appended to ``skipped`` as
    {file, row, column, value, reason} so that the caller can count and report them.
    """
    frames = [_read_file(mapping, path, skipped) for path in mapping.files(factors_dir)]
    return pl.concat(frames) if frames else pl.DataFrame(schema=FACTOR_SCHEMA)


TOLERABLE = ("unknown_unit", "unparsed_validity")


def _read_file(mapping: Mapping, path: Path, skipped: list[dict] | None = None) -> pl.DataFrame:
    spec, read = mapping.spec, mapping.spec["read"]
    df = read_text_table(path, fmt=read["format"], sheet=read.get("sheet"),
                         header_row=int(read.get("header_row", 1)), encoding=read.get("encoding", "utf-8"),
                         separator=read.get("separator", ","))
    df = _apply_read_limits(df, read, mapping, path)
    cols, const = spec["columns"], spec.get("constants", {})
    decimal = read.get("decimal", ".")
    fname = str(path.name)
    gas_rows = spec.get("gas_rows")
    unc = spec.get("uncertainty", {})
    dist_name, param_fn = CONVENTIONS[unc.get("convention", "lognormal_95")]
    keys = spec.get("activity_keys", [])
    id_strip = re.compile(spec.get("id", {}).get("strip_suffix", r"(?!)"))

    for field in ("source_id", "unit", "value"):
        if field not in cols:
            raise InputError(f"mapping lacks columns.{field}", file=str(mapping.path), column=field)
    needed = [c for v in cols.values() for c in (v if isinstance(v, list) else [v])]
    if gas_rows:
        needed.append(gas_rows["column"])
    validity = spec.get("validity")
    if validity:
        needed += [validity["period_column"]] + ([validity["from_column"]] if validity.get("from_column") else [])
    tolerate = set(spec.get("tolerate", []))
    if tolerate - set(TOLERABLE):
        raise InputError(f"unknown tolerate entries {sorted(tolerate - set(TOLERABLE))}; known: {list(TOLERABLE)}",
                         file=str(mapping.path), column="tolerate")
    unit_pattern = re.compile(spec["unit_pattern"]) if spec.get("unit_pattern") else None
    region_map = {str(k): str(v) for k, v in (spec.get("region_map") or {}).items()}
    region_unmapped = spec.get("region_unmapped", "keep")
    for c in needed:
        _col(df, c, mapping, path)

    def cell(r: dict, field: str):
        src = cols.get(field)
        if src is None:
            return const.get(field)
        if isinstance(src, list):
            return " / ".join(r[c] for c in src if r.get(c))
        return r.get(src)

    records: dict[str, dict] = {}
    for r in df.iter_rows(named=True):
        rownum = r[ROW_COL]
        sid_raw = cell(r, "source_id")
        if not sid_raw:
            raise InputError("empty factor id", file=fname, row=rownum, column=cols["source_id"])
        sid = id_strip.sub("", sid_raw)
        fid = f"{mapping.namespace}:{sid}"
        value_col = cols["value"]
        value = parse_number(r.get(value_col), decimal=decimal, file=fname, row=rownum, column=value_col)
        rec = records.get(fid)
        if gas_rows:  # one row per gas: the total row opens the record, gas rows fill its gas columns
            label = r[gas_rows["column"]]
            if label == gas_rows["total"]:
                if rec is not None:
                    raise InputError("duplicate factor id", file=fname, row=rownum, column=cols["source_id"],
                                     value=sid_raw)
            else:
                gas = gas_rows["gases"].get(label)
                if gas is None:
                    raise InputError("unknown gas row label", file=fname, row=rownum,
                                     column=gas_rows["column"], value=label)
                if rec is None:
                    raise InputError("gas row before its total row", file=fname, row=rownum,
                                     column=cols["source_id"], value=sid_raw)
                rec[gas] = value
                continue
        elif rec is not None:
            raise InputError("duplicate factor id", file=fname, row=rownum, column=cols["source_id"], value=sid_raw)
        if value is None:
            raise InputError("empty factor value", file=fname, row=rownum, column=value_col, value="")
        if value < 0 and not spec.get("allow_negative", False):
            raise InputError("negative factor value (declare allow_negative in the mapping if intended)",
                             file=fname, row=rownum, column=value_col, value=r.get(value_col))
        unit_text = cell(r, "unit")
        try:
            parsed = _parse_unit(unit_text, unit_pattern)
        except units.UnitError as exc:
            err = InputError(str(exc), file=fname, row=rownum, column=cols["unit"], value=unit_text)
            if "unknown_unit" in tolerate:
                _skip(skipped, err)
                continue
            raise err from None
        u_col = cols.get("uncertainty_pct")
        u_pct = (parse_number(r.get(u_col), decimal=decimal, file=fname, row=rownum, column=u_col)
                 if u_col else None)
        u_note = "published" if u_pct is not None else None
        if u_pct is None and "default_pct" in unc:
            u_pct, u_note = float(unc["default_pct"]), unc.get("note", "mapping default")
        key = cell(r, "activity_key") or next((k["key"] for k in keys if _match(r, k["where"])), None)
        if validity:
            try:
                valid_from, valid_to = _validity(r, validity, fname, rownum)
            except InputError as err:
                if "unparsed_validity" in tolerate and err.column == validity["period_column"]:
                    _skip(skipped, err)
                    continue
                raise
        else:
            valid_from, valid_to = (_date_field(r, f, cols, const, fname, rownum) for f in ("valid_from", "valid_to"))
        region = cell(r, "region")
        if region is not None and "region" in cols and region_map:
            if region in region_map:
                region = region_map[region]
            elif region_unmapped == "error":
                raise InputError("region not in the mapping's region_map", file=fname, row=rownum,
                                 column=cols["region"], value=region)

        rec = {
            "factor_id": fid,
            "namespace": mapping.namespace,
            "source": mapping.name,
            "source_id": sid,
            "name": cell(r, "name"),
            "category": cell(r, "category"),
            "activity_key": key,
            "region": region,
            "unit": parsed.expr,
            "unit_basis": parsed.basis,
            "value_kgco2e": value,
            "gwp_set": cell(r, "gwp_set"),
            **{g: None for g in GAS_COLUMNS},
            "gas_basis": (gas_rows or {}).get("basis") or cell(r, "gas_basis"),
            "co2_biogenic": None,
            "uncertainty_pct": u_pct,
            "uncertainty_note": u_note,
            "dist": dist_name if u_pct else "none",
            "dist_convention": unc.get("convention", "lognormal_95") if u_pct else None,
            "dist_param": param_fn(u_pct / 100.0) if u_pct else 0.0,
            "scope_applicable": parse_scope(cell(r, "scope"), file=fname, row=rownum, column=cols.get("scope", "scope")),
            "valid_from": valid_from,
            "valid_to": valid_to,
            "year_fallback": spec.get("year_fallback", "none"),
            "source_file": fname,
            "source_row": rownum,
            "source_url": spec.get("source_url"),
        }
        for g in (*GAS_COLUMNS, "co2_biogenic"):
            if g in cols:
                rec[g] = parse_number(r.get(cols[g]), decimal=decimal, file=fname, row=rownum, column=cols[g])
        records[fid] = rec
    return pl.DataFrame(list(records.values()), schema=FACTOR_SCHEMA, orient="row") if records else \
        pl.DataFrame(schema=FACTOR_SCHEMA)


def _skip(skipped: list[dict] | None, err: InputError) -> None:
    if skipped is not None:
        skipped.append({"file": err.file, "row": err.row, "column": err.column, "value": err.value,
                        "reason": err.reason})


def _parse_unit(text: str | None, pattern: re.Pattern | None) -> units.ParsedUnit:
    """The activity unit of a factor: ``pattern`` (group ``unit``) extracts it from e.g. ``kgCO2e/kWh PCI``."""
    if pattern is not None:
        m = pattern.fullmatch((text or "").strip())
        if not m:
            raise units.UnitError(f"unit does not match the mapping's unit_pattern {pattern.pattern!r}")
        text = m.group("unit")
    try:
        return units.parse_unit(text)
    except units.UnitError:
        raise units.UnitError("unknown unit") from None


# Validity periods as publishers write them. Each ``validity.formats`` entry is a regex (full,
# case-insensitive match) and what it means; the first format that matches wins.
_MONTHS = {"jan": 1, "janv": 1, "fév": 2, "fev": 2, "févr": 2, "fevr": 2, "feb": 2, "mar": 3, "mars": 3,
           "avr": 4, "apr": 4, "mai": 5, "may": 5, "juin": 6, "jun": 6, "juil": 7, "jul": 7, "août": 8,
           "aout": 8, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "déc": 12, "dec": 12}
PERIOD_MEANINGS = ("year", "until_year_end", "until_month_end", "until_excel_serial", "until_date")


def parse_period(text: str, formats: list[dict], *, file: str, row: int, column: str
                 ) -> tuple[dt.date | None, dt.date | None]:
    """(valid_from or None, valid_to) of a validity cell; None start = take it from elsewhere.

    year: ``Année 2022`` = 2022-01-01..2022-12-31; until_year_end: ``2026`` = until 2026-12-31;
    until_month_end: ``déc.-18`` = until 2018-12-31; until_excel_serial: ``44631`` = an Excel day
    number stored as text; until_date: any date parse_date reads.
    """
    s = text.strip()
    for f in formats:
        means = f.get("means")
        if means not in PERIOD_MEANINGS:
            raise InputError(f"unknown validity format meaning {means!r}; known: {list(PERIOD_MEANINGS)}",
                             file=file, column="validity.formats")
        m = re.fullmatch(f.get("regex", r"(?P<date>.+)"), s, re.IGNORECASE)
        if not m:
            continue
        g = m.groupdict()
        if means == "year":
            y = int(g["year"])
            return dt.date(y, 1, 1), dt.date(y, 12, 31)
        if means == "until_year_end":
            return None, dt.date(int(g["year"]), 12, 31)
        if means == "until_month_end":
            month = _MONTHS.get(g["month"].lower().rstrip("."))
            if month is None:
                continue
            y = int(g["year"])
            y = y + 2000 if y < 100 else y
            nxt = dt.date(y + (month == 12), month % 12 + 1, 1)
            return None, nxt - dt.timedelta(days=1)
        if means == "until_excel_serial":
            return None, dt.date(1899, 12, 30) + dt.timedelta(days=int(g["serial"]))
        try:
            return None, parse_date(g.get("date", s), file=file, row=row, column=column)
        except InputError:
            continue
    raise InputError("validity period not understood by the mapping's validity.formats",
                     file=file, row=row, column=column, value=text)


def _validity(r: dict, validity: dict, fname: str, rownum: int) -> tuple[dt.date | None, dt.date | None]:
    col, from_col = validity["period_column"], validity.get("from_column")
    start = parse_date(r.get(from_col), file=fname, row=rownum, column=from_col) if from_col else None
    text = r.get(col)
    if text is None:
        if validity.get("empty", "error") == "open":
            return start, None
        raise InputError("empty validity period", file=fname, row=rownum, column=col, value="")
    vf, vt = parse_period(text, validity.get("formats", [{"means": "until_date"}]), file=fname, row=rownum,
                          column=col)
    return (vf if vf is not None else start), vt


def _date_field(r: dict, field: str, cols: dict, const: dict, fname: str, rownum: int) -> dt.date | None:
    """A validity date from its column, else from the mapping's constants."""
    if field in cols:
        return parse_date(r.get(cols[field]), file=fname, row=rownum, column=cols[field])
    return dt.date.fromisoformat(str(const[field])) if field in const else None


def read_namespace(mappings_dir: Path, factors_dir: Path, namespace: str) -> tuple[pl.DataFrame, dict]:
    """Factors of every mapping of ``namespace`` plus {mapping or file name: sha256} for lineage."""
    frames, hashes = [], {}
    for m in mappings_for_namespace(mappings_dir, namespace):
        frames.append(read_source(m, factors_dir))
        hashes[f"mapping:{m.path.name}"] = file_sha256(m.path)
        for f in m.files(factors_dir):
            hashes[f"file:{f.relative_to(factors_dir)}"] = file_sha256(f)
    df = pl.concat(frames) if frames else pl.DataFrame(schema=FACTOR_SCHEMA)
    return df.sort("factor_id"), hashes


def build_snapshot(per_namespace: list[pl.DataFrame]) -> pl.DataFrame:
    """Union of the namespaces' factor tables; factor ids must be unique across the union."""
    df = pl.concat([f.select(list(FACTOR_SCHEMA)) for f in per_namespace]) if per_namespace else \
        pl.DataFrame(schema=FACTOR_SCHEMA)
    dup = df.group_by("factor_id").len().filter(pl.col("len") > 1)
    if dup.height:
        first = df.filter(pl.col("factor_id") == dup["factor_id"][0]).row(0, named=True)
        raise InputError("duplicate factor_id across sources", file=first["source_file"],
                         row=first["source_row"], column="factor_id", value=first["factor_id"])
    return df.sort("factor_id")


def value_under_gwp(df: pl.DataFrame, gwp_set: str) -> pl.DataFrame:
    """Add value_gwp (kgCO2e per unit under ``gwp_set``) and gwp_status.

    gwp_status: "native" (published under ``gwp_set``), "rebased" (recomputed from the gas
    split) or "kept_published" (no usable split, e.g. CH4 not split fossil/biogenic: the
    published CO2e is kept and the line is flagged).
    """
    values, status = [], []
    for r in df.select(*GAS_COLUMNS, "gas_basis", "gwp_set", "value_kgco2e").iter_rows(named=True):
        if r["gwp_set"] == gwp_set:
            values.append(r["value_kgco2e"])
            status.append("native")
            continue
        unsplit_ch4 = r["ch4"] not in (None, 0.0)
        v = None if unsplit_ch4 else gwp_mod.rebase(r, r["gas_basis"], r["gwp_set"], gwp_set)
        values.append(r["value_kgco2e"] if v is None else v)
        status.append("kept_published" if v is None else "rebased")
    return df.with_columns(pl.Series("value_gwp", values, pl.Float64), pl.Series("gwp_status", status, pl.String))
