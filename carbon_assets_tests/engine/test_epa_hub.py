"""US EPA GHG Emission Factors Hub through YAML only: stacked tables, per-gas mass units, GWP
re-basing from masses, region fallbacks and the declared tie-break."""

import datetime as dt
import shutil

import openpyxl
import polars as pl
import pytest

from carbon_assets.engine import emissions, factors
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams
from carbon_assets_tests.engine.shared_factors import PROJECT, SHARED_FACTORS, shared_file

MAPPING = PROJECT / "data" / "mappings" / "epa_ghg_hub_2025.yaml"
SAMPLE = "ghg-emission-factors-hub-2025_sample.xlsx"
LB = 0.45359237  # kg per pound (exact by definition)


def _one(df: pl.DataFrame, fid: str) -> dict:
    rows = df.filter(pl.col("factor_id") == fid).to_dicts()
    assert len(rows) == 1, fid
    return rows[0]


@pytest.fixture(scope="module")
def sample(data_dir):
    skipped: list[dict] = []
    return factors.read_source(factors.load_mapping(MAPPING), data_dir / "factors", skipped), skipped


@pytest.fixture(scope="module")
def real():
    shared_file("us_epa_hub/ghg-emission-factors-hub-2025.xlsx")
    skipped: list[dict] = []
    return factors.read_source(factors.load_mapping(MAPPING), SHARED_FACTORS, skipped), skipped


def _egrid_us_average_checks(df: pl.DataFrame) -> None:
    us = _one(df, "EPA:egrid2023-US Average")
    # published: 771.523 lb CO2, 0.057 lb CH4, 0.008 lb N2O per MWh -> kg per MWh
    assert (us["co2_fossil"], us["ch4"], us["n2o"]) == pytest.approx((771.523 * LB, 0.057 * LB, 0.008 * LB),
                                                                      rel=1e-15)
    assert (us["unit"], us["region"], us["gas_basis"], us["gwp_set"], us["scope_applicable"]) == \
        ("MWh", "US", "mass", "AR5", "2")
    # CO2e under the Hub's own GWPs (Table 11: CH4 28, N2O 265), by hand: 775.239 lb = 351.6425 kg
    assert us["value_kgco2e"] == pytest.approx((771.523 + 28 * 0.057 + 265 * 0.008) * LB, rel=1e-12)
    assert us["value_kgco2e"] == pytest.approx(351.6425, abs=1e-4)
    assert us["activity_key"] == "electricity.grid"
    nb = _one(df, "EPA:egrid2023-US Average-nonbaseload")  # 1393.7 / 0.104 / 0.015 lb, never for inventories
    assert (nb["co2_fossil"], nb["ch4"], nb["n2o"]) == pytest.approx((1393.7 * LB, 0.104 * LB, 0.015 * LB),
                                                                      rel=1e-15)
    assert nb["activity_key"] is None


def test_sample_loads_every_table(sample):
    df, skipped = sample
    # Table 1: 5 fuels x (per mmBtu, per physical unit) - the Kraft liquor row has no physical-unit values
    # (reported as skipped, with its row); Table 2: 2; Table 6: 3 x 2; Table 7: 1; Table 8: 2; Table 10: 2
    assert df.height == 9 + 2 + 6 + 1 + 2 + 2 and df["factor_id"].n_unique() == df.height
    assert [(s["row"], s["column"], s["reason"]) for s in skipped] == [(26, "H", "empty factor value")]
    _egrid_us_average_checks(df)
    gas = _one(df, "EPA:hub2025-t1-Natural Gas-mmBtu")  # 53.06 kg CO2, 1 g CH4, 0.1 g N2O per mmBtu (HHV)
    assert (gas["unit"], gas["unit_basis"], gas["name"]) == ("mmBtu", "gross",
                                                             "Natural Gas / Natural Gas (per mmBtu HHV)")
    assert (gas["co2_fossil"], gas["ch4"], gas["n2o"]) == pytest.approx((53.06, 0.001, 0.0001), rel=1e-15)
    assert gas["value_kgco2e"] == pytest.approx(53.06 + 28 * 0.001 + 265 * 0.0001, rel=1e-12)
    scf = _one(df, "EPA:hub2025-t1-Natural Gas-unit")  # the carried unit row "mmBtu per scf"
    assert (scf["unit"], scf["co2_fossil"], scf["category"]) == ("ft**3", 0.05444, "Natural Gas")
    assert _one(df, "EPA:hub2025-t1-Motor Gasoline-unit")["unit"] == "gallon"
    assert _one(df, "EPA:hub2025-t1-Anthracite-unit")["unit"] == "short_ton"
    diesel = _one(df, "EPA:hub2025-t2-Diesel Fuel")  # CO2 only, kept as published
    assert (diesel["value_kgco2e"], diesel["co2_fossil"], diesel["ch4"]) == (10.21, 10.21, None)
    bus = _one(df, "EPA:hub2025-t10-Bus")
    assert (bus["unit"], bus["scope_applicable"], bus["source_row"]) == ("passenger*mile", "3", 94)
    assert bus["value_kgco2e"] == pytest.approx(0.066 + 28 * 0.0046e-3 + 265 * 0.0019e-3, rel=1e-12)
    assert _one(df, "EPA:hub2025-t8-Rail-short ton-mile")["unit"] == "short_ton*mile"


