"""Money for spend-based lines: ISO 4217 codes, exchange rates and deflators (pure, no Dagster).

Data shipped in ``data/money/`` (real published values, sources cited in each file):

* ``ecb_eur_reference_rates_annual.csv``: ECB euro reference rates, annual averages, units per EUR.
* deflators, one file per currency (:data:`DEFLATORS`), annual average price indices:
  ``us_cpi_u_annual.csv`` (USD: US BLS CPI-U, 1982-84 = 100), ``eurostat_hicp_ea_annual.csv`` (EUR: Eurostat
  HICP, euro area, 2015 = 100), ``ons_cpi_d7bt_annual.csv`` (GBP: ONS CPI D7BT, 2015 = 100).

Contract of :func:`spend_conversion` (for the emissions stage):
``spend_conversion(from_ccy, to_ccy, year, factor_price_year=None) -> (multiplier, note)``;
an amount of ``from_ccy`` spent in ``year`` times ``multiplier`` is the amount of ``to_ccy`` at
``factor_price_year`` prices (or at ``year`` prices when no price year is given).

1. currency: cross rate through EUR at the **annual average of ``year``**:
   ``rate[to] / rate[from]`` with rate = units per EUR (EUR itself = 1).
2. price level: when ``factor_price_year`` is given and differs from ``year``, times
   ``index[to, factor_price_year] / index[to, year]`` (the deflator of the *factor's* currency).
Raises :class:`MoneyError` for a code that is not ISO 4217, a currency/year without a published
rate, or a price year without a deflator for that currency: never a silent 1:1. The note names the
rates and the index used (CPI-U, euro area HICP, UK CPI) with its two values.
A malformed deflator file raises :class:`MoneyDataError` naming file, line, column and value.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

# ISO 4217 active alphabetic codes (list one, 2024), funds/precious-metal codes excluded.
_ISO_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD
CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_ISO_CODES.split())
# unambiguous symbols only: "$" (USD, CAD, AUD, ...) and "¥" (JPY, CNY) are not guessed
SYMBOLS = {"€": "EUR", "£": "GBP", "US$": "USD", "CHF": "CHF"}
AMBIGUOUS_SYMBOLS = {"$": "USD, CAD, AUD, NZD, HKD, SGD, MXN...", "¥": "JPY or CNY", "kr": "SEK, NOK, DKK, ISK"}


class MoneyError(ValueError):
    """Unknown currency, or a rate / deflator that is not in the shipped data."""


class MoneyDataError(ValueError):
    """A shipped money table is malformed. Not a MoneyError on purpose: a broken table must stop the
    calculation, not turn every spend line into a unit_mismatch."""


# currency -> (deflator file in data/money/, name of its index as written in the notes). A file that is
# absent (e.g. in a replay of a calculation recorded before it shipped) leaves its currency without a deflator.
DEFLATORS = {
    "USD": ("us_cpi_u_annual.csv", "CPI-U"),
    "EUR": ("eurostat_hicp_ea_annual.csv", "euro area HICP"),
    "GBP": ("ons_cpi_d7bt_annual.csv", "UK CPI"),
}


def money_dir() -> Path:
    base = os.environ.get("CARBON_DATA_DIR")
    root = Path(base) if base else Path(__file__).resolve().parents[2] / "data"
    return root / "money"


def _read(path: Path, value_col: str) -> dict[tuple[str, int], float]:
    with path.open(encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {(r["currency"], int(r["year"])): float(r[value_col]) for r in rows}


@lru_cache(maxsize=4)
def eur_rates(folder: str | None = None) -> dict[tuple[str, int], float]:
    """(currency, year) -> units of currency per EUR (annual average)."""
    return _read(Path(folder or money_dir()) / "ecb_eur_reference_rates_annual.csv", "units_per_eur")


def _read_index(path: Path, ccy: str) -> dict[tuple[str, int], float]:
    """One deflator file: header ``currency,year,index``, rows for ``ccy`` only, each year once, index > 0."""
    out: dict[tuple[str, int], float] = {}
    header: list[str] | None = None
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            cells = [c.strip() for c in next(csv.reader([line]))]
            if header is None:
                if cells != ["currency", "year", "index"]:
                    raise MoneyDataError(f"{path}, line {lineno}: header must be currency,year,index, not {line.strip()!r}")
                header = cells
                continue
            where = f"{path}, line {lineno}"
            if len(cells) != 3:
                raise MoneyDataError(f"{where}: {line.strip()!r} does not have the 3 columns currency,year,index")
            cur, year_text, value_text = cells
            if cur != ccy:
                raise MoneyDataError(f"{where}, column currency: {cur!r}, but this file is the {ccy} deflator")
            try:
                year = int(year_text)
            except ValueError as exc:
                raise MoneyDataError(f"{where}, column year: {year_text!r} is not a year") from exc
            try:
                value = float(value_text)
            except ValueError as exc:
                raise MoneyDataError(f"{where}, column index: {value_text!r} is not a number") from exc
            if not value > 0:
                raise MoneyDataError(f"{where}, column index: {value_text!r} is not a positive index")
            if (ccy, year) in out:
                raise MoneyDataError(f"{where}, column year: {year} is listed twice")
            out[(ccy, year)] = value
    return out


@lru_cache(maxsize=4)
def price_indices(folder: str | None = None) -> dict[tuple[str, int], float]:
    """(currency, year) -> annual average price index used as deflator for that currency, from every
    deflator file of :data:`DEFLATORS` present in the folder."""
    base = Path(folder or money_dir())
    out: dict[tuple[str, int], float] = {}
    for ccy, (file_name, _) in sorted(DEFLATORS.items()):
        if (base / file_name).is_file():
            out.update(_read_index(base / file_name, ccy))
    return out


def currency_code(text: str | None) -> str:
    """The ISO 4217 code for a cell (code in any case, or an unambiguous symbol); MoneyError otherwise."""
    if text is None or not str(text).strip():
        raise MoneyError("empty currency")
    t = str(text).strip()
    if t in SYMBOLS:
        return SYMBOLS[t]
    if t in AMBIGUOUS_SYMBOLS:
        raise MoneyError(f"currency symbol {t!r} is ambiguous ({AMBIGUOUS_SYMBOLS[t]}): give an ISO 4217 code")
    if t.upper() in ISO_4217:
        return t.upper()
    raise MoneyError(f"{t!r} is not an ISO 4217 currency code")


def _rate(ccy: str, year: int, folder: str | None) -> float:
    if ccy == "EUR":
        return 1.0
    rates = eur_rates(folder)
    if (ccy, year) not in rates:
        years = sorted(y for c, y in rates if c == ccy)
        have = f"years available for {ccy}: {years[0]}-{years[-1]}" if years else f"no rates for {ccy}"
        raise MoneyError(f"no ECB annual average rate for {ccy} in {year} ({have})")
    return rates[(ccy, year)]


def spend_conversion(from_ccy: str, to_ccy: str, year: int, factor_price_year: int | None = None,
                     folder: str | None = None) -> tuple[float, str]:
    """(multiplier, note): see the module docstring for the contract."""
    src, dst = currency_code(from_ccy), currency_code(to_ccy)
    year = int(year)
    notes: list[str] = []
    mult = 1.0
    if src != dst:
        r_src, r_dst = _rate(src, year, folder), _rate(dst, year, folder)
        mult = r_dst / r_src
        notes.append(f"{src}->{dst} at ECB {year} annual average ({src}/EUR {r_src:g}, {dst}/EUR {r_dst:g})")
    if factor_price_year is not None and int(factor_price_year) != year:
        p = int(factor_price_year)
        idx = price_indices(folder)
        years = sorted(y for c, y in idx if c == dst)
        if not years:
            raise MoneyError(f"no price index for {dst} to deflate {year} -> {p} "
                             f"(deflators shipped for: {', '.join(sorted({c for c, _ in idx}))})")
        name = DEFLATORS[dst][1]
        missing = [y for y in (year, p) if (dst, y) not in idx]
        if missing:
            raise MoneyError(f"no price index for {dst} in {', '.join(map(str, missing))} to deflate {year} -> {p} "
                             f"({name} years available: {years[0]}-{years[-1]})")
        d = idx[(dst, p)] / idx[(dst, year)]
        mult *= d
        notes.append(f"deflated {year}->{p} {dst} prices with {name} ({idx[(dst, p)]:g}/{idx[(dst, year)]:g})")
    return mult, "; ".join(notes) if notes else f"{src} {year}: no conversion"
