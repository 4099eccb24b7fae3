"""Real published factor files through YAML mappings (UK DESNZ flat file, US EPA USEEIO v1.2, Climatiq
OEFDB EXIOBASE rows), the shipped USEEIO sample, and the generic mapping options they use (null_values,
tolerate empty_value, id.template, variants, price_year, year_range, currency units)."""

import copy
import csv
import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import yaml

from carbon_assets.engine import factors, units
from carbon_assets.engine.errors import InputError
from carbon_assets_tests.engine.shared_factors import (
    PROJECT,
    SHARED_FACTORS,
    shared_file,
    variant,
)

MAPPINGS = PROJECT / "data" / "mappings"
DESNZ_REAL = "uk_desnz/ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx"
USEEIO_REAL = "us_epa_useeio/SupplyChainGHGEmissionFactors_v1.2_NAICS_CO2e_USD2021.csv"
OEFDB_REAL = "climatiq_oefdb/OpenEmissionFactorsDB.csv"


def _one(df: pl.DataFrame, fid: str) -> dict:
    rows = df.filter(pl.col("factor_id") == fid).to_dicts()
    assert len(rows) == 1, fid
    return rows[0]


def _with_overlay(mapping: factors.Mapping, overlay: dict) -> factors.Mapping:
    """Top-level keys of ``overlay`` replace the mapping's; ``read`` is merged into the mapping's ``read``."""
    overlay = copy.deepcopy(overlay)
    read = {**mapping.spec["read"], **overlay.pop("read", {})}
    return variant(mapping, read=read, **overlay)


# ------------------------------------------------------------------ UK DESNZ 2024 flat file (real)


@pytest.fixture(scope="module")
def desnz_real():
    shared_file(DESNZ_REAL)
    mapping = factors.load_mapping(MAPPINGS / "desnz_flat_2024_full.yaml")  # extends the sample's mapping
    assert [p.name for p in mapping.files(SHARED_FACTORS)] == [Path(DESNZ_REAL).name]
    skipped: list[dict] = []
    return factors.read_source(mapping, SHARED_FACTORS, skipped), skipped


def test_desnz_real_exact_count(desnz_real):
    df, skipped = desnz_real
    # Counted by hand with openpyxl (sheet "Factors by Category", rows 7..8746 above END at row 8748):
    # 3,425 "kg CO2e" total rows; 809 of them have an empty value -> 2,616; 3 Homeworking rows are
    # "per FTE Working Hour" (no unit for it) -> 2,613. The 514 SECR kWh rows and the 58 "Outside of
    # Scopes" biogenic CO2 rows carry no "kg CO2e" total row, so they never were factors.
    assert df.height == 2613 and df["factor_id"].n_unique() == 2613
    reasons = [s["reason"] for s in skipped]
    assert reasons.count("empty factor value") == 809 and reasons.count("unknown unit") == 3 and len(skipped) == 812
    assert [(s["row"], s["column"], s["value"]) for s in skipped if s["reason"] == "unknown unit"] == [
        (8686, "UOM", "per FTE Working Hour"), (8687, "UOM", "per FTE Working Hour"),
        (8688, "UOM", "per FTE Working Hour")]
    assert all(s["file"] == "ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx" for s in skipped)
    assert not df.filter(pl.col("factor_id").str.starts_with("DEFRA:99_")).height  # outside-of-scopes memo rows
    assert set(df["scope_applicable"]) == {"1", "2", "3"}


def test_desnz_real_count_cross_checked_with_openpyxl(desnz_real):
    """The same count straight from the workbook, without the project's reader."""
    df, _ = desnz_real
    wb = openpyxl.load_workbook(SHARED_FACTORS / DESNZ_REAL, read_only=True, data_only=True)
    try:
        rows = list(wb["Factors by Category"].iter_rows(min_row=7, values_only=True))
    finally:
        wb.close()
    end = next(i for i, r in enumerate(rows) if r[1] == "END")
    totals = [r for r in rows[:end] if r[8] == "kg CO2e"]
    with_value = [r for r in totals if r[9] not in (None, "")]
    assert (len(totals), len(with_value)) == (3425, 2616)
    assert df.height == len(with_value) - sum(r[7] == "per FTE Working Hour" for r in with_value)


