"""Deterministic emissions per activity line: factor selection, unit conversion, kgCO2e.

Every activity line comes out, matched or not: match_status is one of matched, no_factor,
out_of_validity, unit_mismatch, and unmatched lines carry em_kgco2e = null and a reason.

Selection, per line: candidates are the factor the line names (requested_factor_id) or those of its
activity_key, in a namespace of the order (primary_fe_namespace, then fe_namespace_priority).
Region: a factor of the line's region, or without region, qualifies; a factor of another region
qualifies only when its mapping declares it may stand in for the line's region
(``region_fallbacks``). Validity: the factor's validity must overlap the year, unless its mapping
declares ``year_fallback: nearest_earlier`` and it ended before the year. Every fallback used is
written into match_note. Only candidates whose unit the line's unit converts to are considered;
when none does, the line is a unit_mismatch against the best-ranked candidate.

Spend lines (an ISO 4217 currency as unit) convert to a spend-based factor's currency at the
ECB annual average of the line's year and are deflated to the factor's price year when it declares
one (engine/money.py); a missing rate or deflator makes the line a unit_mismatch with the reason.

Among the qualifying factors the tie-break declared in ``data/selection.yaml`` decides (criteria in
TIE_BREAK_CRITERIA, applied in the declared order; DEFAULT_TIE_BREAK when none is given).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import money, units
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.factors import value_under_gwp
from carbon_assets.engine.params import CalcParams

EMISSION_SCHEMA = {
    **ACTIVITY_SCHEMA,
    "match_status": pl.String,
    "match_note": pl.String,
    "factor_id": pl.String,
    "namespace": pl.String,
    "factor_unit": pl.String,
    "factor_value": pl.Float64,
    "gwp_set": pl.String,
    "gwp_status": pl.String,
    "conversion": pl.Float64,
    "quantity_in_factor_unit": pl.Float64,
    "em_kgco2e": pl.Float64,
    "dist": pl.String,
    "dist_p1": pl.Float64,
    "dist_p2": pl.Float64,
}


def _candidates(line: dict, by_key: dict, by_id: dict) -> list[dict]:
    if line["requested_factor_id"]:
        return [by_id[line["requested_factor_id"]]] if line["requested_factor_id"] in by_id else []
    return by_key.get(line["activity_key"], [])


def factor_unit(f: dict) -> str:
    """The factor's denominator with its calorific basis, as units.conversion_factor reads it."""
    return f"{f['unit']} ({f['unit_basis']} CV)" if f["unit_basis"] else f["unit"]


def _currency(unit: str | None) -> tuple[str, float] | None:
    """(ISO code, units of that currency per 1 unit) of a money unit ("USD", "kEUR"), else None."""
    u = (unit or "").strip()
    if u.upper() in money.ISO_4217:
        return u.upper(), 1.0
    if u[:1] == "k" and u[1:].upper() in money.ISO_4217:
        return u[1:].upper(), 1000.0
    return None


def conversion(unit: str, f: dict, year: int) -> tuple[float, str]:
    """(multiplier from the line's unit to the factor's denominator, note). Spend lines go through
    engine/money.py: exchange rate at the year's annual average, then deflation to the factor's
    price year when it declares one; physical units through pint. Raises DimensionMismatch,
    UnitError or MoneyError."""
    line_ccy, factor_ccy = _currency(unit), _currency(f["unit"])
    if line_ccy and factor_ccy:
        mult, note = money.spend_conversion(line_ccy[0], factor_ccy[0], year, f.get("price_year"))
        return mult * line_ccy[1] / factor_ccy[1], note
    if line_ccy or factor_ccy:
        raise units.DimensionMismatch(f"cannot convert {unit!r} to {f['unit']!r}: money against a physical unit")
    return units.conversion_factor(unit, factor_unit(f)), ""


def _convertible(unit: str, f: dict, year: int) -> bool:
    try:
        conversion(unit, f, year)
    except (units.DimensionMismatch, units.UnitError, money.MoneyError):
        return False
    return True


# Tie-break criteria: each maps an eligible candidate (validity_fallback, region_fallback, factor) to a
# sort key; lower sorts first.
TIE_BREAK_CRITERIA = {
    "namespace_rank": lambda e, ns_rank: ns_rank[e[2]["namespace"]],
    "in_validity": lambda e, ns_rank: e[0],  # in-validity before a year fallback
    "exact_region": lambda e, ns_rank: e[1],  # the line's own region before a declared region fallback
    "latest_valid_from": lambda e, ns_rank: -(e[2]["valid_from"] or dt.date.min).toordinal(),
    "highest_value": lambda e, ns_rank: -e[2]["value_gwp"],  # conservative: the larger factor
    "lowest_value": lambda e, ns_rank: e[2]["value_gwp"],
    "factor_id": lambda e, ns_rank: e[2]["factor_id"],
}
DEFAULT_TIE_BREAK = ("namespace_rank", "in_validity", "exact_region", "latest_valid_from", "highest_value",
                     "factor_id")


