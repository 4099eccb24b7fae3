import shutil

import polars as pl
import pytest

from carbon_assets.engine import factors, gwp
from carbon_assets.engine.errors import InputError


def _one(df: pl.DataFrame, fid: str) -> dict:
    rows = df.filter(pl.col("factor_id") == fid).to_dicts()
    assert len(rows) == 1, fid
    return rows[0]


def test_desnz_flat_file_sample(data_dir):
    df, hashes = factors.read_namespace(data_dir / "mappings", data_dir / "factors", "DEFRA")
    assert df.height == 11  # 11 factors; their per-gas rows are folded into gas columns
    grid = _one(df, "DEFRA:7_400_4000_5")
    assert grid["value_kgco2e"] == 0.20705  # UK grid electricity 2024
    assert (grid["co2_fossil"], grid["ch4"], grid["n2o"]) == (0.20493, 0.0009, 0.00122)
    assert grid["unit"] == "kWh" and grid["region"] == "GB" and grid["scope_applicable"] == "2"
    assert grid["source_row"] == 19 and grid["activity_key"] == "electricity.grid"
    gas = _one(df, "DEFRA:1_100_1004_6")
    assert gas["value_kgco2e"] == 0.1829 and gas["unit_basis"] == "gross"  # natural gas, gross CV
    assert _one(df, "DEFRA:1_101_1011_8")["value_kgco2e"] == 2.51279  # diesel (average biofuel blend)
    assert _one(df, "DEFRA:17_404_4005_1")["unit"] == "m**3"
    # the full-file mapping takes part (it finds no published file here); its hash covers the one it extends
    assert set(hashes) == {"mapping:desnz_flat_2024.yaml", "mapping:desnz_flat_2024_full.yaml",
                           "file:uk_desnz/desnz_2024_flat_sample.xlsx"}


def test_default_uncertainty_is_declared_lognormal(data_dir):
    df, _ = factors.read_namespace(data_dir / "mappings", data_dir / "factors", "DEFRA")
    grid = _one(df, "DEFRA:7_400_4000_5")
    assert grid["dist"] == "lognormal" and grid["uncertainty_pct"] == 10.0
    assert grid["dist_param"] == pytest.approx(0.0953101798 / 1.96, rel=1e-9)  # ln(1.1)/1.96
    assert "assumed" in grid["uncertainty_note"]


def test_custom_layout_with_published_uncertainty(data_dir):
    df, _ = factors.read_namespace(data_dir / "mappings", data_dir / "factors", "custom")
    fr_grid = _one(df, "custom:ADEME-42513")
    assert fr_grid["value_kgco2e"] == 0.052 and fr_grid["uncertainty_pct"] == 10.0
    assert fr_grid["uncertainty_note"] == "published"
    assert _one(df, "custom:ADEME-37132")["unit_basis"] == "net"
    assert _one(df, "custom:ADEME-37133")["unit_basis"] == "gross"


def test_gwp_rebase_ademe_diesel_b7_by_hand(snapshot):
    """ADEME 25775: total 3.1, CO2f 3.04, CH4f 0.00622, N2O 0.0537 (AR5 contributions)."""
    by_hand = 3.04 + 0.00622 / 30 * 29.8 + 0.0537 / 265 * 273
    row = _one(factors.value_under_gwp(snapshot, "AR6"), "custom:ADEME-25775")
    assert row["value_gwp"] == pytest.approx(by_hand, rel=1e-12)
    assert row["value_gwp"] == pytest.approx(3.1015, abs=5e-5)
    assert row["gwp_status"] == "rebased"
    assert _one(factors.value_under_gwp(snapshot, "AR5"), "custom:ADEME-25775")["gwp_status"] == "native"


def test_unsplit_ch4_is_kept_as_published_and_flagged(snapshot):
    row = _one(factors.value_under_gwp(snapshot, "AR6"), "DEFRA:7_400_4000_5")
    assert row["value_gwp"] == 0.20705 and row["gwp_status"] == "kept_published"


def test_gwp_table_values():
    assert gwp.GWP["AR6"]["ch4_fossil"] == 29.8 and gwp.GWP["AR6"]["ch4_biogenic"] == 27.0
    assert gwp.GWP["AR5"]["n2o"] == 265.0 and gwp.GWP["AR6"]["n2o"] == 273.0
    masses = {"co2_fossil": 1.0, "ch4_fossil": 1.0, "ch4_biogenic": 0.0, "n2o": 1.0}
    assert gwp.rebase(masses, "mass", None, "AR6") == 1 + 29.8 + 273


def test_snapshot_ids_unique(snapshot):
    assert snapshot["factor_id"].n_unique() == snapshot.height == 15


def _custom_copy(tmp_path, data_dir, text: str):
    (tmp_path / "mappings").mkdir()
    (tmp_path / "factors" / "custom").mkdir(parents=True)
    shutil.copy(data_dir / "mappings" / "custom_csv.yaml", tmp_path / "mappings")
    (tmp_path / "factors" / "custom" / "client_factors.csv").write_text(text, encoding="utf-8")


def test_text_in_numeric_cell_names_file_row_column_value(tmp_path, data_dir):
    text = (data_dir / "factors" / "custom" / "client_factors.csv").read_text(encoding="utf-8")
    _custom_copy(tmp_path, data_dir, text.replace(",kWh,0.052,", ",kWh,zero point five,"))
    with pytest.raises(InputError) as err:
        factors.read_namespace(tmp_path / "mappings", tmp_path / "factors", "custom")
    e = err.value
    assert (e.file, e.row, e.column, e.value) == ("client_factors.csv", 2, "value_kgco2e", "zero point five")
    assert "not a number" in str(e) and "row 2" in str(e)


def test_missing_column_and_unknown_unit(tmp_path, data_dir):
    text = (data_dir / "factors" / "custom" / "client_factors.csv").read_text(encoding="utf-8")
    _custom_copy(tmp_path, data_dir, text.replace("factor_code,", "code,", 1))
    with pytest.raises(InputError, match="missing column 'factor_code'"):
        factors.read_namespace(tmp_path / "mappings", tmp_path / "factors", "custom")
    (tmp_path / "factors" / "custom" / "client_factors.csv").write_text(text.replace(",litre,", ",barrique,"))
    with pytest.raises(InputError) as err:
        factors.read_namespace(tmp_path / "mappings", tmp_path / "factors", "custom")
    assert (err.value.row, err.value.column, err.value.value) == (5, "unit", "barrique")


def test_truncated_desnz_file_is_refused(tmp_path, data_dir):
    import openpyxl

    (tmp_path / "mappings").mkdir()
    shutil.copy(data_dir / "mappings" / "desnz_flat_2024.yaml", tmp_path / "mappings")
    src = data_dir / "factors" / "uk_desnz" / "desnz_2024_flat_sample.xlsx"
    wb = openpyxl.load_workbook(src)
    ws = wb["Factors by Category"]
    ws.delete_rows(30, ws.max_row)  # cut the file, END marker included
    (tmp_path / "factors" / "uk_desnz").mkdir(parents=True)
    wb.save(tmp_path / "factors" / "uk_desnz" / "desnz_2024_flat_sample.xlsx")
    with pytest.raises(InputError, match="END.*truncated"):
        factors.read_namespace(tmp_path / "mappings", tmp_path / "factors", "DEFRA")
