"""Market-based Scope 2 (GHG Protocol Scope 2 Guidance, 2015): contractual instruments, residual mix.

Location-based Scope 2 uses grid-average factors (the emission lines as computed). The market-based
figure re-prices each Scope 2 electricity line by the Guidance's hierarchy (Table 6.3):
  1. energy attribute certificates and direct contracts (guarantees of origin, RECs, PPAs),
  2. supplier-specific emission rates (a tariff's disclosed factor),
  3. the residual mix of the line's region (activity_key ``electricity.residual_mix`` in the factor
     snapshot, chosen by the same selection rules as any factor: region, validity, namespace order),
  4. as a last resort, the grid-average (location-based) factor, with a note on the line.

Instruments: ``data/tenants/<tenant>/scope2_instruments.csv`` (INSTRUMENT_COLUMNS), one row per
instrument and reporting year, MWh claimed and the factor in kgCO2e/kWh (0 for renewable GOs, RECs,
PPAs; the supplier's disclosed rate for supplier_specific). Optional ``site`` restricts an instrument
to one site; optional ``uncertainty_pct`` (half-width of a ~95% interval) makes its factor lognormal.

Allocation, deterministic: instruments in the order (site-specific before region-wide, hierarchy
tier: ppa, then guarantee_of_origin and rec, then supplier_specific, then instrument_id); each fills
the still-uncovered kWh of the lines of its year, region (and site) in the order (site, date,
activity_id), never more than its own MWh. MWh an instrument could not place (more claimed than
consumed) are reported as over-claimed in the allocation table, never used. The uncovered rest of
each line goes to step 3 or 4. Scope 2 lines that are not electricity (heat, steam, cooling: activity
key not ``electricity.*``) keep their location-based factor in the market-based view.

A line's pieces keep its activity_id, so its activity uncertainty (if any) is drawn from the same
stream in both views.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import polars as pl

from carbon_assets.engine import units
from carbon_assets.engine.emissions import DEFAULT_TIE_BREAK, conversion, factor_unit, select_factor
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.factors import value_under_gwp
from carbon_assets.engine.money import MoneyError
from carbon_assets.engine.params import CalcParams

INSTRUMENT_TYPES = ("guarantee_of_origin", "ppa", "supplier_specific", "rec")
TIER = {"ppa": 0, "guarantee_of_origin": 1, "rec": 1, "supplier_specific": 2}  # Scope 2 Guidance hierarchy
INSTRUMENT_SCHEMA = {
    "instrument_id": pl.String, "type": pl.String, "year": pl.String, "region": pl.String, "site": pl.String,
    "mwh": pl.Float64, "factor_kgco2e_per_kwh": pl.Float64, "uncertainty_pct": pl.Float64,
    "reference": pl.String,
}
REQUIRED = ("instrument_id", "type", "year", "region", "mwh", "factor_kgco2e_per_kwh")
ALLOCATION_SCHEMA = {
    "instrument_id": pl.String, "type": pl.String, "year": pl.String, "region": pl.String, "site": pl.String,
    "mwh": pl.Float64, "allocated_mwh": pl.Float64, "over_claimed_mwh": pl.Float64, "n_lines": pl.Int64,
}
RESIDUAL_MIX_KEY = "electricity.residual_mix"
ELECTRICITY_PREFIX = "electricity."
INSTRUMENT_NAMESPACE = "instrument"
# market_method of a market-based line piece
INSTRUMENT, RESIDUAL_MIX = "instrument", "residual_mix"
GRID_AVERAGE, NOT_ELECTRICITY = "grid_average", "not_electricity"
MARKET_COLUMNS = {"basis": pl.String, "market_method": pl.String, "instrument_id": pl.String}
EPS_KWH = 1e-6  # a remainder below a milliwatt-hour is rounding, not consumption


def instrument_factor_id(instrument_id: str) -> str:
    return f"{INSTRUMENT_NAMESPACE}:{instrument_id}"


def _number(text: str, file: str, row: int, column: str, minimum: float, strict: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError("not a number (use '.' as decimal separator)", file=file, row=row, column=column,
                         value=text) from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise InputError(f"must be a number {'>' if strict else '>='} {minimum:g}", file=file, row=row,
                         column=column, value=text)
    return value


def load_instruments(path: Path) -> pl.DataFrame:
    """The tenant's instruments (INSTRUMENT_SCHEMA, sorted by instrument_id); empty when the file is absent.
    Rows are numbered as lines of the file (header = row 1); lines starting with '#' are comments."""
    path = Path(path)
    if not path.exists():
        return pl.DataFrame(schema=INSTRUMENT_SCHEMA)
    file = str(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        lines = [(i, line) for i, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    if not lines:
        return pl.DataFrame(schema=INSTRUMENT_SCHEMA)
    reader = csv.reader(line for _, line in lines)
    header = [h.strip() for h in next(reader)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"missing column(s) {missing}; columns are {list(INSTRUMENT_SCHEMA)}", file=file,
                         row=lines[0][0], column=missing[0])
    unknown = [c for c in header if c not in INSTRUMENT_SCHEMA]
    if unknown:
        raise InputError(f"unknown column; columns are {list(INSTRUMENT_SCHEMA)}", file=file, row=lines[0][0],
                         column=unknown[0])
    rows, seen = [], {}
    for (row, _), cells in zip(lines[1:], reader):
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} cells for {len(header)} columns", file=file, row=row)
        r = {h: c.strip() for h, c in zip(header, cells)}
        for c in REQUIRED:
            if not r[c]:
                raise InputError("empty cell", file=file, row=row, column=c, value=r[c])
        if r["instrument_id"] in seen:
            raise InputError(f"duplicate instrument_id (first at row {seen[r['instrument_id']]})", file=file,
                             row=row, column="instrument_id", value=r["instrument_id"])
        seen[r["instrument_id"]] = row
        if r["type"] not in INSTRUMENT_TYPES:
            raise InputError(f"unknown instrument type; one of {list(INSTRUMENT_TYPES)}", file=file, row=row,
                             column="type", value=r["type"])
        if not (len(r["year"]) == 4 and r["year"].isdigit()):
            raise InputError("year must be a 4-digit year", file=file, row=row, column="year",
                             value=r["year"])
        unc = r.get("uncertainty_pct") or ""
        rows.append({
            "instrument_id": r["instrument_id"], "type": r["type"], "year": r["year"], "region": r["region"],
            "site": r.get("site") or None,
            "mwh": _number(r["mwh"], file, row, "mwh", 0.0, strict=True),
            "factor_kgco2e_per_kwh": _number(r["factor_kgco2e_per_kwh"], file, row, "factor_kgco2e_per_kwh",
                                             0.0),
            "uncertainty_pct": _number(unc, file, row, "uncertainty_pct", 0.0) if unc else None,
            "reference": r.get("reference") or None,
        })
    return pl.DataFrame(rows, schema=INSTRUMENT_SCHEMA, orient="row").sort("instrument_id")


def _kwh_per_unit(unit: str | None) -> float | None:
    try:
        return units.conversion_factor(unit, "kWh") if unit else None
    except (units.DimensionMismatch, units.UnitError):
        return None


def _instrument_dist(inst: dict) -> tuple[str, float, float]:
    u = inst["uncertainty_pct"]
    f = inst["factor_kgco2e_per_kwh"]
    if u and f > 0:  # same convention as factors: lognormal, median = value, sigma_ln = ln(1+u)/1.96
        return "lognormal", f, math.log1p(u / 100.0) / 1.96
    return "none", f, 0.0


def _residual_factor(line: dict, candidates: list[dict], ns_rank: dict[str, int],
                     tie_break: tuple[str, ...]) -> tuple[dict | None, str]:
    probe = {**line, "activity_key": RESIDUAL_MIX_KEY, "requested_factor_id": None}
    f, status, note = select_factor(probe, candidates, int(line["year"]), ns_rank, tie_break)
    return (f, note) if status == "matched" else (None, "")


def allocate(emissions: pl.DataFrame, instruments: pl.DataFrame, snapshot: pl.DataFrame, params: CalcParams,
             tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(market-based lines, allocation per instrument).

    Market lines: one or more pieces per matched Scope 2 line of ``emissions``, with the emission
    columns re-priced (factor_id, factor_value, dist*, quantity, conversion, quantity_in_factor_unit,
    em_kgco2e, match_note) and MARKET_COLUMNS added (basis "market"); every other column is the
    line's own, so they feed montecarlo.build_problem like the location-based lines.
    Allocation (ALLOCATION_SCHEMA): per instrument of the years present in ``emissions``, MWh placed
    and MWh over-claimed.
    """
    lines = emissions.filter((pl.col("match_status") == "matched") & (pl.col("scope") == "2"))
    years = set(emissions["year"].unique().to_list()) if "year" in emissions.columns else set()
    insts = instruments.filter(pl.col("year").is_in(sorted(years))) if instruments.height else instruments
    insts = insts.with_columns(
        pl.col("type").replace_strict(TIER, default=9, return_dtype=pl.Int64).alias("__tier"),
        pl.col("site").is_null().alias("__regionwide"),
    ).sort("__regionwide", "__tier", "instrument_id")
    candidates = value_under_gwp(snapshot.filter(pl.col("activity_key") == RESIDUAL_MIX_KEY),
                                 params.default_gwp).to_dicts()
    ns_rank = {ns: i for i, ns in enumerate(params.namespace_order())}

    rows = lines.with_row_index("__order").sort(["region", "site", "date", "activity_id", "__order"],
                                                 nulls_last=True).to_dicts()
    is_elec = [(r["activity_key"] or "").startswith(ELECTRICITY_PREFIX) for r in rows]
    kwh_unit = [_kwh_per_unit(r["unit"]) if e else None for r, e in zip(rows, is_elec)]
    remaining = [r["quantity"] * k if k is not None and r["quantity"] > 0 else 0.0
                 for r, k in zip(rows, kwh_unit)]
    covered: list[list[tuple[dict, float]]] = [[] for _ in rows]
    alloc = []
    for inst in insts.iter_rows(named=True):
        left = inst["mwh"] * 1000.0
        n = 0
        for i, r in enumerate(rows):
            if left <= EPS_KWH:
                break
            if (remaining[i] <= EPS_KWH or r["year"] != inst["year"] or r["region"] != inst["region"]
                    or (inst["site"] is not None and r["site"] != inst["site"])):
                continue
            take = min(left, remaining[i])
            covered[i].append((inst, take))
            remaining[i] -= take
            left -= take
            n += 1
        unplaced = left / 1000.0 if left > EPS_KWH else 0.0
        alloc.append({"instrument_id": inst["instrument_id"], "type": inst["type"], "year": inst["year"],
                      "region": inst["region"], "site": inst["site"], "mwh": inst["mwh"],
                      "allocated_mwh": inst["mwh"] - unplaced, "over_claimed_mwh": unplaced, "n_lines": n})

    out = []
    for r, elec, k, pieces, rest in zip(rows, is_elec, kwh_unit, covered, remaining):
        r = {c: v for c, v in r.items() if c != "__order"}
        if not elec:
            out.append(_piece(r, NOT_ELECTRICITY, None,
                              "market-based: not electricity, location-based factor kept"))
            continue
        out += [_instrument_piece(r, inst, kwh, k) for inst, kwh in pieces]
        if not pieces:  # untouched line: the whole quantity, bit for bit
            out.append(_rest_piece(r, r["quantity"], None, candidates, ns_rank, tie_break, params))
        elif rest > EPS_KWH:
            out.append(_rest_piece(r, rest / k, rest, candidates, ns_rank, tie_break, params))

    schema = {**emissions.schema, **MARKET_COLUMNS}
    market = pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)
    return market, pl.DataFrame(alloc, schema=ALLOCATION_SCHEMA, orient="row")


