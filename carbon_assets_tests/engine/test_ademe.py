"""ADEME Base Carbone through YAML only: the shipped sample, the real published files, bad input."""

import copy
import datetime as dt
import math
import shutil
from pathlib import Path

import polars as pl
import pytest

from carbon_assets.engine import factors
from carbon_assets.engine.errors import InputError
from carbon_assets_tests.engine.shared_factors import PROJECT, SHARED_FACTORS, shared_file

MAPPING = PROJECT / "data" / "mappings" / "ademe_base_carbone.yaml"
SAMPLE = "base_carbone_sample.csv"
ID_COL, VALUE_COL, UNIT_COL, PERIOD_COL = ("Identifiant de l'élément", "Total poste non décomposé",
                                           "Unité français", "Période de validité")


def _one(df: pl.DataFrame, fid: str) -> dict:
    rows = df.filter(pl.col("factor_id") == fid).to_dicts()
    assert len(rows) == 1, fid
    return rows[0]


def _shared_file(name: str) -> Path:
    return shared_file(f"ademe_base_carbone/{name}")


def _variant(**overrides) -> factors.Mapping:
    """The shipped ADEME mapping with some top-level keys replaced (same normalisation code)."""
    base = factors.load_mapping(MAPPING)
    spec = copy.deepcopy(base.spec)
    spec.update(copy.deepcopy(overrides))
    return factors.Mapping(path=base.path, spec=spec)


# ------------------------------------------------------------------ (a) the shipped sample


@pytest.fixture(scope="module")
def ademe(data_dir):
    df, hashes = factors.read_namespace(data_dir / "mappings", data_dir / "factors", "ADEME")
    return df, hashes


def test_sample_loads_exact_rows(ademe):
    df, hashes = ademe
    # 20 data rows = 10 Elément + 10 Poste; Poste rows and the Archivé element 24310 are filtered out
    assert df["factor_id"].to_list() == ["ADEME:12902", "ADEME:25775", "ADEME:28312", "ADEME:37132", "ADEME:37133",
                                         "ADEME:39789", "ADEME:42513", "ADEME:43643", "ADEME:43739"]
    assert set(df["source"]) == {"ademe_base_carbone"} and set(df["gwp_set"]) == {"AR5"}
    # the XLSX mapping takes part (it finds no workbook in data/factors): its hash covers the CSV one it extends
    assert set(hashes) == {"mapping:ademe_base_carbone.yaml", "mapping:ademe_base_carbone_xlsx.yaml",
                           "file:ademe_base_carbone/base_carbone_sample.csv"}

    grid = _one(df, "ADEME:42513")  # the Elément total, not Elément + its 3 Poste rows (0.0338 + 0.0135 + 0.00474)
    assert grid["value_kgco2e"] == 0.052 and grid["unit"] == "kWh" and grid["unit_basis"] is None
    assert grid["region"] == "FR" and grid["activity_key"] == "electricity.grid" and grid["source_row"] == 2
    assert (grid["valid_from"], grid["valid_to"]) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))  # Année 2022
    assert grid["uncertainty_pct"] == 10.0 and grid["uncertainty_note"] == "published"
    assert grid["dist"] == "lognormal" and grid["dist_param"] == pytest.approx(math.log(1.1) / 1.96, rel=1e-12)
    assert grid["co2_fossil"] is None and grid["name"] == "Electricité / 2022 - mix moyen / consommation"

    pci, pcs = _one(df, "ADEME:37132"), _one(df, "ADEME:37133")
    assert (pci["value_kgco2e"], pci["unit"], pci["unit_basis"], pci["activity_key"]) == (0.239, "kWh", "net", None)
    assert (pcs["value_kgco2e"], pcs["unit"], pcs["unit_basis"]) == (0.215, "kWh", "gross")
    assert pcs["activity_key"] == "fuel.natural_gas" and pcs["source_row"] == 7
    assert (pcs["co2_fossil"], pcs["ch4_fossil"], pcs["ch4_biogenic"], pcs["n2o"]) == (0.205, 0.0101, 0.0, 0.0)
    assert (pcs["valid_from"], pcs["valid_to"]) == (dt.date(2023, 3, 15), dt.date(2025, 2, 28))
    assert pcs["uncertainty_pct"] == 5.0

    diesel = _one(df, "ADEME:25775")
    assert (diesel["value_kgco2e"], diesel["unit"], diesel["activity_key"]) == (3.1, "L", "fuel.diesel")
    # "6,22E-03" in the file: decimal comma with an exponent
    assert (diesel["co2_fossil"], diesel["ch4_fossil"], diesel["ch4_biogenic"], diesel["n2o"], diesel["other"]) == \
        (3.04, 0.00622, 0.0, 0.0537, 0.0)
    assert diesel["gas_basis"] == "co2e" and diesel["co2_biogenic"] == 0.0
    assert (diesel["valid_from"], diesel["valid_to"]) == (dt.date(2016, 12, 12), dt.date(2020, 12, 1))

    assert (_one(df, "ADEME:43739")["unit"], _one(df, "ADEME:43739")["value_kgco2e"]) == ("passenger*km", 0.122)
    assert _one(df, "ADEME:43739")["valid_to"] == dt.date(2026, 12, 31)  # "2026": valid until the end of 2026
    assert (_one(df, "ADEME:43643")["unit"], _one(df, "ADEME:43643")["value_kgco2e"]) == ("t*km", 0.0875)
    raclette = _one(df, "ADEME:28312")
    assert (raclette["unit"], raclette["value_kgco2e"], raclette["co2_biogenic"]) == ("unit", 16.8, -0.267)
    anthracite = _one(df, "ADEME:12902")
    assert (anthracite["unit_basis"], anthracite["valid_to"]) == ("net", dt.date(2018, 12, 31))  # "déc.-18"
    assert anthracite["n2o"] == 0.00147
    beer = _one(df, "ADEME:39789")  # nested quotes in the CSV
    assert beer["name"].startswith('"Bière ""coeur de marché"" (4-5° alcool)"')
    assert (beer["unit"], beer["value_kgco2e"], beer["uncertainty_pct"], beer["dist"]) == ("kg", 1.12, None, "none")


