"""ESRS E1-6 datapoints (Delegated Regulation 2023/2772) in tCO2eq, keyed by EFRAG taxonomy element names.

From the report views (engine/report_views.py) of one tenant-year: gross Scope 1, gross Scope 2
location- and market-based, gross Scope 3 (total and per GHG Protocol category, the category
number as ``member``), total GHG emissions location- and market-based, and the GHG intensity per
net revenue (tCO2eq per currency unit) when the tenant's ``company.yaml`` gives the year's revenue.

ELEMENTS is the one table of element names. ``taxonomy_confirmed`` is true only for the four
names read in the EFRAG ESRS XBRL taxonomy 2023-12-22 (docs/DOMAIN.md); the intensity names were
seen in two independent implementations of the taxonomy, not in the taxonomy itself; the totals'
names and the dimensional modelling of the Scope 3 categories are our best reading: all three are
flagged unconfirmed until checked against the taxonomy files.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import yaml

from carbon_assets.engine import money
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.report_views import SCOPE3_CATEGORY_LABELS

ESRS_SCHEMA = {
    "tenant": pl.String, "year": pl.String, "element": pl.String, "member": pl.String, "label": pl.String,
    "value_tco2e": pl.Float64, "mean_tco2e": pl.Float64, "p5_tco2e": pl.Float64, "p95_tco2e": pl.Float64,
    "unit": pl.String, "taxonomy_confirmed": pl.Boolean, "signature": pl.String,
}
UNIT = "tCO2e"
# datapoint -> (element, label, (view, basis, key) of its report-view row, taxonomy_confirmed)
ELEMENTS = {
    "scope1": ("esrs:GrossScope1GreenhouseGasEmissions", "Gross Scope 1 GHG emissions",
               ("scope", "both", "1"), True),
    "scope2_location": ("esrs:GrossLocationBasedScope2GreenhouseGasEmissions",
                        "Gross location-based Scope 2 GHG emissions", ("scope", "location", "2"), True),
    "scope2_market": ("esrs:GrossMarketBasedScope2GreenhouseGasEmissions",
                      "Gross market-based Scope 2 GHG emissions", ("scope", "market", "2"), True),
    "scope3": ("esrs:GrossScope3GreenhouseGasEmissions", "Gross Scope 3 GHG emissions",
               ("scope", "both", "3"), True),
    # per category: the Scope 3 element with the category as dimension member (axis name unconfirmed)
    "scope3_category": ("esrs:GrossScope3GreenhouseGasEmissions", "Gross Scope 3 GHG emissions, category",
                        ("scope3_category", "both", None), False),
    # other names seen: esrs:TotalGHGEmissionsLocationBased, esrs:LocationBasedGreenhouseGasEmissions
    "total_location": ("esrs:TotalGHGEmissionsLocationBased", "Total GHG emissions (location-based)",
                       ("total", "location", "total"), False),
    "total_market": ("esrs:TotalGHGEmissionsMarketBased", "Total GHG emissions (market-based)",
                     ("total", "market", "total"), False),
    "intensity_location": ("esrs:GHGEmissionsIntensityLocationbasedTotalGHGEmissionsPerNetRevenue",
                           "GHG intensity per net revenue (location-based)", ("total", "location", "total"),
                           False),
    "intensity_market": ("esrs:GHGEmissionsIntensityMarketbasedTotalGHGEmissionsPerNetRevenue",
                         "GHG intensity per net revenue (market-based)", ("total", "market", "total"), False),
}
_STATS = {"value_tco2e": "deterministic_kgco2e", "mean_tco2e": "mean_kgco2e", "p5_tco2e": "p5_kgco2e",
          "p95_tco2e": "p95_kgco2e"}


def load_company(path: Path) -> dict | None:
    """``company.yaml`` -> {"name", "currency", "net_revenue": {year: float}}; None when the file is absent.

    Keys: name (text), currency (ISO 4217 code), net_revenue (mapping year -> positive amount in currency).
    """
    path = Path(path)
    if not path.exists():
        return None
    file = str(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=file) from None
    if not isinstance(spec, dict):
        raise InputError("expected a mapping with name, currency, net_revenue", file=file, value=spec)
    unknown = sorted(set(spec) - {"name", "currency", "net_revenue"})
    if unknown:
        raise InputError("unknown key; keys are name, currency, net_revenue", file=file, column=unknown[0])
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError("name must be a non-empty text", file=file, column="name", value=name)
    currency = spec.get("currency")
    if not isinstance(currency, str) or currency.strip().upper() not in money.ISO_4217:
        raise InputError("currency must be an ISO 4217 code (e.g. EUR, GBP)", file=file, column="currency",
                         value=currency)
    revenue = spec.get("net_revenue") or {}
    if not isinstance(revenue, dict):
        raise InputError("net_revenue must map a year to an amount", file=file, column="net_revenue",
                         value=revenue)
    by_year = {}
    for y, v in revenue.items():
        if not (isinstance(y, int) or (isinstance(y, str) and y.isdigit())) or len(str(y)) != 4:
            raise InputError("net_revenue year must be a 4-digit year", file=file, column="net_revenue",
                             value=y)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise InputError("net revenue must be a positive number", file=file, column=f"net_revenue.{y}",
                             value=v)
        by_year[str(y)] = float(v)
    return {"name": name.strip(), "currency": currency.strip().upper(), "net_revenue": by_year}


def _row(element: str, member: str | None, label: str, stats: dict[str, float], unit: str,
         confirmed: bool) -> dict:
    return {"element": element, "member": member, "label": label, **stats, "unit": unit,
            "taxonomy_confirmed": confirmed}


def datapoints(views: pl.DataFrame, company: dict | None, tenant: str, year: str) -> pl.DataFrame:
    """ESRS_SCHEMA rows of one tenant-year from its report views (VIEW_SCHEMA). A scope without lines
    reports 0 tCO2e; no rows at all when the views are empty (nothing was computed)."""
    v = views.filter((pl.col("tenant") == tenant) & (pl.col("year") == year))
    if v.height == 0:
        return pl.DataFrame(schema=ESRS_SCHEMA)
    signature = v["signature"][0]
    by_row = {(r["view"], r["basis"], r["key"]): r for r in v.iter_rows(named=True)}

    def stats(view: str, basis: str, key: str, divisor: float = 1000.0) -> dict[str, float]:
        r = by_row.get((view, basis, key))
        return {out: (r[src] / divisor if r else 0.0) for out, src in _STATS.items()}

    rows = []
    for name in ("scope1", "scope2_location", "scope2_market", "scope3"):
        element, label, where, confirmed = ELEMENTS[name]
        rows.append(_row(element, None, label, stats(*where), UNIT, confirmed))
    element, label, (view, basis, _), confirmed = ELEMENTS["scope3_category"]
    for c in sorted(int(k) for (vw, b, k) in by_row if vw == view and b == basis):
        rows.append(_row(element, str(c), f"{label} {c}: {SCOPE3_CATEGORY_LABELS[c]}",
                         stats(view, basis, str(c)), UNIT, confirmed))
    for name in ("total_location", "total_market"):
        element, label, where, confirmed = ELEMENTS[name]
        rows.append(_row(element, None, label, stats(*where), UNIT, confirmed))
    revenue = (company or {}).get("net_revenue", {}).get(str(year))
    if revenue:
        for name in ("intensity_location", "intensity_market"):
            element, label, where, confirmed = ELEMENTS[name]
            rows.append(_row(element, None, label, stats(*where, divisor=1000.0 * revenue),
                             f"{UNIT}/{company['currency']}", confirmed))
    out = pl.DataFrame(rows).with_columns(pl.lit(tenant).alias("tenant"), pl.lit(year).alias("year"),
                                          pl.lit(signature, pl.String).alias("signature"))
    return out.select(list(ESRS_SCHEMA)).cast(ESRS_SCHEMA)
