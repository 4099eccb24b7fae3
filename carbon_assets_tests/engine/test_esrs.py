"""ESRS E1-6 datapoints from the report views: tCO2e = kg / 1000, intensity = t / net revenue."""

import polars as pl
import pytest

from carbon_assets.engine import esrs
from carbon_assets.engine.errors import InputError
from carbon_assets_tests.engine.test_report_views import DATA, SIGNATURE, demo_views

S1, S2L, S2M, S3 = (f"esrs:{n}" for n in ("GrossScope1GreenhouseGasEmissions",
                                          "GrossLocationBasedScope2GreenhouseGasEmissions",
                                          "GrossMarketBasedScope2GreenhouseGasEmissions",
                                          "GrossScope3GreenhouseGasEmissions"))
INT_L = "esrs:GHGEmissionsIntensityLocationbasedTotalGHGEmissionsPerNetRevenue"
INT_M = "esrs:GHGEmissionsIntensityMarketbasedTotalGHGEmissionsPerNetRevenue"


def _view(v: pl.DataFrame, view: str, basis: str, key: str) -> dict:
    out = v.filter((pl.col("view") == view) & (pl.col("basis") == basis) & (pl.col("key") == key))
    return out.row(0, named=True)


def test_load_demo_companies_and_absent(tmp_path):
    acme = esrs.load_company(DATA / "tenants" / "acme-fr" / "company.yaml")
    assert acme == {"name": "Acme France SAS", "currency": "EUR",
                    "net_revenue": {"2024": 8.4e6, "2025": 8.9e6}}
    globex = esrs.load_company(DATA / "tenants" / "globex-uk" / "company.yaml")
    assert globex["currency"] == "GBP" and globex["net_revenue"]["2024"] == 21.5e6
    assert esrs.load_company(tmp_path / "company.yaml") is None


@pytest.mark.parametrize(("text", "column", "value"), [
    ("name: A\ncurrency: EURO\nnet_revenue: {2024: 10}\n", "currency", "EURO"),
    ("name: A\ncurrency: EUR\nnet_revenue: {2024: -10}\n", "net_revenue.2024", -10),
    ("name: A\ncurrency: EUR\nnet_revenue: {2024: ten}\n", "net_revenue.2024", "ten"),
    ("name: A\ncurrency: EUR\nnet_revenue: {24: 10}\n", "net_revenue", 24),
    ("name: ''\ncurrency: EUR\n", "name", ""),
    ("name: A\ncurrency: EUR\nrevenue: {2024: 10}\n", "revenue", None),
])
def test_bad_company_file_names_column_and_value(tmp_path, text, column, value):
    path = tmp_path / "company.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        esrs.load_company(path)
    assert (err.value.file, err.value.column, err.value.value) == (str(path), column, value)
    assert str(path) in str(err.value)


def test_acme_2024_datapoints_hand_checked():
    v = demo_views("acme-fr", "2024")[0]
    company = esrs.load_company(DATA / "tenants" / "acme-fr" / "company.yaml")
    dp = esrs.datapoints(v, company, "acme-fr", "2024")
    assert dp.schema == pl.Schema(esrs.ESRS_SCHEMA)
    by = {(r["element"], r["member"]): r for r in dp.iter_rows(named=True)}
    assert by[(S2L, None)]["value_tco2e"] == pytest.approx(6.24, rel=1e-12)  # 120,000 kWh x 0.052 / 1000
    assert by[(S2M, None)]["value_tco2e"] == pytest.approx(3.12, rel=1e-12)  # 60,000 kWh x 0.052 / 1000
    s1 = _view(v, "scope", "both", "1")
    assert by[(S1, None)]["value_tco2e"] == pytest.approx(s1["deterministic_kgco2e"] / 1000, rel=1e-15)
    assert by[(S1, None)]["p95_tco2e"] == pytest.approx(s1["p95_kgco2e"] / 1000, rel=1e-15)
    s3 = (22000 * 0.20011 + 2750 * 0.18287 + 12 * 10.4) / 1000
    assert by[(S3, None)]["value_tco2e"] == pytest.approx(s3, rel=1e-12)
    assert by[(S3, "6")]["value_tco2e"] == pytest.approx(s3, rel=1e-12)  # all of it business travel
    total_l = by[("esrs:TotalGHGEmissionsLocationBased", None)]["value_tco2e"]
    total_m = by[("esrs:TotalGHGEmissionsMarketBased", None)]["value_tco2e"]
    assert total_l == pytest.approx(by[(S1, None)]["value_tco2e"] + 6.24 + s3, rel=1e-12)
    assert total_l == pytest.approx(42.57419, abs=5e-6)
    assert total_m == pytest.approx(total_l - 3.12, rel=1e-12)
    assert by[(INT_L, None)]["value_tco2e"] == pytest.approx(total_l / 8.4e6, rel=1e-12)
    assert by[(INT_M, None)]["value_tco2e"] == pytest.approx(total_m / 8.4e6, rel=1e-12)
    assert by[(INT_L, None)]["mean_tco2e"] == pytest.approx(
        _view(v, "total", "location", "total")["mean_kgco2e"] / 1000 / 8.4e6, rel=1e-12)
    assert by[(INT_L, None)]["unit"] == "tCO2e/EUR" and by[(S1, None)]["unit"] == "tCO2e"
    confirmed = {r["element"] for r in dp.iter_rows(named=True) if r["taxonomy_confirmed"]}
    assert confirmed == {S1, S2L, S2M, S3}
    assert not by[(S3, "6")]["taxonomy_confirmed"]  # the category breakdown's modelling is unconfirmed
    assert set(dp["signature"]) == {SIGNATURE} and dp.height == 9


def test_globex_categories_and_no_revenue_for_the_year():
    v = demo_views("globex-uk", "2024")[0]
    company = {"name": "G", "currency": "GBP", "net_revenue": {"2025": 1.0}}
    dp = esrs.datapoints(v, company, "globex-uk", "2024")
    members = dp.filter((pl.col("element") == S3) & pl.col("member").is_not_null())
    assert members["member"].to_list() == ["1", "3", "4", "6"]
    assert members["value_tco2e"].sum() == pytest.approx(
        dp.filter((pl.col("element") == S3) & pl.col("member").is_null())["value_tco2e"][0], rel=1e-12)
    assert members.filter(pl.col("member") == "4")["value_tco2e"][0] == pytest.approx(150000 * 0.09752 / 1000,
                                                                                     rel=1e-12)  # HGV t.km
    assert dp.filter(pl.col("element").str.contains("Intensity")).height == 0  # no 2024 revenue
    assert dp.filter(pl.col("element") == S2M)["value_tco2e"][0] == 0.0  # REGO-backed tariff, all covered
    assert esrs.datapoints(v, None, "other", "2024").height == 0


def test_missing_scope_reports_zero():
    v = demo_views("acme-fr", "2024")[0].filter(~((pl.col("view") == "scope") & (pl.col("key") == "3")))
    dp = esrs.datapoints(v, None, "acme-fr", "2024")
    row = dp.filter((pl.col("element") == S3) & pl.col("member").is_null()).row(0, named=True)
    assert (row["value_tco2e"], row["mean_tco2e"], row["p5_tco2e"], row["p95_tco2e"]) == (0.0, 0.0, 0.0, 0.0)
