"""Market-based Scope 2: instruments table, allocation order, residual mix and last-resort grid factor.

Hand checks on the demo tenant acme-fr 2024: 4 electricity bills of 31,250 + 28,400 + 26,900 + 33,450 =
120,000 kWh in Lyon (FR), priced location-based at ADEME Base Carbone 42513 (0.052 kgCO2e/kWh) = 6,240 kg.
"""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from carbon_assets.engine import factors, montecarlo, scope2_market
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams
from carbon_assets_tests.engine.test_report_views import (
    DATA,
    PARAMS,
    demo_emissions,
    demo_snapshot,
    instruments,
)


def _electricity(em: pl.DataFrame) -> pl.DataFrame:
    return em.filter((pl.col("match_status") == "matched") & (pl.col("scope") == "2"))


def with_residual_mix(snapshot: pl.DataFrame, value: float, region: str = "FR", year: int = 2024,
                      uncertainty_pct: float | None = None) -> pl.DataFrame:
    """The snapshot plus a SYNTHETIC residual-mix factor (we ship no residual-mix values)."""
    row = {c: None for c in factors.FACTOR_SCHEMA}
    dist, p = ("lognormal", math.log1p(uncertainty_pct / 100) / 1.96) if uncertainty_pct else ("none", 0.0)
    row.update(factor_id=f"custom:test-residual-{region}-{year}", namespace="custom", source="test",
               source_id="test-residual", name="synthetic residual mix",
               activity_key="electricity.residual_mix",
               region=region, unit="kWh", value_kgco2e=value, gwp_set="AR6", dist=dist, dist_param=p,
               scope_applicable="2", valid_from=dt.date(year, 1, 1), valid_to=dt.date(year, 12, 31),
               source_file="test", source_row=1)
    return pl.concat([snapshot, pl.DataFrame([row], schema=factors.FACTOR_SCHEMA, orient="row")])


# ----------------------------------------------------------------------------------------------- loading


def test_absent_file_is_an_empty_table(tmp_path):
    out = scope2_market.load_instruments(tmp_path / "nope.csv")
    assert out.height == 0 and out.schema == pl.Schema(scope2_market.INSTRUMENT_SCHEMA)


def test_demo_instruments_load():
    acme = scope2_market.load_instruments(DATA / "tenants" / "acme-fr" / "scope2_instruments.csv")
    cols = ["instrument_id", "type", "year", "region", "site", "mwh", "factor_kgco2e_per_kwh"]
    assert acme.select(cols).rows() == [
        ("acme-go-2024-hydro", "guarantee_of_origin", "2024", "FR", "Lyon", 60.0, 0.0),
        ("acme-go-2025-hydro", "guarantee_of_origin", "2025", "FR", "Lyon", 50.0, 0.0)]
    globex = scope2_market.load_instruments(DATA / "tenants" / "globex-uk" / "scope2_instruments.csv")
    assert set(globex["type"]) == {"supplier_specific"} and globex["mwh"].to_list() == [250.0, 238.0]


HEADER = "instrument_id,type,year,region,site,mwh,factor_kgco2e_per_kwh,uncertainty_pct,reference\n"


