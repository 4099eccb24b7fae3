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
unparsed_validity, empty_value: such rows are skipped and reported instead of failing the file;
a skipped total row takes its gas rows with it).

More keys, each generic (no Python per publisher):
``read.null_values`` (cell texts that mean "no value" in this layout, on top of ``-``, ``n/a``,
``not-supplied``; anything else that is not a number is an error naming file, row, column, value),
``id.template`` (factor id built from several columns, ``"{activity_id}-{region}"``; every column named
must be non-empty; the default is ``columns.source_id``), ``variants`` (several factors from one row,
e.g. USEEIO with / without margins: a list of ``{suffix, name_suffix, columns}``; each variant's
``columns`` override the mapping's, and its ``suffix`` is appended to the factor id),
``price_year`` (year of the currency of spend-based factors: ``columns.price_year``,
``constants.price_year``, or a ``price_year`` group of ``unit_pattern``), and the validity format
meaning ``year_range`` (``2019-2021`` = 2019-01-01..2021-12-31, groups ``from`` and ``to``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import dates, stacked_tables, units
from carbon_assets.engine import gwp as gwp_mod
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.lineage import bytes_sha256, file_sha256
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
    "fallback_regions": pl.String,  # line regions this factor may stand in for (mapping's region_fallbacks)
    "source_file": pl.String,
    "source_row": pl.Int64,
    "source_url": pl.String,
    "price_year": pl.Int64,  # currency year of spend-based factors (kgCO2e per 2021 USD); null otherwise
}

# Uncertainty conventions (DOMAIN.md): u = published % read as the half-width of a ~95% interval.
CONVENTIONS = {
    "lognormal_95": ("lognormal", lambda u: math.log1p(u) / 1.96),  # median = value, sigma_ln
    "normal_95": ("normal", lambda u: u / 1.96),  # mean = value, relative sd
    # u read as the relative half-width of the support: mode/centre = value, bounds value*(1 -/+ u)
    "triangular_halfwidth": ("triangular", lambda u: u),
    "uniform_halfwidth": ("uniform", lambda u: u),
}


@dataclass(frozen=True)
class Mapping:
    path: Path
    spec: dict
    bases: tuple[Path, ...] = ()  # mappings this one ``extends``, nearest first

    def sha256(self) -> str:
        """Content hash of the mapping and every mapping it extends (its meaning depends on them)."""
        return bytes_sha256(b"".join(p.read_bytes() for p in (self.path, *self.bases)))

    @property
    def name(self) -> str:
        return self.spec["source"]

    @property
    def namespace(self) -> str:
        return self.spec["namespace"]

    def files(self, factors_dir: Path) -> list[Path]:
        """Declared files; an entry with a wildcard names the files users drop in (may match none)."""
        out = []
        for f in self.spec["files"]:
            out += sorted(factors_dir.glob(f)) if any(ch in f for ch in "*?[") else [factors_dir / f]
        return out


_REQUIRED = ("source", "namespace", "files", "read", "columns")


def load_mapping(path: Path) -> Mapping:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=str(path)) from exc
    if not isinstance(spec, dict):
        raise InputError("a mapping must be a YAML mapping", file=str(path))
    bases: tuple[Path, ...] = ()
    if "extends" in spec:  # same layout, other file or format: the base mapping's keys, overridden
        base = load_mapping(path.parent / str(spec.pop("extends")))
        bases = (base.path, *base.bases)
        spec = {**base.spec, **spec, "read": {**base.spec.get("read", {}), **spec.get("read", {})}}
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
    _check_variants_and_id(spec, path)
    tables = spec.get("tables")
    if tables is not None:
        if not isinstance(tables, list) or not tables:
            raise InputError("tables must be a non-empty list", file=str(path), column="tables")
        for t in tables:
            missing = [k for k in ("title", "end") if not isinstance(t, dict) or k not in t]
            if missing:
                raise InputError(f"each table needs {missing}", file=str(path), column="tables", value=t)
            _check_variants_and_id({**spec, **t}, path)
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
    return Mapping(path=path, spec=spec, bases=bases)