def test_sample_gas_contributions_sum_to_the_total(ademe):
    df, _ = ademe
    split = df.filter(pl.col("co2_fossil").is_not_null())
    assert split.height == 7
    for r in split.to_dicts():  # each term published to 3 significant figures: equal to within rounding
        total = r["co2_fossil"] + r["ch4_fossil"] + r["ch4_biogenic"] + r["n2o"] + r["other"]
        assert total == pytest.approx(r["value_kgco2e"], rel=0.01), r["factor_id"]  # 43739: 0.122858 vs 0.122


# ------------------------------------------------------------------ (b) the real published files


def test_real_v22_csv_export_through_the_same_mapping():
    path = _shared_file("base_carbone_v22.csv")
    df = factors.read_source(_variant(files=["ademe_base_carbone/" + path.name]), SHARED_FACTORS)
    # the file holds the first 27 data rows of the export, all "Elément" / "Valide générique" (checked
    # by hand in the file): all 27 kept, with the strict mapping (no tolerated rows)
    assert df.height == 27 and df["source_row"].to_list() == sorted(df["source_row"].to_list())
    assert (df["source_row"].min(), df["source_row"].max()) == (2, 28)
    web = _one(df, "ADEME:20620")  # "7,55E-03"
    assert (web["value_kgco2e"], web["unit"], web["region"], web["valid_to"]) == (0.00755, "unit", "Monde", None)
    acid = _one(df, "ADEME:20851")  # "kgCO2e/tonne", validity "déc-18"
    assert (acid["value_kgco2e"], acid["unit"], acid["valid_to"]) == (1199.0, "t", dt.date(2018, 12, 31))
    salad = _one(df, "ADEME:34052")  # nested quotes with a TAB inside the name
    assert salad["name"].startswith('"\tSalade César au poulet') and salad["value_kgco2e"] == 2.81
    assert (salad["unit"], salad["region"], salad["source_row"]) == ("kg", "FR", 2)


@pytest.fixture(scope="module")
def v23():
    # the shipped XLSX mapping (extends the CSV one; its wildcard finds the dropped-in workbook)
    mapping = factors.load_mapping(MAPPING.with_name("ademe_base_carbone_xlsx.yaml"))
    assert [p.name for p in mapping.files(SHARED_FACTORS)] == [_shared_file("Base_Carbone_V23.6-v2.xlsx").name]
    skipped: list[dict] = []
    return factors.read_source(mapping, SHARED_FACTORS, skipped), skipped