def test_desnz_real_reference_values(desnz_real):
    df, _ = desnz_real
    grid = _one(df, "DEFRA:7_400_4000_5")  # row 3066
    assert (grid["value_kgco2e"], grid["unit"], grid["activity_key"]) == (0.20705, "kWh", "electricity.grid")
    assert (grid["co2_fossil"], grid["ch4"], grid["n2o"]) == (0.20493, 0.0009, 0.00122)
    gas = _one(df, "DEFRA:1_100_1004_6")  # rows 83-86: total, then CO2, CH4, N2O rows (kg CO2e each)
    assert (gas["value_kgco2e"], gas["unit"], gas["unit_basis"]) == (0.1829, "kWh", "gross")
    assert (gas["co2_fossil"], gas["ch4"], gas["n2o"], gas["gas_basis"]) == (0.18253, 0.00028, 9e-05, "co2e")
    assert gas["activity_key"] == "fuel.natural_gas" and gas["source_row"] == 83
    net = _one(df, "DEFRA:1_100_1004_7")
    assert (net["value_kgco2e"], net["unit_basis"], net["activity_key"]) == (0.20264, "net", None)
    diesel = _one(df, "DEFRA:1_101_1011_8")  # row 187
    assert (diesel["value_kgco2e"], diesel["unit"], diesel["co2_fossil"], diesel["n2o"]) == (2.51279, "L", 2.4796,
                                                                                              0.0329)
    assert grid["price_year"] is None and grid["region"] == "GB" and grid["gwp_set"] == "AR5"


def _sample_with_cell(tmp_path, row: int, value) -> tuple[factors.Mapping, str]:
    """A copy of the shipped DESNZ sample with one value cell replaced; mapping pointed at it."""
    (tmp_path / "uk_desnz").mkdir()
    dst = tmp_path / "uk_desnz" / "sample.xlsx"
    shutil.copy(PROJECT / "data" / "factors" / "uk_desnz" / "desnz_2024_flat_sample.xlsx", dst)
    wb = openpyxl.load_workbook(dst)
    ws = wb["Factors by Category"]
    assert ws.cell(row=row, column=1).value == "1_100_1004_6_1"
    ws.cell(row=row, column=10).value = value
    wb.save(dst)
    return variant(factors.load_mapping(MAPPINGS / "desnz_flat_2024.yaml"), files=["uk_desnz/sample.xlsx"]), dst.name


def test_less_than_one_is_not_a_number_unless_declared(tmp_path):
    mapping, name = _sample_with_cell(tmp_path, 7, "< 1")
    with pytest.raises(InputError) as exc:
        factors.read_source(mapping, tmp_path)
    assert (exc.value.file, exc.value.row, exc.value.column, exc.value.value) == (
        name, 7, "GHG Conversion Factor 2024", "< 1")
    assert "not a number" in str(exc.value)
    # declared as "no value" in YAML: still an empty factor value, an error unless tolerated...
    declared = _with_overlay(mapping, {"read": {"null_values": ["< 1"]}})
    with pytest.raises(InputError, match="empty factor value") as exc:
        factors.read_source(declared, tmp_path)
    assert (exc.value.row, exc.value.value) == (7, "< 1")
    # ... and when tolerated, the factor and its gas rows are left out and listed, never half-built
    skipped: list[dict] = []
    full = factors.read_source(factors.load_mapping(MAPPINGS / "desnz_flat_2024.yaml"), PROJECT / "data" / "factors")
    df = factors.read_source(variant(declared, tolerate=["empty_value"]), tmp_path, skipped)
    assert skipped == [{"file": name, "row": 7, "column": "GHG Conversion Factor 2024", "value": "< 1",
                        "reason": "empty factor value"}]
    assert set(full["factor_id"]) - set(df["factor_id"]) == {"DEFRA:1_100_1004_6"} and df.height == full.height - 1


