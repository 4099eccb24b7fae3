"""Deflators for EUR (Eurostat HICP, euro area) and GBP (ONS CPI D7BT) next to USD (BLS CPI-U): spend lines
are brought to the price year of the factor's currency; every figure below is a published value, the products
worked out by hand."""

import math
import shutil

import pytest

from carbon_assets.engine import emissions, money

# Published annual average rates of change, % (rounded to 0.1): Eurostat prc_hicp_aind RCH_A_AVG, euro area;
# ONS D7G7 "CPI ANNUAL RATE 00: ALL ITEMS 2015=100".
EA_RATES = {2016: 0.2, 2017: 1.5, 2018: 1.8, 2019: 1.2, 2020: 0.3, 2021: 2.6, 2022: 8.4, 2023: 5.4, 2024: 2.4}
UK_RATES = {2016: 0.7, 2017: 2.7, 2018: 2.5, 2019: 1.8, 2020: 0.9, 2021: 2.6, 2022: 9.1, 2023: 7.3, 2024: 2.5}


def test_eur_spend_against_a_factor_priced_in_2018_euros():
    # euro area HICP (2015=100): 2018 = 103.56, 2024 = 126.07 -> 1000 x 103.56 / 126.07 = 821.448
    m, note = money.spend_conversion("EUR", "EUR", 2024, factor_price_year=2018)
    assert m == pytest.approx(103.56 / 126.07, rel=1e-12)
    assert 1000 * m == pytest.approx(821.448, abs=1e-3)
    assert note == "deflated 2024->2018 EUR prices with euro area HICP (103.56/126.07)"


def test_gbp_spend_against_a_factor_priced_in_2018_pounds():
    # ONS CPI D7BT (2015=100): 2018 = 105.9, 2024 = 133.9 -> 1000 x 105.9 / 133.9 = 790.889
    m, note = money.spend_conversion("GBP", "GBP", 2024, factor_price_year=2018)
    assert m == pytest.approx(105.9 / 133.9, rel=1e-12)
    assert 1000 * m == pytest.approx(790.889, abs=1e-3)
    assert note == "deflated 2024->2018 GBP prices with UK CPI (105.9/133.9)"


def test_usd_spend_against_a_gbp_factor_priced_in_2019():
    # ECB 2024 averages: 0.84662 GBP and 1.0824 USD per EUR -> 0.782169 GBP per USD;
    # then the factor's currency is deflated: UK CPI 2019 / 2024 = 107.8 / 133.9 = 0.805078 -> 0.629708
    m, note = money.spend_conversion("USD", "GBP", 2024, factor_price_year=2019)
    assert m == pytest.approx(0.84662 / 1.0824 * 107.8 / 133.9, rel=1e-12)
    assert m == pytest.approx(0.629708, abs=1e-6)
    assert note == ("USD->GBP at ECB 2024 annual average (USD/EUR 1.0824, GBP/EUR 0.84662); "
                    "deflated 2024->2019 GBP prices with UK CPI (107.8/133.9)")


def test_gbp_spend_against_a_eur_factor_is_deflated_with_the_hicp():
    # 1 GBP = 1 / 0.86979 EUR at the ECB 2023 average = 1.149703; HICP 2022 / 2023 = 116.82 / 123.15 = 0.948599
    m, note = money.spend_conversion("GBP", "EUR", 2023, factor_price_year=2022)
    assert m == pytest.approx(116.82 / (0.86979 * 123.15), rel=1e-12)
    assert m == pytest.approx(1.090607, abs=1e-6)
    assert "euro area HICP (116.82/123.15)" in note and "CPI-U" not in note and "UK CPI" not in note


def test_usd_note_still_names_cpi_u():
    m, note = money.spend_conversion("USD", "USD", 2024, factor_price_year=2021)
    assert m == pytest.approx(270.970 / 313.689, rel=1e-12)
    assert note == "deflated 2024->2021 USD prices with CPI-U (270.97/313.689)"


def test_keur_line_against_an_ademe_style_factor_priced_in_2022():
    """The emissions stage: spend in EUR against a kgCO2e per 1000 EUR (2022) factor (ADEME's kgCO2e/keuro
    (2022) HT): 1 EUR of 2024 = 116.82 / 126.07 EUR of 2022 = 0.926628, per 1000 EUR = 0.000926628."""
    factor = {"unit": "kEUR", "unit_basis": None, "price_year": 2022}
    conv, note = emissions.conversion("EUR", factor, 2024)
    assert conv == pytest.approx(116.82 / 126.07 / 1000, rel=1e-12)
    assert conv == pytest.approx(0.000926628, rel=1e-6)
    assert "euro area HICP" in note


@pytest.mark.parametrize("args,match", [
    (("EUR", "EUR", 2031, 2018), (r"^no price index for EUR in 2031 to deflate 2031 -> 2018 "
                                  r"\(euro area HICP years available: 2015-2024\)$")),
    (("EUR", "EUR", 2024, 2010), r"^no price index for EUR in 2010 to deflate 2024 -> 2010"),
    (("GBP", "GBP", 2025, 2012), r"^no price index for GBP in 2025, 2012 to deflate 2025 -> 2012 \(UK CPI"),
    (("EUR", "CHF", 2024, 2021), (r"^no price index for CHF to deflate 2024 -> 2021 "
                                  r"\(deflators shipped for: EUR, GBP, USD\)$")),
])
def test_a_missing_index_is_an_error_naming_currency_and_year(args, match):
    with pytest.raises(money.MoneyError, match=match):
        money.spend_conversion(*args)


