"""Client activity files: bronze rows (every cell as text) and canonical activities + rejects.

Invariant: for every file, accepted rows + rejected rows = data rows read. A row is rejected
with the file, row, column, value and a message; it is never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import dates, units
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.lineage import bytes_sha256
from carbon_assets.engine.tables import ROW_COL, read_text_table

RAW_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "source_file": pl.String, "source_sha256": pl.String,
    "source_row": pl.Int64, "cells": pl.String,
}
ACTIVITY_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "activity_id": pl.String, "date": pl.Date, "site": pl.String,
    "region": pl.String, "description": pl.String, "activity_key": pl.String, "requested_factor_id": pl.String,
    "scope": pl.String, "scope3_category": pl.Int64, "category": pl.String, "quantity": pl.Float64,
    "unit": pl.String, "quantity_uncertainty_pct": pl.Float64, "source_file": pl.String,
    "source_sha256": pl.String, "source_row": pl.Int64,
}
REJECT_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "source_file": pl.String, "source_sha256": pl.String,
    "row": pl.Int64, "column": pl.String, "value": pl.String, "message": pl.String,
}


@dataclass(frozen=True)
class ColumnMapping:
    columns: dict[str, list[str]]  # canonical field -> accepted headers
    required: tuple[str, ...]
    sha256: str

    @classmethod
    def load(cls, path: Path) -> ColumnMapping:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        cols = {k: [str(h) for h in v] for k, v in spec["columns"].items()}
        return cls(columns=cols, required=tuple(spec.get("required", ())), sha256=bytes_sha256(path.read_bytes()))

    def resolve(self, headers: list[str]) -> dict[str, str]:
        """canonical field -> the file's header that holds it (first accepted header present)."""
        lower = {h.lower(): h for h in headers}
        out: dict[str, str] = {}
        for field, accepted in self.columns.items():
            hit = next((lower[a.lower()] for a in accepted if a.lower() in lower), None)
            if hit is not None:
                out[field] = hit
        return out


def tenant_mapping_path(tenants_dir: Path, tenant: str) -> Path:
    own = tenants_dir / tenant / "mapping.yaml"
    return own if own.exists() else tenants_dir / "default_mapping.yaml"


def load_vocabulary(path: Path) -> dict[str, dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- bronze


def read_raw(files: list[tuple[str, Path]], tenant: str, year: str) -> pl.DataFrame:
    """Bronze rows of the given (name, path) files: every cell as text, file hash and row number."""
    frames = []
    for name, path in files:
        if path.suffix.lower() != ".csv":
            raise InputError("unsupported activity file type (this release reads .csv)", file=name)
        table = read_text_table(path, fmt="csv")
        sha = bytes_sha256(path.read_bytes())
        headers = [c for c in table.columns if c != ROW_COL]
        cells = [json.dumps({h: r[h] for h in headers}, ensure_ascii=False) for r in table.iter_rows(named=True)]
        frames.append(pl.DataFrame({
            "tenant": [tenant] * table.height, "year": [year] * table.height, "source_file": [name] * table.height,
            "source_sha256": [sha] * table.height, "source_row": table[ROW_COL], "cells": cells,
        }, schema=RAW_SCHEMA))
    return pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)


# ---------------------------------------------------------------- silver


def activity_id(tenant: str, file_sha: str, row: int) -> str:
    return hashlib.sha256(f"{tenant}|{file_sha}|{row}".encode()).hexdigest()[:24]


def _row(r: dict, cells: dict, fmap: dict[str, str], mapping: ColumnMapping,
         vocabulary: dict[str, dict]) -> tuple[dict | None, dict | None]:
    """(activity, None) for a usable bronze row, (None, reject) otherwise."""
    base = {"tenant": r["tenant"], "year": r["year"], "source_file": r["source_file"],
            "source_sha256": r["source_sha256"], "row": r["source_row"]}

    def reject(field: str, value, message: str) -> tuple[None, dict]:
        return None, {**base, "column": fmap.get(field, field), "value": value, "message": message}

    def get(field: str):
        return cells.get(fmap[field]) if field in fmap else None

    missing = [f for f in mapping.required if f not in fmap]
    if missing:
        return reject(missing[0], None,
                      f"missing column for {missing[0]!r} (accepted headers: {mapping.columns[missing[0]]})")
    if "activity_key" not in fmap and "factor_id" not in fmap:
        return reject("activity_key", None, "missing column: need activity_key or factor_id")
    empty = next((f for f in mapping.required if not get(f)), None)
    if empty:
        return reject(empty, get(empty), f"empty {empty}")
    try:
        quantity = float(get("quantity").replace("\u00a0", "").replace(" ", ""))
    except ValueError:
        return reject("quantity", get("quantity"), "quantity is not a number")
    unit_text = get("unit")
    try:
        unit = units.parse_unit(unit_text)
    except units.UnitError:
        return reject("unit", unit_text, f"unknown unit {unit_text!r}")
    try:
        date = dates.parse_date(get("date"))
    except ValueError:
        return reject("date", get("date"), f"date is not {dates.DATE_HINT}")
    if str(date.year) != r["year"]:
        return reject("date", get("date"), f"date is outside the partition year {r['year']}")
    key, fid = get("activity_key"), get("factor_id")
    if not key and not fid:
        return reject("activity_key", None, "neither activity_key nor factor_id given")
    if key and key not in vocabulary:
        return reject("activity_key", key, f"unknown activity_key {key!r} (see data/activity_keys.yaml)")
    unc = get("quantity_uncertainty_pct")
    try:
        unc_pct = float(unc) if unc else None
    except ValueError:
        return reject("quantity_uncertainty_pct", unc, "uncertainty is not a number")
    voc = vocabulary.get(key, {}) if key else {}
    return {
        "tenant": r["tenant"], "year": r["year"],
        "activity_id": activity_id(r["tenant"], r["source_sha256"], r["source_row"]),
        "date": date, "site": get("site"), "region": get("region"), "description": get("description"),
        "activity_key": key, "requested_factor_id": fid, "scope": voc.get("scope"),
        "scope3_category": voc.get("scope3_category"), "category": voc.get("category"),
        "quantity": quantity, "unit": unit_text.strip() if unit.basis else unit.expr,
        "quantity_uncertainty_pct": unc_pct, "source_file": r["source_file"],
        "source_sha256": r["source_sha256"], "source_row": r["source_row"],
    }, None


def normalise(raw: pl.DataFrame, mapping: ColumnMapping, vocabulary: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical activities and rejects from bronze rows (see module docstring for the invariant)."""
    accepted: list[dict] = []
    rejects: list[dict] = []
    resolved: dict[str, dict[str, str]] = {}
    for r in raw.iter_rows(named=True):
        cells = json.loads(r["cells"])
        fmap = resolved.setdefault(r["source_file"], mapping.resolve(list(cells)))
        ok, bad = _row(r, cells, fmap, mapping, vocabulary)
        if ok is not None:
            accepted.append(ok)
        else:
            rejects.append(bad)
    acts = pl.DataFrame(accepted, schema=ACTIVITY_SCHEMA, orient="row") if accepted else pl.DataFrame(schema=ACTIVITY_SCHEMA)
    rej = pl.DataFrame(rejects, schema=REJECT_SCHEMA, orient="row") if rejects else pl.DataFrame(schema=REJECT_SCHEMA)
    return acts, rej