def _check_variants_and_id(spec: dict, path: Path) -> None:
    template = (spec.get("id") or {}).get("template")
    if template is not None and (not isinstance(template, str) or not _TEMPLATE_FIELD.search(template)):
        raise InputError("id.template must be a string naming at least one {column}", file=str(path),
                         column="id.template", value=template)
    variants = spec.get("variants")
    if variants is None:
        return
    if not isinstance(variants, list) or not variants:
        raise InputError("variants must be a non-empty list", file=str(path), column="variants")
    suffixes = []
    for v in variants:
        if not isinstance(v, dict) or not isinstance(v.get("suffix"), str):  # one variant may keep the bare id ("")
            raise InputError("each variant needs a suffix", file=str(path), column="variants", value=v)
        if not isinstance(v.get("columns", {}), dict):
            raise InputError("variant columns must be a mapping", file=str(path), column="variants", value=v)
        suffixes.append(v["suffix"])
    if len(set(suffixes)) != len(suffixes):
        raise InputError("variant suffixes must be unique", file=str(path), column="variants", value=suffixes)
    if spec.get("gas_rows"):
        raise InputError("variants cannot be combined with gas_rows", file=str(path), column="variants")


_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def discover_mappings(mappings_dir: Path) -> list[Mapping]:
    return [load_mapping(p) for p in sorted(mappings_dir.glob("*.yaml"))]


def mappings_for_namespace(mappings_dir: Path, namespace: str) -> list[Mapping]:
    return [m for m in discover_mappings(mappings_dir) if m.namespace == namespace]


# ---------------------------------------------------------------- cell parsing


NULL_TEXTS = ("-", "n/a", "N/A", "not-supplied")


def parse_number(text: str | None, *, decimal: str = ".", file: str, row: int, column: str,
                 null_values: tuple[str, ...] = ()) -> float | None:
    """A number, or None for an empty cell or one of NULL_TEXTS / the mapping's ``null_values``."""
    if text is None:
        return None
    if text.strip() in null_values:
        return None
    s = text.strip().replace("\u00a0", "").replace(" ", "")
    if s == "" or s in NULL_TEXTS:
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
    try:
        return dates.parse_date(text)
    except ValueError:
        raise InputError(f"not a date (expected {dates.DATE_HINT})", file=file, row=row, column=column,
                         value=text) from None


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


TOLERABLE = ("unknown_unit", "unparsed_validity", "empty_value")


def _read_file(mapping: Mapping, path: Path, skipped: list[dict] | None = None) -> pl.DataFrame:
    read = mapping.spec["read"]
    if mapping.spec.get("tables"):  # several tables stacked in one sheet, each its own sub-mapping
        grid = stacked_tables.read_grid(path, read.get("sheet"))
        frames = []
        for table in mapping.spec["tables"]:
            sub = _table_mapping(mapping, table)
            df = stacked_tables.cut_table(grid, table, path.name)
            df = _apply_read_limits(df, {"filters": table.get("filters")}, sub, path)
            frames.append(_normalise(sub, df, path, skipped))
        return pl.concat(frames) if frames else pl.DataFrame(schema=FACTOR_SCHEMA)
    df = read_text_table(path, fmt=read["format"], sheet=read.get("sheet"),
                         header_row=int(read.get("header_row", 1)), encoding=read.get("encoding", "utf-8"),
                         separator=read.get("separator", ","))
    df = _rewrite(df, mapping, path)
    df = _apply_read_limits(df, read, mapping, path)
    return _normalise(mapping, df, path, skipped)


# keys of a ``tables`` entry that locate the table; every other key overrides the mapping's own
_TABLE_LOCATORS = ("title", "first_row", "end", "expect", "fill_down", "carry", "filters")