def load_tie_break(path: Path) -> tuple[str, ...]:
    """The declared tie-break (``tie_break: [criterion, ...]``); it must end with factor_id so that
    the choice is total and never depends on row order."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    order = spec.get("tie_break")
    if not isinstance(order, list) or not order:
        raise InputError("tie_break must be a non-empty list", file=str(path), column="tie_break", value=order)
    unknown = [c for c in order if c not in TIE_BREAK_CRITERIA]
    if unknown:
        raise InputError(f"unknown tie-break criteria; known: {list(TIE_BREAK_CRITERIA)}", file=str(path),
                         column="tie_break", value=unknown)
    if order[-1] != "factor_id":
        raise InputError("tie_break must end with factor_id (a total order)", file=str(path), column="tie_break",
                         value=order)
    return tuple(order)


def _region_match(line_region: str | None, f: dict) -> int | None:
    """0 = the factor serves the line's region (or either has none), 1 = declared region fallback,
    None = the factor does not serve it."""
    if not line_region or not f["region"] or f["region"] == line_region:
        return 0
    serves = f.get("fallback_regions")
    if serves and (serves == "*" or line_region in serves.split(",")):
        return 1
    return None


def select_factor(line: dict, candidates: list[dict], year: int, ns_rank: dict[str, int],
                  tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> tuple[dict | None, str, str]:
    """(factor, match_status, note) for one line."""
    if not candidates:
        return None, "no_factor", "no factor for " + (f"factor_id {line['requested_factor_id']}" if line["requested_factor_id"]
                                                       else f"activity_key {line['activity_key']}")
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    region = line["region"]
    eligible = []
    convertible = [f for f in candidates if _convertible(line["unit"], f, year)]
    if candidates and not convertible:  # report the mismatch against the best-ranked candidate
        return min(candidates, key=lambda f: (ns_rank.get(f["namespace"], len(ns_rank)), f["factor_id"])), \
            "unit_mismatch", ""
    for f in convertible:
        if f["namespace"] not in ns_rank:
            continue
        region_fallback = _region_match(region, f)
        if region_fallback is None:
            continue
        vf, vt = f["valid_from"] or dt.date.min, f["valid_to"] or dt.date.max
        if vf <= end and vt >= start:
            eligible.append((0, region_fallback, f))
        elif vt < start and f["year_fallback"] == "nearest_earlier":
            eligible.append((1, region_fallback, f))
    if not eligible:
        where = f" in region {region}" if region else ""
        return None, "out_of_validity" if any(f["namespace"] in ns_rank for f in candidates) else "no_factor", \
            f"no factor valid for {year}{where} among {len(candidates)} candidate(s)"
    eligible.sort(key=lambda e: tuple(TIE_BREAK_CRITERIA[c](e, ns_rank) for c in tie_break))
    year_fallback, region_fallback, f = eligible[0]
    notes = [f"namespace {f['namespace']} (rank {ns_rank[f['namespace']] + 1})"]
    if year_fallback:
        notes.append(f"year fallback: factor valid to {f['valid_to']} used for {year}")
    if region_fallback:
        notes.append(f"region fallback: factor of region {f['region']} used for {region} (declared by its mapping)")
    if not region and f["region"]:
        notes.append(f"line has no region; factor region {f['region']}")
    return f, "matched", "; ".join(notes)


def compute(activities: pl.DataFrame, factors: pl.DataFrame, params: CalcParams,
            tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> pl.DataFrame:
    """One emission row per activity row, in EMISSION_SCHEMA."""
    fac = value_under_gwp(factors, params.default_gwp).to_dicts()
    by_id = {f["factor_id"]: f for f in fac}
    by_key: dict[str, list[dict]] = {}
    for f in fac:
        if f["activity_key"]:
            by_key.setdefault(f["activity_key"], []).append(f)
    ns_rank = {ns: i for i, ns in enumerate(params.namespace_order())}
    out = []
    for line in activities.iter_rows(named=True):
        f, status, note = select_factor(line, _candidates(line, by_key, by_id), int(line["year"]), ns_rank,
                                        tie_break)
        row = {**line, "match_status": status, "match_note": note, **{k: None for k in list(EMISSION_SCHEMA)[len(ACTIVITY_SCHEMA) + 2:]}}
        if f is not None:
            basis = factor_unit(f)
            try:
                conv, money_note = conversion(line["unit"], f, int(line["year"]))
            except (units.DimensionMismatch, units.UnitError, money.MoneyError) as exc:
                row.update(match_status="unit_mismatch", match_note=f"{exc}; factor {f['factor_id']} is per {basis}",
                           factor_id=f["factor_id"], namespace=f["namespace"], factor_unit=basis)
                out.append(row)
                continue
            if money_note:
                row["match_note"] = f"{row['match_note']}; {money_note}"
            q = line["quantity"] * conv
            dist_p2 = f["dist_param"] if f["dist"] == "lognormal" else f["dist_param"] * abs(f["value_gwp"])
            row.update(factor_id=f["factor_id"], namespace=f["namespace"], factor_unit=basis,
                       factor_value=f["value_gwp"], gwp_set=params.default_gwp if f["gwp_status"] != "kept_published"
                       else f["gwp_set"], gwp_status=f["gwp_status"], conversion=conv,
                       quantity_in_factor_unit=q, em_kgco2e=q * f["value_gwp"], dist=f["dist"],
                       dist_p1=f["value_gwp"], dist_p2=dist_p2)
            if line["scope"] is None:  # explicit factor_id line: scope from the factor
                row["scope"] = f["scope_applicable"]
        out.append(row)
    return pl.DataFrame(out, schema=EMISSION_SCHEMA, orient="row") if out else pl.DataFrame(schema=EMISSION_SCHEMA)