def test_shipped_indices_cover_2015_to_2024_on_a_2015_base():
    idx = money.price_indices()
    for ccy in ("EUR", "GBP"):
        assert sorted(y for c, y in idx if c == ccy) == list(range(2015, 2025))
        assert idx[(ccy, 2015)] == 100.0
    assert (idx[("EUR", 2022)], idx[("GBP", 2022)], idx[("USD", 2022)]) == (116.82, 121.7, 292.655)


def _consistent(idx: dict, ccy: str, year: int, rate: float, half_unit: float) -> bool:
    """Could the published rate (rounded to 0.1) come from the unrounded indices behind the published ones
    (rounded to half_unit * 2)? The two intervals of possible rates must overlap."""
    lo = ((idx[(ccy, year)] - half_unit) / (idx[(ccy, year - 1)] + half_unit) - 1) * 100
    hi = ((idx[(ccy, year)] + half_unit) / (idx[(ccy, year - 1)] - half_unit) - 1) * 100
    return lo <= rate + 0.05 and hi >= rate - 0.05


@pytest.mark.parametrize("ccy,rates,half_unit,off_by", [("EUR", EA_RATES, 0.005, 0.10), ("GBP", UK_RATES, 0.05, 0.3)])
def test_year_on_year_changes_reproduce_the_published_annual_rates(ccy, rates, half_unit, off_by):
    """The agencies compute their rates from unrounded indices, so the plain ratio of the published (rounded)
    indices can miss the published rate by more than its rounding (UK 2024: 133.9 / 130.5 = +2.605 %, published
    2.5 %); what must hold is that both could come from the same unrounded figures."""
    idx = money.price_indices()
    for year, rate in rates.items():
        assert _consistent(idx, ccy, year, rate, half_unit), (ccy, year, rate)
    # the check bites: the 2022 index off by 0.10 (HICP) or 0.3 (UK CPI) is caught
    bad = {**idx, (ccy, 2022): idx[(ccy, 2022)] + off_by}
    assert not _consistent(bad, ccy, 2022, rates[2022], half_unit)


def test_a_deflator_file_missing_from_the_folder_leaves_only_that_currency_without_one(tmp_path):
    """A replay of a calculation recorded before the EUR/GBP files shipped has only the USD file."""
    shutil.copy(money.money_dir() / "us_cpi_u_annual.csv", tmp_path / "us_cpi_u_annual.csv")
    shutil.copy(money.money_dir() / "ecb_eur_reference_rates_annual.csv", tmp_path)
    folder = str(tmp_path)
    assert money.spend_conversion("USD", "USD", 2024, 2021, folder=folder)[0] == pytest.approx(270.970 / 313.689)
    with pytest.raises(money.MoneyError, match=r"no price index for EUR .*deflators shipped for: USD\)"):
        money.spend_conversion("EUR", "EUR", 2024, 2018, folder=folder)


@pytest.mark.parametrize("body,match", [
    ("currency,year,index\nEUR,2015,100.00\nGBP,2016,100.7\n", r"line 4, column currency: 'GBP'"),
    ("currency,year,index\nEUR,2015,100.00\nEUR,2016,1OO.23\n", r"line 4, column index: '1OO.23' is not a number"),
    ("currency,year,index\nEUR,20x6,100.23\n", r"line 3, column year: '20x6' is not a year"),
    ("currency,year,index\nEUR,2016,0\n", r"line 3, column index: '0' is not a positive index"),
    ("currency,year,index\nEUR,2016,100.23\nEUR,2016,100.24\n", r"line 4, column year: 2016 is listed twice"),
    ("currency,year,value\nEUR,2016,100.23\n", r"line 2: header must be currency,year,index"),
])
def test_a_malformed_deflator_file_stops_with_file_line_column_and_value(tmp_path, body, match):
    # line numbers are the file's own: the comment line counts
    (tmp_path / "eurostat_hicp_ea_annual.csv").write_text("# source\n" + body, encoding="utf-8")
    with pytest.raises(money.MoneyDataError, match=match) as err:
        money.price_indices(str(tmp_path))
    assert "eurostat_hicp_ea_annual.csv" in str(err.value)
    assert not isinstance(err.value, money.MoneyError)  # not caught as a unit_mismatch by the emissions stage


def test_deflation_round_trips():
    there, _ = money.spend_conversion("GBP", "GBP", 2019, factor_price_year=2023)
    back, _ = money.spend_conversion("GBP", "GBP", 2023, factor_price_year=2019)
    assert math.isclose(there * back, 1.0, rel_tol=1e-15)


def test_every_deflator_file_is_a_config_file_of_the_calculation():
    """Deflators enter the lineage signature and replay restores them: each must be a config role."""
    from carbon_assets.engine import calculation

    assert {f"money/{f}" for f, _ in money.DEFLATORS.values()} <= set(calculation.CONFIG_ROLES.values())