def _table_mapping(mapping: Mapping, table: dict) -> Mapping:
    spec = {k: v for k, v in mapping.spec.items() if k != "tables"}
    spec.update({k: v for k, v in table.items() if k not in _TABLE_LOCATORS})
    spec["constants"] = {**mapping.spec.get("constants", {}), **table.get("constants", {})}
    return Mapping(path=mapping.path, spec=spec, bases=mapping.bases)


def _rewrite(df: pl.DataFrame, mapping: Mapping, path: Path) -> pl.DataFrame:
    """``rewrite: {column: {regex: replacement}}``: spellings unified before filters and matching
    (ADEME writes both "Electricité" and "Électricité")."""
    for col, rules in (mapping.spec.get("rewrite") or {}).items():
        c = pl.col(_col(df, col, mapping, path))
        for pattern, repl in rules.items():
            c = c.str.replace_all(pattern, repl)
        df = df.with_columns(c)
    return df


def _gas_scales(gas_units: dict, mapping: Mapping) -> dict[str, float]:
    """Per-gas multiplier to kg: ``gas_units: {ch4: g}`` for a column in g CH4 per unit."""
    out = {}
    for gas, unit in gas_units.items():
        if gas not in GAS_COLUMNS:
            raise InputError(f"gas_units names an unknown gas; known: {list(GAS_COLUMNS)}",
                             file=str(mapping.path), column="gas_units", value=gas)
        try:
            out[gas] = units.conversion_factor(str(unit), "kg")
        except (units.UnitError, units.DimensionMismatch):
            raise InputError("gas unit is not a mass unit", file=str(mapping.path), column=f"gas_units.{gas}",
                             value=unit) from None
    return out


