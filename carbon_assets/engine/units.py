"""Unit parsing and conversion with pint, with the aliases factor publishers and clients use.

Units are normalised to a pint expression (``"kWh"``, ``"L"``, ``"passenger*km"``, ``"t*km"``...).
Energy units may carry a calorific basis (``kWh (Gross CV)``, ``kWh PCI``): the basis is kept
apart from the unit so that gross and net calorific values never silently mix.

Currencies (spend-based factors: kgCO2e per USD, EUR, GBP) are each their own base dimension, so
nothing converts between currencies implicitly: a EUR spend against a USD factor is a dimension
mismatch, never a silent 1:1. The price year of a currency denominator is a factor column
(``price_year``), not part of the unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pint


class UnitError(ValueError):
    """Unknown unit text."""


class DimensionMismatch(ValueError):
    """Two units of different physical dimensions."""


_ALIASES = {
    "litre": "L", "litres": "L", "liter": "L", "liters": "L", "l": "L", "lt": "L",
    "million litres": "ML", "cubic metres": "m**3", "cubic meters": "m**3", "m3": "m**3", "m³": "m**3",
    "tonnes": "t", "tonne": "t", "tons": "t", "metric ton": "t", "kilogram": "kg", "kilograms": "kg", "kgs": "kg",
    "passenger.km": "passenger*km", "passenger km": "passenger*km", "pkm": "passenger*km", "p.km": "passenger*km",
    "passager.km": "passenger*km",
    "t.km": "t*km", "tkm": "t*km", "tonne.km": "t*km", "tonne km": "t*km", "tonnes.km": "t*km",
    "room per night": "room_night", "room night": "room_night", "room nights": "room_night", "nuitée": "room_night",
    "kwh": "kWh", "mwh": "MWh", "gwh": "GWh", "gj": "GJ", "mj": "MJ", "km": "km", "miles": "mile",
    "unité": "unit", "unit": "unit", "units": "unit", "item": "unit",
    # ADEME Base Carbone denominators (after the "kgCO2e/" prefix)
    "kg": "kg", "kg de poids net": "kg", "kg de poids vif": "kg", "kgh2": "kg", "tonne de déchets": "t",
    "tep": "toe", "heure": "h", "appareil": "unit", "m3.km": "m**3*km",
    "m²": "m**2", "m2": "m**2", "m² shon": "m**2", "m2 shon": "m**2", "m² de paroi": "m**2", "m² de sol": "m**2",
    "m² de toiture": "m**2", "m de route": "m", "m3 (n)": "m**3", "ha.an": "hectare*year",
    "keuro": "kEUR", "euro dépensé": "EUR", "euro": "EUR", "repas": "meal", "personne.mois": "person*month",
    "plant": "unit", "livre": "unit", "100 feuilles a4": "hectosheet",  # ADEME: a plant, a book (not the pound)
    "kg de fluide": "kg", "kg de matière active": "kg", "kg de cuir traité": "kg", "kg d'azote épandu": "kg",
    "kg biognc": "kg", "kg dco éliminée": "kg", "kg ntk": "kg",
    "tonne de k2o": "t", "tonne de p2o5": "t", "tonne produites": "t", "tonne de clinker": "t",
    # US EPA GHG Emission Factors Hub denominators
    "mmbtu": "mmBtu", "short ton": "short_ton", "scf": "ft**3", "gallon": "gallon", "gallons": "gallon",
    "vehicle-mile": "vehicle*mile", "passenger-mile": "passenger*mile", "short ton-mile": "short_ton*mile",
    "vehicle.km": "vehicle*km", "vkm": "vehicle*km",
    # currencies (ISO 4217 codes), each its own dimension
    "usd": "USD", "us$": "USD", "eur": "EUR", "€": "EUR", "gbp": "GBP", "£": "GBP",
}
CURRENCIES = ("USD", "EUR", "GBP")
_BASIS = [
    (re.compile(r"\s*\(\s*(?:gross\s*cv|pcs|hhv)\s*\)\s*$|(?<=\S)\s*pcs$", re.IGNORECASE), "gross"),
    (re.compile(r"\s*\(\s*(?:net\s*cv|pci|lhv)\s*\)\s*$|(?<=\S)\s*pci$", re.IGNORECASE), "net"),
]


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry(cache_folder=None)
    ureg.define("passenger = [passenger]")
    ureg.define("room_night = [room_night]")
    ureg.define("unit = [item]")
    ureg.define("vehicle = [vehicle]")
    ureg.define("meal = [meal]")
    ureg.define("person = [person]")
    ureg.define("sheet = [sheet]")
    ureg.define("mmBtu = 1e6 * Btu")  # US "MMBtu": million British thermal units
    for code in CURRENCIES:  # no exchange rate: each currency is a base dimension of its own
        ureg.define(f"{code} = [currency_{code}]")
    return ureg


@dataclass(frozen=True)
class ParsedUnit:
    expr: str  # pint-parseable expression
    basis: str | None  # calorific basis for energy units: "gross", "net" or None


@lru_cache(maxsize=4096)
def parse_unit(text: str) -> ParsedUnit:
    """Parse a publisher's or client's unit text; raise UnitError if pint cannot read it."""
    if text is None or not str(text).strip():
        raise UnitError("empty unit")
    raw = str(text).strip()
    basis = None
    for pattern, name in _BASIS:
        if pattern.search(raw):
            raw, basis = pattern.sub("", raw).strip(), name
    expr = _ALIASES.get(raw.lower(), raw)
    try:
        registry().parse_units(expr)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, TypeError,
            ValueError, AssertionError) as exc:
        raise UnitError(f"unknown unit {text!r}") from exc
    return ParsedUnit(expr=expr, basis=basis)


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiplier m such that q [from_unit] = q * m [to_unit]; raises on unknown or mismatched units."""
    src, dst = parse_unit(from_unit), parse_unit(to_unit)
    if src.basis and dst.basis and src.basis != dst.basis:
        raise DimensionMismatch(
            f"calorific basis differs: {from_unit!r} is {src.basis} CV, {to_unit!r} is {dst.basis} CV"
        )
    ureg = registry()
    try:
        # 15 significant digits: pint's float path gives e.g. 999.9999999999999 for m**3 -> L
        return float(f"{ureg.Quantity(1.0, src.expr).to(dst.expr).magnitude:.15g}")
    except pint.errors.DimensionalityError as exc:
        raise DimensionMismatch(
            f"cannot convert {from_unit!r} ({ureg.parse_units(src.expr).dimensionality}) "
            f"to {to_unit!r} ({ureg.parse_units(dst.expr).dimensionality})"
        ) from exc