def test_real_hub_2025_counts_and_reference_values(real):
    df, skipped = real
    # counted by hand in the workbook: Table 1 has 63 fuel rows x 2 variants, minus the 5 Kraft pulping
    # liquor rows published per mmBtu only (121); Table 2: 10; Table 6: 28 eGRID rows x 2 (56);
    # Table 7: 1; Table 8: 7; Table 10: 12
    assert df.height == 121 + 10 + 56 + 1 + 7 + 12 == 207 and df["factor_id"].n_unique() == 207
    assert sorted(s["row"] for s in skipped) == [85, 86, 87, 88, 89]
    _egrid_us_average_checks(df)
    camx = _one(df, "EPA:egrid2023-CAMX")
    assert (camx["region"], camx["co2_fossil"]) == ("CAMX", pytest.approx(436.655 * LB, rel=1e-15))
    coal = _one(df, "EPA:hub2025-t1-Bituminous-unit")
    assert (coal["unit"], coal["co2_fossil"], coal["ch4"], coal["n2o"]) == \
        ("short_ton", 2325.0, pytest.approx(0.274), pytest.approx(0.04))
    assert coal["name"] == "Coal and Coke / Bituminous"


def test_ar6_rebasing_from_gas_masses(sample):
    df, _ = sample
    ar6 = _one(factors.value_under_gwp(df, "AR6"), "EPA:egrid2023-US Average")
    # masses are published, the CH4 origin is not: AR6's single CH4 value 27.9, N2O 273
    assert ar6["gwp_status"] == "rebased"
    assert ar6["value_gwp"] == pytest.approx((771.523 + 27.9 * 0.057 + 273 * 0.008) * LB, rel=1e-12)
    assert _one(factors.value_under_gwp(df, "AR5"), "EPA:egrid2023-US Average")["gwp_status"] == "native"
    co2_only = _one(factors.value_under_gwp(df, "AR6"), "EPA:hub2025-t2-Diesel Fuel")
    assert (co2_only["gwp_status"], co2_only["value_gwp"]) == ("kept_published", 10.21)


# ------------------------------------------------------------------ bad input


def _sample_copy(tmp_path, data_dir, edit) -> factors.Mapping:
    (tmp_path / "us_epa_hub").mkdir()
    dst = tmp_path / "us_epa_hub" / SAMPLE
    shutil.copy(data_dir / "factors" / "us_epa_hub" / SAMPLE, dst)
    wb = openpyxl.load_workbook(dst)
    edit(wb.active)
    wb.save(dst)
    return factors.load_mapping(MAPPING)


def test_moved_gas_column_is_refused_naming_the_header_cell(tmp_path, data_dir):
    mapping = _sample_copy(tmp_path, data_dir, lambda ws: ws.__setitem__("F54", "(lb N2O / MWh)"))
    with pytest.raises(InputError, match="header cell differs") as err:
        factors.read_source(mapping, tmp_path)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == (SAMPLE, 54, "F", "(lb N2O / MWh)")


def test_truncated_table_and_missing_table(tmp_path, data_dir):
    mapping = _sample_copy(tmp_path, data_dir, lambda ws: ws.delete_rows(58, 100))  # eGRID source row and below
    with pytest.raises(InputError, match="end row .* not found: truncated"):
        factors.read_source(mapping, tmp_path)


def test_text_in_a_gas_cell_names_row_and_column(tmp_path, data_dir):
    mapping = _sample_copy(tmp_path, data_dir, lambda ws: ws.__setitem__("F57", "n.d."))
    with pytest.raises(InputError, match="not a number") as err:
        factors.read_source(mapping, tmp_path)
    assert (err.value.row, err.value.column, err.value.value) == (57, "F", "n.d.")


# ------------------------------------------------------------------ selection: region fallback, tie-break


def _line(i, key, qty, unit, region, year="2024"):
    base = {c: None for c in ACTIVITY_SCHEMA}
    base.update(tenant="t", year=year, activity_id=f"a{i}", date=dt.date(int(year), 6, 30), source_file="f.csv",
                source_sha256="0" * 64, source_row=i + 1, activity_key=key, quantity=qty, unit=unit, region=region)
    return base