def _normalise(mapping: Mapping, df: pl.DataFrame, path: Path, skipped: list[dict] | None) -> pl.DataFrame:
    """Rows of one frame (a file, or one stacked table of it) -> FACTOR_SCHEMA records."""
    spec, read = mapping.spec, mapping.spec["read"]
    base_cols, base_const = spec["columns"], spec.get("constants", {})
    decimal = read.get("decimal", ".")
    null_values = tuple(str(v).strip() for v in _as_list(read.get("null_values", [])))
    fname = str(path.name)
    gas_rows = spec.get("gas_rows")
    from_gases = bool(spec.get("value_from_gases"))
    unc = spec.get("uncertainty", {})
    dist_name, param_fn = CONVENTIONS[unc.get("convention", "lognormal_95")]
    keys = spec.get("activity_keys", [])
    id_spec = spec.get("id") or {}
    id_strip = re.compile(id_spec.get("strip_suffix", r"(?!)"))
    id_template = id_spec.get("template")
    id_fields = _TEMPLATE_FIELD.findall(id_template) if id_template else []
    variants = spec.get("variants") or [{}]

    if "source_id" not in base_cols and not id_template:
        raise InputError("mapping lacks columns.source_id (or id.template)", file=str(mapping.path),
                         column="source_id")
    for field in ("unit", "value"):
        if field == "value" and from_gases:
            continue
        if any(field not in {**base_cols, **v.get("columns", {})} and field not in {**base_const, **v.get("constants", {})}
               for v in variants):
            raise InputError(f"mapping lacks columns.{field}", file=str(mapping.path), column=field)
    needed = list(id_fields)
    for cols in [base_cols] + [v.get("columns", {}) for v in variants]:
        needed += [c for v in cols.values() for c in (v if isinstance(v, list) else [v])]
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
    fallback_regions = _fallback_regions(spec.get("region_fallbacks"), mapping)
    for c in needed:
        _col(df, c, mapping, path)
    scales = [_gas_scales({**(spec.get("gas_units") or {}), **(v.get("gas_units") or {})}, mapping) for v in variants]

    def cell(r: dict, field: str, cols: dict, const: dict):
        src = cols.get(field)
        if src is None:
            return const.get(field)
        if isinstance(src, list):
            return " / ".join(r[c] for c in src if r.get(c))
        return r.get(src)

    def number(r: dict, column: str, rownum: int) -> float | None:
        return parse_number(r.get(column), decimal=decimal, file=fname, row=rownum, column=column,
                            null_values=null_values)

    records: dict[str, dict] = {}
    dropped: set[str] = set()  # ids whose total row was skipped (tolerate): their gas rows go with them
    for r in df.iter_rows(named=True):
        rownum = r[ROW_COL]
        if id_template:
            for c in id_fields:
                if not r.get(c):
                    raise InputError("empty cell in the id template", file=fname, row=rownum, column=c, value="")
            sid_raw = _TEMPLATE_FIELD.sub(lambda m, row=r: row[m.group(1)], id_template)
            id_col = id_fields[0]
        else:
            id_col = base_cols["source_id"]
            sid_raw = cell(r, "source_id", base_cols, base_const)
            if not sid_raw:
                raise InputError("empty factor id", file=fname, row=rownum, column=id_col)
        sid = id_strip.sub("", sid_raw)
        for variant, scale in zip(variants, scales):
            cols = {**base_cols, **variant.get("columns", {})}
            const = {**base_const, **variant.get("constants", {})}
            fid = f"{mapping.namespace}:{sid}{variant.get('suffix', '')}"
            gases = {g: number(r, cols[g], rownum) for g in (*GAS_COLUMNS, "co2_biogenic") if g in cols}
            for g, k in scale.items():
                if gases.get(g) is not None:
                    gases[g] *= k
            if from_gases:  # publisher gives gas masses only: the total under the mapping's GWP set
                value_col = cols.get("co2_fossil", "value")
                value = gwp_mod.co2e_of_masses(gases, const.get("gwp_set"))
            else:
                value_col = cols["value"]
                value = number(r, value_col, rownum)
            rec = records.get(fid)
            if gas_rows:  # one row per gas: the total row opens the record, gas rows fill its gas columns
                label = r[gas_rows["column"]]
                if label == gas_rows["total"]:
                    if rec is not None or fid in dropped:
                        raise InputError("duplicate factor id", file=fname, row=rownum, column=id_col,
                                         value=sid_raw)
                else:
                    gas = gas_rows["gases"].get(label)
                    if gas is None:
                        raise InputError("unknown gas row label", file=fname, row=rownum,
                                         column=gas_rows["column"], value=label)
                    if fid in dropped:
                        continue
                    if rec is None:
                        raise InputError("gas row before its total row", file=fname, row=rownum,
                                         column=id_col, value=sid_raw)
                    rec[gas] = value
                    continue
            elif rec is not None or fid in dropped:
                raise InputError("duplicate factor id", file=fname, row=rownum, column=id_col, value=sid_raw)
            if value is None:
                err = InputError("empty factor value", file=fname, row=rownum, column=value_col,
                                 value=r.get(value_col) or "")
                if "empty_value" in tolerate:
                    _skip(skipped, err)
                    dropped.add(fid)
                    continue
                raise err
            if value < 0 and not spec.get("allow_negative", False):
                raise InputError("negative factor value (declare allow_negative in the mapping if intended)",
                                 file=fname, row=rownum, column=value_col, value=r.get(value_col))
            unit_text = cell(r, "unit", cols, const)
            try:
                parsed, unit_groups = _parse_unit(unit_text, unit_pattern)
            except units.UnitError as exc:
                err = InputError(str(exc), file=fname, row=rownum, column=cols.get("unit", "constants.unit"),
                                 value=unit_text)
                if "unknown_unit" in tolerate:
                    _skip(skipped, err)
                    dropped.add(fid)
                    continue
                raise err from None
            u_col = cols.get("uncertainty_pct")
            u_pct = number(r, u_col, rownum) if u_col else None
            u_note = "published" if u_pct is not None else None
            if u_pct is None and "default_pct" in unc:
                u_pct, u_note = float(unc["default_pct"]), unc.get("note", "mapping default")
            key = cell(r, "activity_key", cols, const) or next(
                (k["key"] for k in variant.get("activity_keys", keys) if _match(r, k["where"])), None)
            if validity:
                try:
                    valid_from, valid_to = _validity(r, validity, fname, rownum)
                except InputError as err:
                    if "unparsed_validity" in tolerate and err.column == validity["period_column"]:
                        _skip(skipped, err)
                        dropped.add(fid)
                        continue
                    raise
            else:
                valid_from, valid_to = (_date_field(r, f, cols, const, fname, rownum)
                                        for f in ("valid_from", "valid_to"))
            region = cell(r, "region", cols, const)
            if region is not None and "region" in cols and region_map:
                if region in region_map:
                    region = region_map[region]
                elif region_unmapped == "error":
                    raise InputError("region not in the mapping's region_map", file=fname, row=rownum,
                                     column=cols["region"], value=region)
            name = cell(r, "name", cols, const)
            if name is not None and variant.get("name_suffix"):
                name += variant["name_suffix"]

            rec = {
                "factor_id": fid,
                "namespace": mapping.namespace,
                "source": mapping.name,
                "source_id": sid,
                "name": name,
                "category": cell(r, "category", cols, const),
                "activity_key": key,
                "region": region,
                "unit": parsed.expr,
                "unit_basis": parsed.basis or const.get("unit_basis"),
                "value_kgco2e": value,
                "gwp_set": cell(r, "gwp_set", cols, const),
                **{g: None for g in GAS_COLUMNS},
                "gas_basis": (gas_rows or {}).get("basis") or cell(r, "gas_basis", cols, const),
                "co2_biogenic": None,
                "uncertainty_pct": u_pct,
                "uncertainty_note": u_note,
                "dist": dist_name if u_pct else "none",
                "dist_convention": unc.get("convention", "lognormal_95") if u_pct else None,
                "dist_param": param_fn(u_pct / 100.0) if u_pct else 0.0,
                "scope_applicable": parse_scope(cell(r, "scope", cols, const), file=fname, row=rownum,
                                                column=cols.get("scope", "scope")),
                "valid_from": valid_from,
                "valid_to": valid_to,
                "year_fallback": spec.get("year_fallback", "none"),
                "fallback_regions": fallback_regions.get(region),
                "source_file": fname,
                "source_row": rownum,
                "source_url": spec.get("source_url"),
                "price_year": _price_year(r, cols, const, unit_groups, fname, rownum),
            }
            rec.update(gases)
            records[fid] = rec
    return pl.DataFrame(list(records.values()), schema=FACTOR_SCHEMA, orient="row") if records else \
        pl.DataFrame(schema=FACTOR_SCHEMA)