def test_real_v23_6_xlsx_counts(v23):
    df, skipped = v23
    # 18,616 rows: 12,817 Elément, of which 8,163 not Archivé, of which 6,518 "Facteur d'émission" (the
    # other 1,645 are "Données source": kWh/m².an, %... inputs, not factors) - counted independently with
    # polars on the sheet read by fastexcel. Every denominator parses but "kgH2/100km" (2 rows, reported
    # as skipped with their row); 6,516 factors remain.
    assert df.height + len(skipped) == 6518
    assert df.height == 6516 and df["factor_id"].n_unique() == 6516
    assert [(s["row"], s["column"], s["value"], s["reason"]) for s in skipped] == [
        (17747, UNIT_COL, "kgCO2e/kgH2/100km", "unknown unit"), (17749, UNIT_COL, "kgCO2e/kgH2/100km", "unknown unit")]
    assert all(s["file"] == "Base_Carbone_V23.6-v2.xlsx" for s in skipped)
    assert df.filter(pl.col("region").is_in(["FR", "Monde", "Outre-mer", "Europe", "Autre pays du monde"])).height \
        == df.height


def test_real_v23_6_units_spellings(v23):
    df, _ = v23
    counts = dict(df.group_by("unit").len().rows())
    # spend: kgCO2e/keuro (2019..2023) HT -> per 1000 EUR with the price year kept apart, 56 rows per year
    spend = df.filter(pl.col("unit") == "kEUR")
    assert spend.height == 282 and dict(spend.group_by("price_year").len().rows()) == \
        {2019: 56, 2020: 56, 2021: 56, 2022: 56, 2023: 56, None: 2}
    assert counts["EUR"] == 2 and counts["hectare*year"] == 191 and counts["meal"] == 8
    assert counts["m**2"] == 58 + 3 + 3 + 1 + 1 + 1  # m², m² SHON, m² de paroi, m2 SHON, m² de sol, m² de toiture
    # kWh PCI (96), KWh PCI (10), kWhPCI (1), kWh (PCI) (1): one net-calorific-value denominator; kWh PCS (3) gross
    basis = dict(df.filter(pl.col("unit") == "kWh").group_by("unit_basis").len().rows())
    assert basis == {None: 1287, "net": 108, "gross": 3}
    # "Électricité" and "Electricité" both occur in the published names: one spelling after the mapping
    assert df.filter(pl.col("name").str.starts_with("Électricité")).height == 0
    assert df.filter(pl.col("name").str.starts_with("Electricité")).height > 100


def test_real_v23_6_reference_values(v23):
    df, _ = v23
    grid = _one(df, "ADEME:42513")
    assert grid["value_kgco2e"] == 0.052 and grid["uncertainty_pct"] == 10.0 and grid["region"] == "FR"
    assert (grid["valid_from"], grid["valid_to"]) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    assert grid["source_row"] == 6578  # the real spreadsheet row (header on row 1)
    pci, pcs = _one(df, "ADEME:37132"), _one(df, "ADEME:37133")
    assert (pci["value_kgco2e"], pci["unit"], pci["unit_basis"]) == (0.239, "kWh", "net")
    assert (pcs["value_kgco2e"], pcs["unit"], pcs["unit_basis"]) == (0.215, "kWh", "gross")
    diesel = _one(df, "ADEME:25775")
    assert (diesel["value_kgco2e"], diesel["unit"], diesel["source_row"]) == (3.1, "L", 9235)
    assert (diesel["co2_fossil"], diesel["ch4_fossil"], diesel["ch4_biogenic"], diesel["n2o"], diesel["other"]) == \
        (3.04, 0.00622, 0.0, 0.0537, 0.0)
    assert _one(df, "ADEME:12902")["valid_to"] == dt.date(2018, 12, 31)  # "déc.-18"


# ------------------------------------------------------------------ (c) GWP re-basing


def test_ar6_rebasing_of_diesel_b7_by_hand(ademe):
    df, _ = ademe
    by_hand = 3.04 + 0.00622 * 29.8 / 30 + 0.0537 * 273 / 265  # AR5 contributions -> masses -> AR6
    ar6 = factors.value_under_gwp(df, "AR6")
    row = _one(ar6, "ADEME:25775")
    assert row["value_gwp"] == pytest.approx(by_hand, rel=1e-12) and row["gwp_status"] == "rebased"
    assert _one(ar6, "ADEME:42513")["gwp_status"] == "kept_published"  # no gas split published
    assert _one(ar6, "ADEME:42513")["value_gwp"] == 0.052
    assert _one(factors.value_under_gwp(df, "AR5"), "ADEME:25775")["gwp_status"] == "native"


# ------------------------------------------------------------------ validity and unit parsing