def test_empty_value_is_an_error_without_tolerate(tmp_path):
    mapping, name = _sample_with_cell(tmp_path, 7, None)
    with pytest.raises(InputError, match="empty factor value") as exc:
        factors.read_source(mapping, tmp_path)
    assert (exc.value.file, exc.value.row, exc.value.column) == (name, 7, "GHG Conversion Factor 2024")


# ------------------------------------------------------------------ US EPA USEEIO v1.2


def test_useeio_sample_exact_values(data_dir):
    df, hashes = factors.read_namespace(data_dir / "mappings", data_dir / "factors", "EPA")
    assert dict(df.group_by("source").len().rows()) == {"useeio_v1_2": 10, "epa_ghg_hub_2025": 22}
    df = df.filter(pl.col("source") == "useeio_v1_2")
    # 5 rows typed from the v1.2 CSV x 2 variants (with / without margins)
    assert df.height == 10 and df["factor_id"].n_unique() == 10
    assert set(hashes) == {"mapping:useeio_v1_2.yaml", "file:us_epa_useeio/useeio_v1_2_sample.csv",
                           "mapping:epa_ghg_hub_2025.yaml", "file:us_epa_hub/ghg-emission-factors-hub-2025_sample.xlsx"}
    cement_w, cement_wo = _one(df, "EPA:useeio-327310:with_margins"), _one(df, "EPA:useeio-327310:without_margins")
    assert (cement_w["value_kgco2e"], cement_wo["value_kgco2e"]) == (3.858, 3.768)  # margins 0.09
    for rec in (cement_w, cement_wo):
        assert (rec["unit"], rec["price_year"], rec["region"], rec["namespace"]) == ("USD", 2021, "US", "EPA")
        assert (rec["source_id"], rec["category"], rec["scope_applicable"]) == ("useeio-327310", "327310", "3")
        assert (rec["valid_from"], rec["valid_to"]) == (dt.date(2021, 1, 1), dt.date(2021, 12, 31))
        assert rec["dist"] == "none" and rec["source_row"] == 3
    assert cement_w["name"] == "Cement Manufacturing (with margins)"
    beef = _one(df, "EPA:useeio-112111:with_margins")
    assert (beef["value_kgco2e"], beef["category"]) == (3.298, "1121A0")
    truck = _one(df, "EPA:useeio-484121:without_margins")  # quoted title with commas
    assert truck["value_kgco2e"] == 1.115 and truck["name"].startswith("General Freight Trucking, Long-Distance")


def test_useeio_real_file(data_dir):
    path = shared_file(USEEIO_REAL)
    mapping = factors.load_mapping(MAPPINGS / "useeio_v1_2.yaml")  # its wildcard finds the published file
    assert [p.name for p in mapping.files(SHARED_FACTORS)] == [path.name]
    df = factors.read_source(mapping, SHARED_FACTORS)
    with path.open(newline="", encoding="utf-8") as fh:
        n_rows = sum(1 for _ in csv.DictReader(fh))
    assert n_rows == 1016 and df.height == 2 * 1016 and df["factor_id"].n_unique() == 2032
    assert set(df["unit"]) == {"USD"} and set(df["price_year"]) == {2021}
    steel = _one(df, "EPA:useeio-331110:with_margins")  # CSV line 92: 0.945 without, 0.033 margins, 0.979 with
    assert (steel["value_kgco2e"], _one(df, "EPA:useeio-331110:without_margins")["value_kgco2e"]) == (0.979, 0.945)
    assert steel["source_row"] == 92
    landfill = _one(df, "EPA:useeio-562212:without_margins")  # line 2
    assert landfill["value_kgco2e"] == 10.989 and landfill["name"] == "Solid Waste Landfill (without margins)"


def test_currencies_are_separate_dimensions():
    assert units.parse_unit("USD").expr == "USD" and units.parse_unit("eur").expr == "EUR"
    assert units.conversion_factor("GBP", "GBP") == 1.0
    for a, b in (("USD", "EUR"), ("EUR", "GBP"), ("USD", "kWh")):
        with pytest.raises(units.DimensionMismatch):
            units.conversion_factor(a, b)