def _fallback_regions(spec: dict | None, mapping: Mapping) -> dict[str, str]:
    """``region_fallbacks: {factor region: [line regions it may stand in for] or "*"}`` -> the
    factor column ``fallback_regions`` ("FR,BE" or "*"), used by selection only when no factor of
    the line's own region qualifies, and recorded on the emission line."""
    out = {}
    for region, serves in (spec or {}).items():
        if serves == "*":
            out[str(region)] = "*"
        elif isinstance(serves, list) and serves and all(isinstance(s, str) for s in serves):
            out[str(region)] = ",".join(sorted(serves))
        else:
            raise InputError('region_fallbacks values must be a list of region codes or "*"',
                             file=str(mapping.path), column=f"region_fallbacks.{region}", value=serves)
    return out


def _price_year(r: dict, cols: dict, const: dict, unit_groups: dict, fname: str, rownum: int) -> int | None:
    """Currency year of a spend-based factor: column, else unit_pattern group, else constant, else None."""
    if "price_year" in cols:
        text, column = r.get(cols["price_year"]), cols["price_year"]
    elif unit_groups.get("price_year"):
        text, column = unit_groups["price_year"], cols["unit"]
    else:
        return int(const["price_year"]) if const.get("price_year") is not None else None
    if text is None:
        return None
    if not re.fullmatch(r"\s*\d{4}\s*", text):
        raise InputError("not a price year (expected YYYY)", file=fname, row=rownum, column=column, value=text)
    return int(text)