@pytest.mark.parametrize("text, expected", [
    ("Année 2022", (dt.date(2022, 1, 1), dt.date(2022, 12, 31))),
    ("Données valides pour l'année 2024", (dt.date(2024, 1, 1), dt.date(2024, 12, 31))),
    ("2026", (None, dt.date(2026, 12, 31))),
    ("déc-18", (None, dt.date(2018, 12, 31))),
    ("déc.-19", (None, dt.date(2019, 12, 31))),
    ("févr-20", (None, dt.date(2020, 2, 29))),
    ("44631", (None, dt.date(2022, 3, 11))),  # Excel day 44562 = 2022-01-01, + 69 days
    ("31/12/2023", (None, dt.date(2023, 12, 31))),
    ("2025-02-28T00:00:00", (None, dt.date(2025, 2, 28))),
])
def test_validity_formats_of_the_mapping(text, expected):
    formats = factors.load_mapping(MAPPING).spec["validity"]["formats"]
    assert factors.parse_period(text, formats, file="f", row=1, column="c") == expected


def test_unparsed_validity_names_the_cell():
    formats = factors.load_mapping(MAPPING).spec["validity"]["formats"]
    with pytest.raises(InputError) as err:
        factors.parse_period("bientôt", formats, file="f.csv", row=9, column=PERIOD_COL)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == ("f.csv", 9, PERIOD_COL, "bientôt")
    # "3 ans" = three years from the element's creation date (validity.from_column)
    assert factors.parse_period("3 ans", formats, file="f.csv", row=9, column=PERIOD_COL) == (None, ("years", 3))


# ------------------------------------------------------------------ (d) bad input


def _copy(tmp_path: Path, data_dir: Path, mapping_text: str | None = None, csv_text: str | None = None) -> Path:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "factors" / "ademe_base_carbone").mkdir(parents=True)
    text = mapping_text if mapping_text is not None else MAPPING.read_text(encoding="utf-8")
    (tmp_path / "mappings" / MAPPING.name).write_text(text, encoding="utf-8")
    dst = tmp_path / "factors" / "ademe_base_carbone" / SAMPLE
    if csv_text is None:
        shutil.copy(data_dir / "factors" / "ademe_base_carbone" / SAMPLE, dst)
    else:
        dst.write_bytes(csv_text.encode("cp1252"))
    return tmp_path


def _read(root: Path) -> pl.DataFrame:
    return factors.read_namespace(root / "mappings", root / "factors", "ADEME")[0]


def _sample_text(data_dir: Path) -> str:
    return (data_dir / "factors" / "ademe_base_carbone" / SAMPLE).read_bytes().decode("cp1252")


def test_cp1252_read_as_utf8_names_file_and_row(tmp_path, data_dir):
    root = _copy(tmp_path, data_dir, MAPPING.read_text(encoding="utf-8").replace("encoding: cp1252", "encoding: utf-8"))
    with pytest.raises(InputError, match="cannot decode as utf-8") as err:
        _read(root)
    assert err.value.file.endswith(SAMPLE) and err.value.row == 1  # "é" of the header line
    assert SAMPLE in str(err.value) and "row 1" in str(err.value)


def test_utf8_file_read_as_cp1252_is_caught_at_the_header(tmp_path, data_dir):
    root = _copy(tmp_path, data_dir)
    dst = root / "factors" / "ademe_base_carbone" / SAMPLE
    dst.write_bytes(_sample_text(data_dir).encode("utf-8"))  # cp1252 decodes any byte: mojibake, no error
    with pytest.raises(InputError, match="wrong encoding declared") as err:
        _read(root)
    # the first accented column the mapping needs (its spelling rewrite of the names) is not found
    assert (err.value.file, err.value.column) == (str(dst), "Nom base français")


def test_wrong_separator_names_file(tmp_path, data_dir):
    root = _copy(tmp_path, data_dir, MAPPING.read_text(encoding="utf-8").replace('separator: ";"', 'separator: ","'))
    with pytest.raises(InputError, match="wrong separator") as err:
        _read(root)
    assert err.value.file.endswith(SAMPLE) and err.value.row == 1


def test_text_in_numeric_cell_names_file_row_column_value(tmp_path, data_dir):
    text = _sample_text(data_dir)
    assert text.count(";0,122;") == 1
    root = _copy(tmp_path, data_dir, csv_text=text.replace(";0,122;", ";zéro;"))
    with pytest.raises(InputError) as err:
        _read(root)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == (SAMPLE, 17, VALUE_COL, "zéro")