def _piece(line: dict, method: str, instrument_id: str | None, note: str, **values) -> dict:
    text = f"{line['match_note']}; {note}" if line.get("match_note") else note
    return {**line, **values, "basis": "market", "market_method": method, "instrument_id": instrument_id,
            "match_note": text}


def _instrument_piece(line: dict, inst: dict, kwh: float, kwh_per_unit: float) -> dict:
    dist, p1, p2 = _instrument_dist(inst)
    f = inst["factor_kgco2e_per_kwh"]
    return _piece(line, INSTRUMENT, inst["instrument_id"],
                  f"market-based: {inst['type']} {inst['instrument_id']} covers {kwh:g} kWh",
                  factor_id=instrument_factor_id(inst["instrument_id"]), namespace=INSTRUMENT_NAMESPACE,
                  factor_unit="kWh", factor_value=f, gwp_set=None, gwp_status="kept_published",
                  conversion=kwh_per_unit, quantity=kwh / kwh_per_unit, quantity_in_factor_unit=kwh,
                  em_kgco2e=kwh * f, dist=dist, dist_p1=p1, dist_p2=p2)


def _rest_piece(line: dict, qty: float, rest_kwh: float | None, candidates: list[dict],
                ns_rank: dict[str, int], tie_break: tuple[str, ...], params: CalcParams) -> dict:
    """The part of a line no instrument covers (``rest_kwh`` None: the whole line): residual mix, else the
    line's own grid-average factor."""
    # a line without a region has no residual mix: any country's would qualify by the selection rules
    f, sel_note = _residual_factor(line, candidates, ns_rank, tie_break) if line["region"] else (None, "")
    if f is not None:
        try:
            conv, money_note = conversion(line["unit"], f, int(line["year"]))
        except (units.DimensionMismatch, units.UnitError, MoneyError):
            f = None
    if f is None:
        note = (f"no residual mix for {line['region']} {line['year']}: grid-average factor used "
                "(GHG Protocol Scope 2 hierarchy, last resort)")
        if rest_kwh is None:
            return _piece(line, GRID_AVERAGE, None, note)
        q = qty * line["conversion"]
        return _piece(line, GRID_AVERAGE, None, note, quantity=qty, quantity_in_factor_unit=q,
                      em_kgco2e=q * line["factor_value"])
    q = qty * conv
    p2 = f["dist_param"] if f["dist"] == "lognormal" else f["dist_param"] * abs(f["value_gwp"])
    note = "; ".join(x for x in (f"market-based: residual mix {f['factor_id']} ({sel_note})", money_note,
                                 f"for the {rest_kwh:g} kWh not covered" if rest_kwh else "") if x)
    gwp_set = params.default_gwp if f["gwp_status"] != "kept_published" else f["gwp_set"]
    return _piece(line, RESIDUAL_MIX, None, note, factor_id=f["factor_id"], namespace=f["namespace"],
                  factor_unit=factor_unit(f), factor_value=f["value_gwp"], gwp_set=gwp_set,
                  gwp_status=f["gwp_status"], conversion=conv, quantity=qty, quantity_in_factor_unit=q,
                  em_kgco2e=q * f["value_gwp"], dist=f["dist"], dist_p1=f["value_gwp"], dist_p2=p2)


def market_lines(emissions: pl.DataFrame, instruments: pl.DataFrame, snapshot: pl.DataFrame,
                 params: CalcParams, tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK) -> pl.DataFrame:
    """The market-based counterpart of the matched Scope 2 lines (see ``allocate``)."""
    return allocate(emissions, instruments, snapshot, params, tie_break)[0]