def _skip(skipped: list[dict] | None, err: InputError) -> None:
    if skipped is not None:
        skipped.append({"file": err.file, "row": err.row, "column": err.column, "value": err.value,
                        "reason": err.reason})


def _parse_unit(text: str | None, pattern: re.Pattern | None) -> tuple[units.ParsedUnit, dict]:
    """The activity unit of a factor and the pattern's other named groups (e.g. ``price_year``):
    ``pattern`` (group ``unit``) extracts it from e.g. ``kgCO2e/kWh PCI``."""
    groups: dict = {}
    if pattern is not None:
        m = pattern.fullmatch((text or "").strip())
        if not m:
            raise units.UnitError(f"unit does not match the mapping's unit_pattern {pattern.pattern!r}")
        groups = m.groupdict()
        text = m.group("unit")
    try:
        return units.parse_unit(text), groups
    except units.UnitError:
        raise units.UnitError("unknown unit") from None


# Validity periods as publishers write them. Each ``validity.formats`` entry is a regex (full,
# case-insensitive match) and what it means; the first format that matches wins.
_MONTHS = {"jan": 1, "janv": 1, "fév": 2, "fev": 2, "févr": 2, "fevr": 2, "feb": 2, "mar": 3, "mars": 3,
           "avr": 4, "apr": 4, "mai": 5, "may": 5, "juin": 6, "jun": 6, "juil": 7, "jul": 7, "août": 8,
           "aout": 8, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "déc": 12, "dec": 12}
PERIOD_MEANINGS = ("year", "year_range", "until_year_end", "until_month_end", "until_excel_serial",
                   "until_date", "years_from_start")


def parse_period(text: str, formats: list[dict], *, file: str, row: int, column: str
                 ) -> tuple[dt.date | None, dt.date | None]:
    """(valid_from or None, valid_to) of a validity cell; None start = take it from elsewhere.

    year: ``Année 2022`` = 2022-01-01..2022-12-31; year_range: ``2019-2021`` = 2019-01-01..2021-12-31;
    until_year_end: ``2026`` = until 2026-12-31;
    until_month_end: ``déc.-18`` = until 2018-12-31; until_excel_serial: ``44631`` = an Excel day
    number stored as text; until_date: any date parse_date reads; years_from_start: ``3 ans`` = three
    years from the start date (returned as ("years", 3), resolved by the caller).
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
        if means == "year_range":
            y0, y1 = int(g["from"]), int(g["to"])
            if y1 < y0:
                continue
            return dt.date(y0, 1, 1), dt.date(y1, 12, 31)
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
        if means == "years_from_start":  # "3 ans": N years from the start date (validity.from_column)
            return None, ("years", int(g["years"]))
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
    if isinstance(vt, tuple):  # a duration counted from the start date
        if start is None:
            raise InputError("a validity duration needs the mapping's validity.from_column date", file=fname,
                             row=rownum, column=col, value=text)
        end = dt.date(start.year + vt[1], start.month, min(start.day, 28)) - dt.timedelta(days=1)
        return start, end
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
        hashes[f"mapping:{m.path.name}"] = m.sha256()
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
        # CO2e contributions of unsplit CH4 (DESNZ) cannot be re-based: fossil and biogenic CH4 differ
        unsplit_ch4 = r["ch4"] not in (None, 0.0) and r["gas_basis"] != "mass"
        v = None if unsplit_ch4 else gwp_mod.rebase(r, r["gas_basis"], r["gwp_set"], gwp_set)
        values.append(r["value_kgco2e"] if v is None else v)
        status.append("kept_published" if v is None else "rebased")
    return df.with_columns(pl.Series("value_gwp", values, pl.Float64), pl.Series("gwp_status", status, pl.String))