def test_unknown_unit_and_unit_outside_pattern(tmp_path, data_dir):
    text = _sample_text(data_dir)
    root = _copy(tmp_path, data_dir, csv_text=text.replace(";kgCO2e/passager.km;", ";kgCO2e/barrique;"))
    with pytest.raises(InputError, match="unknown unit") as err:
        _read(root)
    assert (err.value.row, err.value.column, err.value.value) == (17, UNIT_COL, "kgCO2e/barrique")
    (root / "factors" / "ademe_base_carbone" / SAMPLE).write_bytes(
        text.replace(";kgCO2e/t.km;", ";t.km;").encode("cp1252"))
    with pytest.raises(InputError, match="unit_pattern") as err:
        _read(root)
    assert (err.value.row, err.value.column, err.value.value) == (18, UNIT_COL, "t.km")


def test_missing_column_and_unparsed_validity(tmp_path, data_dir):
    text = _sample_text(data_dir)
    root = _copy(tmp_path, data_dir, csv_text=text.replace(";Incertitude;", ";Incertitude (%);", 1))
    with pytest.raises(InputError, match="missing column 'Incertitude'"):
        _read(root)
    (root / "factors" / "ademe_base_carbone" / SAMPLE).write_bytes(text.replace(";Année 2022;", ";bientôt;", 1)
                                                                   .encode("cp1252"))
    with pytest.raises(InputError, match="validity period") as err:
        _read(root)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == (SAMPLE, 2, PERIOD_COL, "bientôt")


def test_filters_reject_unknown_operator(tmp_path, data_dir):
    mapping = MAPPING.read_text(encoding="utf-8").replace("{not_in: [Archivé]}", "{except: [Archivé]}")
    with pytest.raises(InputError, match="unknown filter operator"):
        _read(_copy(tmp_path, data_dir, mapping))


# ------------------------------------------------------------------ selection with the ADEME namespace present


def test_demo_lines_pick_ademe_under_the_default_primary_namespace(data_dir):
    from carbon_assets.engine import emissions
    from carbon_assets.engine.activities import ACTIVITY_SCHEMA
    from carbon_assets.engine.params import CalcParams

    snap = factors.build_snapshot([factors.read_namespace(data_dir / "mappings", data_dir / "factors", ns)[0]
                                   for ns in ("ADEME", "DEFRA", "custom")])
    assert snap.height == 24 and snap["factor_id"].n_unique() == 24  # 9 ADEME + 11 DEFRA + 4 custom

    def line(i, key, qty, unit, region):
        base = {c: None for c in ACTIVITY_SCHEMA}
        base.update(tenant="t", year="2024", activity_id=f"a{i}", date=dt.date(2024, 6, 30), source_file="f.csv",
                    source_sha256="0" * 64, source_row=i + 1, activity_key=key, quantity=qty, unit=unit,
                    region=region)
        return base

    acts = pl.DataFrame([line(1, "electricity.grid", 1000.0, "kWh", "FR"),
                         line(2, "fuel.natural_gas", 1000.0, "kWh PCS", "FR"),
                         line(3, "fuel.diesel", 100.0, "litres", "FR"),
                         line(4, "electricity.grid", 1000.0, "kWh", "GB")], schema=ACTIVITY_SCHEMA, orient="row")
    em = emissions.compute(acts, snap, CalcParams())  # primary_fe_namespace=ADEME, default_gwp=AR6
    rows = {r["activity_id"]: r for r in em.to_dicts()}
    assert [rows[f"a{i}"]["factor_id"] for i in (1, 2, 3, 4)] == \
        ["ADEME:42513", "ADEME:37133", "ADEME:25775", "DEFRA:7_400_4000_5"]
    assert rows["a1"]["em_kgco2e"] == pytest.approx(52.0) and "year fallback" in rows["a1"]["match_note"]
    # natural gas 37133 under AR6, by hand: 0.205 + 0.0101 / 30 * 29.8 (CH4b, N2O, others are 0)
    assert rows["a2"]["em_kgco2e"] == pytest.approx(1000 * (0.205 + 0.0101 / 30 * 29.8), rel=1e-12)
    assert rows["a3"]["em_kgco2e"] == pytest.approx(100 * (3.04 + 0.00622 * 29.8 / 30 + 0.0537 * 273 / 265),
                                                    rel=1e-12)
    # with DEFRA first, a French line still cannot take the GB factor: ADEME comes next in the order
    fr = emissions.compute(acts.head(1), snap, CalcParams(primary_fe_namespace="DEFRA"))
    assert fr["factor_id"][0] == "ADEME:42513"
