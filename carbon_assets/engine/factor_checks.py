"""Quality checks of a factor snapshot (pure; the factor_snapshot asset turns them into blocking checks).

Every failure names the factor, its source file and row, the snapshot column (and the publisher's
column from the mapping when known) and the offending value. Negative values are refused unless
the source's mapping declares ``allow_negative: true`` (e.g. Base Carbone credits); the allowed
negatives are still counted per source in the check's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from carbon_assets.engine import units
from carbon_assets.engine.factors import Mapping

REQUIRED_FIELDS = ("factor_id", "namespace", "unit", "value_kgco2e", "source_file", "source_row")
CHECK_NAMES = ("required_fields_present", "factor_ids_unique", "units_parseable", "values_non_negative")
MAX_LISTED = 50
# snapshot column -> the mapping's ``columns`` key that feeds it
_MAPPING_FIELD = {"factor_id": "source_id", "value_kgco2e": "value", "unit": "unit", "namespace": None,
                  "source_file": None, "source_row": None}


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    failures: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def metadata(self) -> dict:
        """JSON-able evidence; the first failure's file/row/column are also top-level keys."""
        meta: dict = {"n_failures": len(self.failures), **self.extra}
        if self.failures:
            first = self.failures[0]
            meta.update({k: first.get(k) for k in ("factor_id", "source_file", "source_row", "column",
                                                    "source_column", "value", "message")})
            meta["failures"] = self.failures[:MAX_LISTED]
            meta["failures_truncated"] = len(self.failures) > MAX_LISTED
        return meta


@dataclass(frozen=True)
class Declarations:
    """What the mappings declare, by source name (the snapshot's ``source`` column)."""

    allow_negative: frozenset[str]
    columns: dict[str, dict]

    @classmethod
    def from_mappings(cls, mappings: list[Mapping]) -> Declarations:
        return cls(allow_negative=frozenset(m.name for m in mappings if m.spec.get("allow_negative", False)),
                   columns={m.name: dict(m.spec.get("columns", {})) for m in mappings})


def _val(v):
    return v.isoformat() if hasattr(v, "isoformat") else v


def _failure(r: dict, column: str, message: str, decl: Declarations | None) -> dict:
    src_col = None
    key = _MAPPING_FIELD.get(column)
    if decl is not None and key is not None:
        c = decl.columns.get(r.get("source"), {}).get(key)
        src_col = " / ".join(c) if isinstance(c, list) else c
    return {"factor_id": r.get("factor_id"), "source": r.get("source"), "source_file": r.get("source_file"),
            "source_row": r.get("source_row"), "column": column, "source_column": src_col,
            "value": _val(r.get(column)), "message": message}


def _ctx(df: pl.DataFrame) -> list[str]:
    return [c for c in ("factor_id", "source", "source_file", "source_row") if c in df.columns]


def check_required_fields(df: pl.DataFrame, decl: Declarations | None = None) -> CheckOutcome:
    failures = [{"column": c, "message": "required column missing from the snapshot", "factor_id": None,
                 "source_file": None, "source_row": None, "source_column": None, "value": None}
                for c in REQUIRED_FIELDS if c not in df.columns]
    for c in (c for c in REQUIRED_FIELDS if c in df.columns):
        empty = pl.col(c).is_null()
        if df.schema[c] == pl.String:
            empty = empty | (pl.col(c).str.strip_chars() == "")
        for r in df.filter(empty).select(*dict.fromkeys([*_ctx(df), c])).iter_rows(named=True):
            failures.append(_failure(r, c, "required field is empty", decl))
    return CheckOutcome("required_fields_present", not failures,
                        f"Fields {', '.join(REQUIRED_FIELDS)} present and non-empty on every factor.", failures)


def check_unique_ids(df: pl.DataFrame, decl: Declarations | None = None) -> CheckOutcome:
    failures = []
    if "factor_id" in df.columns:
        dup = df.filter(pl.col("factor_id").is_not_null() & pl.col("factor_id").is_duplicated())
        failures = [_failure(r, "factor_id", "duplicate factor_id", decl)
                    for r in dup.select(_ctx(dup)).iter_rows(named=True)]
    return CheckOutcome("factor_ids_unique", not failures, "Every factor_id appears once in the snapshot.",
                        failures)


def check_units(df: pl.DataFrame, decl: Declarations | None = None) -> CheckOutcome:
    failures = []
    if "unit" in df.columns:
        bad: dict[str, str] = {}
        for u in df["unit"].drop_nulls().unique().to_list():
            try:
                units.parse_unit(u)
            except units.UnitError as exc:
                bad[u] = str(exc)
        if bad:
            rows = df.filter(pl.col("unit").is_in(list(bad))).select(*dict.fromkeys([*_ctx(df), "unit"]))
            failures = [_failure(r, "unit", bad[r["unit"]], decl) for r in rows.iter_rows(named=True)]
    return CheckOutcome("units_parseable", not failures, "Every factor unit is readable by the unit registry.",
                        failures)


def check_non_negative(df: pl.DataFrame, decl: Declarations | None = None) -> CheckOutcome:
    allowed = decl.allow_negative if decl else frozenset()
    failures, honoured = [], {}
    if "value_kgco2e" in df.columns:
        neg = df.filter(pl.col("value_kgco2e") < 0)
        for r in neg.select(*dict.fromkeys([*_ctx(df), "value_kgco2e"])).iter_rows(named=True):
            if r.get("source") in allowed:
                honoured[r["source"]] = honoured.get(r["source"], 0) + 1
            else:
                failures.append(_failure(r, "value_kgco2e", "negative factor value and the source's mapping "
                                         "does not declare allow_negative", decl))
    return CheckOutcome("values_non_negative", not failures,
                        "No negative value_kgco2e, except in sources whose mapping declares allow_negative.",
                        failures, {"allowed_negative_by_source": dict(sorted(honoured.items())),
                                   "sources_allowing_negative": sorted(allowed)})


def check_snapshot(df: pl.DataFrame, mappings: list[Mapping] | None = None) -> list[CheckOutcome]:
    """All snapshot checks, in CHECK_NAMES order."""
    decl = Declarations.from_mappings(mappings) if mappings is not None else None
    return [check_required_fields(df, decl), check_unique_ids(df, decl), check_units(df, decl),
            check_non_negative(df, decl)]
