"""Spend lines against spend-based factors: exchange rate of the line's year (ECB annual average),
then deflation to the factor's price year (US CPI-U), all recorded on the line."""

import datetime as dt

import polars as pl
import pytest

from carbon_assets.engine import emissions, factors
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.params import CalcParams

CEMENT = "EPA:useeio-327310:with_margins"  # 3.858 kg CO2e per 2021 USD (USEEIO v1.2 sample)


def _line(i: int, qty: float, unit: str, year: int, factor_id: str) -> dict:
    row = {c: None for c in ACTIVITY_SCHEMA}
    row.update(tenant="t", year=str(year), activity_id=f"a{i}", date=dt.date(year, 6, 30), source_file="f.csv",
               source_sha256="0" * 64, source_row=i + 1, requested_factor_id=factor_id, quantity=qty, unit=unit,
               scope="3", scope3_category=1)
    return row


@pytest.fixture(scope="module")
def snapshot(data_dir):
    return factors.build_snapshot([factors.read_namespace(data_dir / "mappings", data_dir / "factors", ns)[0]
                                   for ns in ("ADEME", "EPA")])


def test_eur_and_chf_spend_against_a_2021_usd_factor(snapshot):
    acts = pl.DataFrame([_line(1, 1000.0, "EUR", 2024, CEMENT), _line(2, 1000.0, "CHF", 2023, CEMENT),
                         _line(3, 1000.0, "USD", 2021, CEMENT)], schema=ACTIVITY_SCHEMA, orient="row")
    em = {r["activity_id"]: r for r in emissions.compute(acts, snapshot, CalcParams(default_gwp="AR5")).to_dicts()}
    # EUR 2024 -> USD at the ECB 2024 average (1.0824 USD per EUR), deflated 2024 -> 2021 with CPI-U
    eur = 1.0824 * 270.970 / 313.689
    assert em["a1"]["conversion"] == pytest.approx(eur, rel=1e-12)
    assert em["a1"]["em_kgco2e"] == pytest.approx(1000 * eur * 3.858, rel=1e-12)
    assert "EUR->USD at ECB 2024 annual average" in em["a1"]["match_note"] and "deflated 2024->2021" in \
        em["a1"]["match_note"]
    # CHF 2023 -> USD through EUR (1.0813 USD, 0.9718 CHF per EUR), deflated 2023 -> 2021
    assert em["a2"]["conversion"] == pytest.approx(1.0813 / 0.9718 * 270.970 / 304.702, rel=1e-12)
    assert em["a3"]["conversion"] == 1.0 and em["a3"]["em_kgco2e"] == pytest.approx(3858.0)


def test_missing_rate_or_deflator_is_a_flagged_line_not_a_guess(snapshot):
    acts = pl.DataFrame([_line(1, 1000.0, "EUR", 2025, CEMENT),  # no 2025 rate shipped
                         _line(2, 500.0, "litres", 2024, CEMENT)], schema=ACTIVITY_SCHEMA, orient="row")
    em = {r["activity_id"]: r for r in emissions.compute(acts, snapshot, CalcParams()).to_dicts()}
    assert em["a1"]["match_status"] == "unit_mismatch" and em["a1"]["em_kgco2e"] is None
    assert em["a2"]["match_status"] == "unit_mismatch" and em["a2"]["em_kgco2e"] is None