def test_egrid_subregion_then_declared_fallback_to_the_us_average(sample):
    df, _ = sample
    snap = factors.build_snapshot([df])
    acts = pl.DataFrame([_line(1, "electricity.grid", 10.0, "MWh", "CAMX"),
                         _line(2, "electricity.grid", 10.0, "MWh", "RFCW"),  # no RFCW row in the sample
                         _line(3, "electricity.grid", 10.0, "MWh", "FR")],
                        schema=ACTIVITY_SCHEMA, orient="row")
    em = {r["activity_id"]: r for r in emissions.compute(acts, snap, CalcParams(primary_fe_namespace="EPA",
                                                                                default_gwp="AR5")).to_dicts()}
    assert em["a1"]["factor_id"] == "EPA:egrid2023-CAMX" and "region fallback" not in em["a1"]["match_note"]
    assert em["a2"]["factor_id"] == "EPA:egrid2023-US Average"
    assert "region fallback: factor of region US used for RFCW" in em["a2"]["match_note"]
    assert em["a2"]["em_kgco2e"] == pytest.approx(10 * (771.523 + 28 * 0.057 + 265 * 0.008) * LB, rel=1e-12)
    assert em["a3"]["match_status"] == "out_of_validity" and em["a3"]["factor_id"] is None  # not declared for FR


def test_natural_gas_kwh_gross_line_converts_to_mmbtu_hhv(sample):
    df, _ = sample
    acts = pl.DataFrame([_line(1, "fuel.natural_gas", 1000.0, "kWh PCS", "US"),
                         _line(2, "fuel.natural_gas", 100.0, "m3", "US")], schema=ACTIVITY_SCHEMA, orient="row")
    em = emissions.compute(acts, factors.build_snapshot([df]), CalcParams(primary_fe_namespace="EPA", default_gwp="AR5"))
    kwh, m3 = em.to_dicts()
    assert kwh["factor_id"] == "EPA:hub2025-t1-Natural Gas-mmBtu"  # the scf factor does not convert from kWh
    # 1 kWh = 3.6 MJ; pint's Btu is the ISO 31-4 one, 1055.056 J
    assert kwh["em_kgco2e"] == pytest.approx(1000 * 3.6 / 1055.056 * (53.06 + 0.028 + 0.0265), rel=1e-12)
    assert m3["factor_id"] == "EPA:hub2025-t1-Natural Gas-unit"  # m3 -> scf; mmBtu does not convert from m3
    assert m3["em_kgco2e"] == pytest.approx(100 / 0.028316846592 * (0.05444 + 28 * 1.03e-6 + 265 * 1e-7), rel=1e-9)


def test_shipped_tie_break_is_the_default_and_is_validated(data_dir, tmp_path):
    assert emissions.load_tie_break(data_dir / "selection.yaml") == emissions.DEFAULT_TIE_BREAK
    bad = tmp_path / "selection.yaml"
    bad.write_text("tie_break: [highest_value, namespace_rank]\n")
    with pytest.raises(InputError, match="must end with factor_id"):
        emissions.load_tie_break(bad)
    bad.write_text("tie_break: [cheapest, factor_id]\n")
    with pytest.raises(InputError, match="unknown tie-break criteria") as err:
        emissions.load_tie_break(bad)
    assert err.value.value == ["cheapest"]


def test_declared_tie_break_decides_between_two_valid_factors(sample):
    df, _ = sample
    # two factors of the same namespace, region and validity serve a natural-gas line in MWh: the
    # per-mmBtu Hub factor, and a copy with a lower value - the declared order decides
    gas = df.filter(pl.col("factor_id") == "EPA:hub2025-t1-Natural Gas-mmBtu")
    low = gas.with_columns(pl.lit("EPA:zz-low").alias("factor_id"), pl.col("value_kgco2e") / 2,
                           pl.lit(None, pl.Float64).alias("co2_fossil"), pl.lit("co2e").alias("gas_basis"))
    snap = factors.build_snapshot([gas, low])
    acts = pl.DataFrame([_line(1, "fuel.natural_gas", 1.0, "MWh (Gross CV)", "US")], schema=ACTIVITY_SCHEMA,
                        orient="row")
    params = CalcParams(primary_fe_namespace="EPA", default_gwp="AR5")
    assert emissions.compute(acts, snap, params)["factor_id"][0] == "EPA:hub2025-t1-Natural Gas-mmBtu"
    lowest_first = ("namespace_rank", "in_validity", "exact_region", "lowest_value", "factor_id")
    assert emissions.compute(acts, snap, params, lowest_first)["factor_id"][0] == "EPA:zz-low"