@pytest.mark.parametrize(("row", "column", "value"), [
    ("i1,green_certificate,2024,FR,,10,0,,", "type", "green_certificate"),
    ("i1,ppa,24,FR,,10,0,,", "year", "24"),
    ("i1,ppa,2024,FR,,-5,0,,", "mwh", "-5"),
    ("i1,ppa,2024,FR,,0,0,,", "mwh", "0"),
    ("i1,ppa,2024,FR,,1 000,0,,", "mwh", "1 000"),
    ("i1,ppa,2024,FR,,10,-0.1,,", "factor_kgco2e_per_kwh", "-0.1"),
    ("i1,ppa,2024,FR,,10,0,abc,", "uncertainty_pct", "abc"),
    ("i1,ppa,2024,,,10,0,,", "region", ""),
])
def test_bad_rows_name_file_row_column_value(tmp_path, row, column, value):
    path = tmp_path / "scope2_instruments.csv"
    path.write_text(HEADER + "ok,ppa,2024,FR,,5,0,,\n" + row + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        scope2_market.load_instruments(path)
    e = err.value
    assert (e.file, e.row, e.column, e.value) == (str(path), 3, column, value)
    assert str(path) in str(e) and "row 3" in str(e)


def test_duplicate_id_and_missing_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "a,ppa,2024,FR,,5,0,,\na,rec,2024,FR,,5,0,,\n", encoding="utf-8")
    with pytest.raises(InputError, match="duplicate instrument_id") as err:
        scope2_market.load_instruments(path)
    assert (err.value.row, err.value.column, err.value.value) == (3, "instrument_id", "a")
    path.write_text("instrument_id,type,year,region,factor_kgco2e_per_kwh\na,ppa,2024,FR,0\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="missing column") as err:
        scope2_market.load_instruments(path)
    assert err.value.column == "mwh"


# -------------------------------------------------------------------------------------------- allocation


def test_acme_go_half_covered_rest_at_grid_average():
    """60 MWh GO at 0 + the other 60,000 kWh at 0.052 (no residual mix shipped) = 3,120 kg."""
    em = demo_emissions("acme-fr", "2024")
    assert _electricity(em)["em_kgco2e"].sum() == pytest.approx(6240.0, rel=1e-12)
    market, alloc = scope2_market.allocate(em, instruments("acme-fr"), demo_snapshot(), PARAMS)
    assert market["em_kgco2e"].sum() == pytest.approx(3120.0, rel=1e-12)
    # bills in date order: T1 and T2 fully covered, T3 350 kWh covered and 26,550 kWh left, T4 untouched
    rows = market.select("date", "market_method", "quantity_in_factor_unit", "factor_id").rows()
    assert [(r[1], r[2]) for r in rows] == [
        ("instrument", 31250.0), ("instrument", 28400.0), ("instrument", 350.0), ("grid_average", 26550.0),
        ("grid_average", 33450.0)]
    assert {r[3] for r in rows if r[1] == "instrument"} == {"instrument:acme-go-2024-hydro"}
    assert {r[3] for r in rows if r[1] == "grid_average"} == {"ADEME:42513"}
    assert market["quantity"].sum() == pytest.approx(120000.0, rel=1e-12)  # pieces add up to the bills
    notes = market.filter(pl.col("market_method") == "grid_average")["match_note"].to_list()
    expected = ("no residual mix for FR 2024: grid-average factor used "
                "(GHG Protocol Scope 2 hierarchy, last resort)")
    assert len(notes) == 2 and all(expected in n for n in notes)
    assert set(market["basis"]) == {"market"} and set(market["dist"]) <= {"none", "lognormal"}
    assert alloc.select("instrument_id", "allocated_mwh", "over_claimed_mwh", "n_lines").rows() == [
        ("acme-go-2024-hydro", 60.0, 0.0, 3)]  # the 2025 GO is not this year's


def test_residual_mix_prices_the_uncovered_part():
    """Synthetic residual mix r = 0.4 kgCO2e/kWh for FR 2024: market = 60,000 kWh x 0.4 = 24,000 kg."""
    snap = with_residual_mix(demo_snapshot(), 0.4)
    em = demo_emissions("acme-fr", "2024")
    market = scope2_market.market_lines(em, instruments("acme-fr"), snap, PARAMS)
    assert market["em_kgco2e"].sum() == pytest.approx(24000.0, rel=1e-12)
    rest = market.filter(pl.col("market_method") == "residual_mix")
    assert set(rest["factor_id"]) == {"custom:test-residual-FR-2024"}
    assert rest["quantity_in_factor_unit"].sum() == pytest.approx(60000.0, rel=1e-12)
    # another region's residual mix is not used
    other = with_residual_mix(demo_snapshot(), 0.4, region="DE")
    market = scope2_market.market_lines(em, instruments("acme-fr"), other, PARAMS)
    assert market["em_kgco2e"].sum() == pytest.approx(3120.0, rel=1e-12)


def test_over_claimed_mwh_are_reported_never_used():
    inst = instruments("acme-fr").with_columns(pl.lit(150.0).alias("mwh"))
    market, alloc = scope2_market.allocate(demo_emissions("acme-fr", "2024"), inst, demo_snapshot(), PARAMS)
    assert market["em_kgco2e"].sum() == 0.0
    assert set(market["market_method"]) == {"instrument"}
    row = alloc.filter(pl.col("year") == "2024").row(0, named=True)
    assert (row["allocated_mwh"], row["over_claimed_mwh"], row["n_lines"]) == (120.0, 30.0, 4)


def _inst(rows: list[tuple]) -> pl.DataFrame:
    cols = ["instrument_id", "type", "year", "region", "site", "mwh", "factor_kgco2e_per_kwh",
            "uncertainty_pct"]
    return pl.DataFrame([dict(zip(cols, r)) | {"reference": None} for r in rows],
                        schema=scope2_market.INSTRUMENT_SCHEMA, orient="row")


def test_hierarchy_order_ppa_then_certificates_then_supplier():
    """PPA 50 MWh at 0, then the GO 40 MWh at 0, then the supplier's 0.03 on 30 MWh (of 100 claimed):
    market = 30,000 x 0.03 = 900 kg; the supplier contract over-claims 70 MWh. Ids are chosen so that
    alphabetical order would be the reverse."""
    inst = _inst([("a-supplier", "supplier_specific", "2024", "FR", None, 100.0, 0.03, None),
                  ("b-go", "guarantee_of_origin", "2024", "FR", None, 40.0, 0.0, None),
                  ("c-ppa", "ppa", "2024", "FR", None, 50.0, 0.0, None)])
    market, alloc = scope2_market.allocate(demo_emissions("acme-fr", "2024"), inst, demo_snapshot(), PARAMS)
    assert market["em_kgco2e"].sum() == pytest.approx(900.0, rel=1e-12)
    got = {r[0]: r[1:] for r in alloc.select("instrument_id", "allocated_mwh", "over_claimed_mwh").rows()}
    assert got == {"c-ppa": (50.0, 0.0), "b-go": (40.0, 0.0), "a-supplier": (30.0, 70.0)}
    assert alloc["instrument_id"].to_list() == ["c-ppa", "b-go", "a-supplier"]  # allocation order


def test_site_specific_instrument_goes_first_and_stays_on_its_site():
    inst = _inst([("a-region", "guarantee_of_origin", "2024", "FR", None, 120.0, 0.0, None),
                  ("z-paris", "ppa", "2024", "FR", "Paris", 10.0, 0.0, None),
                  ("z-lyon", "supplier_specific", "2024", "FR", "Lyon", 20.0, 0.01, None)])
    market, alloc = scope2_market.allocate(demo_emissions("acme-fr", "2024"), inst, demo_snapshot(), PARAMS)
    got = {r[0]: r[1:] for r in alloc.select("instrument_id", "allocated_mwh", "over_claimed_mwh").rows()}
    assert got == {"z-lyon": (20.0, 0.0), "z-paris": (0.0, 10.0), "a-region": (100.0, 20.0)}
    assert market["em_kgco2e"].sum() == pytest.approx(20000 * 0.01, rel=1e-12)


def test_instrument_uncertainty_and_model_compatibility():
    """An uncertain supplier factor becomes lognormal (sigma = ln 1.1 / 1.96); the market lines feed
    build_problem directly and its deterministic total is their em sum."""
    inst = _inst([("s", "supplier_specific", "2024", "FR", None, 120.0, 0.03, 10.0)])
    market = scope2_market.market_lines(demo_emissions("acme-fr", "2024"), inst, demo_snapshot(), PARAMS)
    assert set(market["dist"]) == {"lognormal"}
    assert market["dist_p2"].unique().to_list() == [pytest.approx(math.log(1.1) / 1.96, rel=1e-15)]
    problem = montecarlo.build_problem(market, ["scope"], with_total=False)
    assert problem.factor_ids == ("instrument:s",)
    assert problem.deterministic()[0] == pytest.approx(120000 * 0.03, rel=1e-12)
    totals = montecarlo.group_totals(problem, 7, 4000, backend="numpy")
    median = float(np.median(totals[0]))
    assert median == pytest.approx(3600.0, rel=0.01)  # lognormal median = published value


def test_globex_rego_tariff_covers_everything():
    em = demo_emissions("globex-uk", "2024")
    # 250 MWh x DESNZ 2024 UK grid 0.20705 kgCO2e/kWh
    assert _electricity(em)["em_kgco2e"].sum() == pytest.approx(250000 * 0.20705, rel=1e-12)
    market, alloc = scope2_market.allocate(em, instruments("globex-uk"), demo_snapshot(), PARAMS)
    assert market["em_kgco2e"].sum() == 0.0
    assert alloc.select("allocated_mwh", "over_claimed_mwh").rows() == [(250.0, 0.0)]


def test_no_instruments_and_no_residual_mix_is_the_location_line_bit_for_bit():
    em = demo_emissions("acme-fr", "2024")
    market = scope2_market.market_lines(em, instruments("acme-fr").clear(), demo_snapshot(), PARAMS)
    loc = _electricity(em).sort("date")
    assert market.sort("date").select(loc.columns).drop("match_note").equals(loc.drop("match_note"))
    assert set(market["market_method"]) == {"grid_average"}


def test_deterministic():
    em = demo_emissions("acme-fr", "2024")
    a = scope2_market.allocate(em, instruments("acme-fr"), demo_snapshot(), CalcParams())
    b = scope2_market.allocate(em.reverse(), instruments("acme-fr"), demo_snapshot(), CalcParams())
    assert a[0].equals(b[0]) and a[1].equals(b[1])