def test_price_year_is_null_for_other_sources(snapshot):
    assert snapshot["price_year"].null_count() == snapshot.height
    assert list(factors.FACTOR_SCHEMA)[-1] == "price_year"


def test_variants_and_id_template_are_validated(tmp_path):
    base = factors.load_mapping(MAPPINGS / "useeio_v1_2.yaml").spec
    bad = {**base, "variants": [{"suffix": ":a"}, {"suffix": ":a"}]}
    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(InputError, match="unique"):
        factors.load_mapping(p)
    p.write_text(yaml.safe_dump({**base, "id": {"template": "no fields"}}), encoding="utf-8")
    with pytest.raises(InputError, match="id.template"):
        factors.load_mapping(p)


def _useeio_sample_with(tmp_path, data_dir, old: str, new: str) -> factors.Mapping:
    """The USEEIO sample copied to tmp_path with one text edit; returns its mapping."""
    (tmp_path / "us_epa_useeio").mkdir()
    src = (data_dir / "factors" / "us_epa_useeio" / "useeio_v1_2_sample.csv").read_text(encoding="utf-8")
    (tmp_path / "us_epa_useeio" / "useeio_v1_2_sample.csv").write_text(src.replace(old, new), encoding="utf-8")
    return factors.load_mapping(MAPPINGS / "useeio_v1_2.yaml")


def test_empty_id_template_cell_names_file_row_column(tmp_path, data_dir):
    mapping = _useeio_sample_with(tmp_path, data_dir, "\n327310,", "\n,")
    with pytest.raises(InputError, match="id template") as exc:
        factors.read_source(mapping, tmp_path)
    assert (exc.value.file, exc.value.row, exc.value.column) == ("useeio_v1_2_sample.csv", 3, "2017 NAICS Code")


def test_text_in_a_variant_value_names_the_cell(tmp_path, data_dir):
    mapping = _useeio_sample_with(tmp_path, data_dir, ",3.768,", ",n.a.,")
    with pytest.raises(InputError, match="not a number") as exc:
        factors.read_source(mapping, tmp_path)
    assert (exc.value.row, exc.value.column, exc.value.value) == (3, "Supply Chain Emission Factors without Margins",
                                                                 "n.a.")


# ------------------------------------------------------------------ Climatiq OEFDB, EXIOBASE rows (YAML only)


def test_climatiq_exiobase_rows_through_yaml_only():
    path = shared_file(OEFDB_REAL)
    df = factors.read_source(factors.load_mapping(MAPPINGS / "climatiq_oefdb_exiobase.yaml"), SHARED_FACTORS)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6181 and sum(r["source"] == "EXIOBASE" for r in rows) == 864  # counted with csv
    assert df.height == 864 and df["factor_id"].n_unique() == 864
    assert df["source_id"].str.split("-").list.first().n_unique() < 864  # activity_id alone is not unique
    assert set(df["unit"]) == {"EUR"} and set(df["namespace"]) == {"EXIOBASE"} and df["price_year"].null_count() == 864
    cereal = _one(df, "EXIOBASE:arable_farming-type_cereal_grains_not_elsewhere_specified-BR-2021-unknown")
    # CSV record 3 (line 4): kgCO2e-AR5 2.9749, kgCO2e-AR4 2.9204, gases "not-supplied", years_valid 2019-2021
    assert (cereal["value_kgco2e"], cereal["gwp_set"], cereal["region"], cereal["source_row"]) == (2.9749, "AR5", "BR", 4)
    assert (cereal["valid_from"], cereal["valid_to"]) == (dt.date(2019, 1, 1), dt.date(2021, 12, 31))
    assert cereal["co2_fossil"] is None and cereal["scope_applicable"] == "3"


def test_year_range_validity_format():
    fmts = [{"regex": "(?P<from>\\d{4})-(?P<to>\\d{4})", "means": "year_range"}]
    assert factors.parse_period("2019-2021", fmts, file="f", row=1, column="c") == (dt.date(2019, 1, 1),
                                                                                  dt.date(2021, 12, 31))
    with pytest.raises(InputError, match="not understood"):
        factors.parse_period("2021-2019", fmts, file="f", row=1, column="c")
