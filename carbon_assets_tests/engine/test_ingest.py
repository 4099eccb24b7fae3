"""The activity importer on messy client files: formats, numbers, dates, units, money, mapping, junk."""

import datetime as dt
import os
import time

import openpyxl
import polars as pl
import pytest

from carbon_assets.engine import activities, inbox, money, readers
from carbon_assets.engine.activities import ColumnMapping


@pytest.fixture(scope="module")
def vocab(data_dir):
    return activities.load_vocabulary(data_dir / "activity_keys.yaml")


@pytest.fixture(scope="module")
def mapping(data_dir):
    return ColumnMapping.load(data_dir / "tenants" / "default_mapping.yaml")


def _write(tmp_path, name: str, content: str | bytes, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return (name, p)


def _ingest(files, mapping, vocab, year="2024"):
    """Both paths (bronze then normalise, and direct) must agree; the row invariant must hold."""
    raw = activities.read_raw(files, "t", year, mapping)
    acts, rej, reports = activities.normalise_with_report(raw, mapping, vocab)
    acts2, rej2, _ = activities.ingest_files(files, "t", year, mapping, vocab)
    assert acts.equals(acts2) and rej.equals(rej2)
    for name, _ in files:
        n_read = raw.filter(pl.col("source_file") == name).height
        n_ok = acts.filter(pl.col("source_file") == name).height
        n_bad = rej.filter(pl.col("source_file") == name).height
        assert n_ok + n_bad == n_read, name
    assert rej["row"].null_count() == 0 and rej["column"].null_count() == 0 and rej["message"].null_count() == 0
    return acts, rej, {r["file"]: r for r in reports}


def _rejects(rej) -> dict[int, tuple[str, str | None, str]]:
    return {r["row"]: (r["column"], r["value"], r["message"]) for r in rej.to_dicts()}


MESSY_FR = ("Export comptable ACME\nPériode : 2024\n\n"
            "Date;Activité;Quantité (kWh);Unité;Site;Libellé\n"
            "31/01/2024;electricity.grid;1 234,56;kWh;Lyon;Facture été\n"
            "03/02/2024;electricity.grid;(12,5);kWh;;merged site cell\n"
            "\n"
            "15/03/2024;fuel.diesel;1.234,5;litres;Paris;x\n"
            ";;;;;\n"
            "Total;;2 000,00;;;\n")


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""),
                                          ("latin-1", b"")])
def test_messy_french_csv_in_every_encoding(tmp_path, mapping, vocab, encoding, bom):
    f = _write(tmp_path, "a.csv", bom + MESSY_FR.encode(encoding))
    acts, rej, rep = _ingest([f], mapping, vocab)
    assert acts["quantity"].to_list() == [1234.56, -12.5, 1234.5]
    assert acts["date"].to_list() == [dt.date(2024, 1, 31), dt.date(2024, 2, 3), dt.date(2024, 3, 15)]
    assert acts["site"].to_list() == ["Lyon", "Lyon", "Paris"]  # empty cell below "Lyon" filled down
    assert acts["description"][0] == "Facture été"
    assert acts["source_row"].to_list() == [5, 6, 8]  # physical lines: header on line 4
    assert _rejects(rej) == {10: ("Date", "Total", "total or subtotal row, not an activity line")}
    read = rep["a.csv"]["read"]
    assert read["delimiter"] == ";" and read["header_row"] == 4
    assert read["encoding"] == {"utf-8": "utf-8-sig" if bom else "utf-8", "cp1252": "cp1252",
                                "latin-1": "cp1252"}[encoding]
    assert rep["a.csv"]["conventions"] == {"number": {"Quantité (kWh)": "EU"}, "date_order": {"Date": "DMY"}}


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, mapping, vocab, delim):
    rows = [["date", "activity_key", "quantity", "unit"], ["2024-01-31", "electricity.grid", "10", "kWh"],
            ["2024-02-01", "fuel.diesel", "2", "L"]]
    f = _write(tmp_path, "d.csv", "\n".join(delim.join(r) for r in rows) + "\n")
    acts, rej, rep = _ingest([f], mapping, vocab)
    assert acts.height == 2 and rej.height == 0 and rep["d.csv"]["read"]["delimiter"] == delim


def test_us_numbers_and_us_dates(tmp_path, mapping, vocab):
    f = _write(tmp_path, "us.csv", "Date,Activity,Quantity,Unit\n"
                                   '01/31/2024,electricity.grid,"1,234.56",kWh\n'
                                   '02/03/2024,electricity.grid,"1,000",kWh\n'
                                   "03/04/2024,fuel.diesel,12.5,zorkmids\n")
    acts, rej, rep = _ingest([f], mapping, vocab)
    assert acts["date"].to_list() == [dt.date(2024, 1, 31), dt.date(2024, 2, 3)]
    assert acts["quantity"].to_list() == [1234.56, 1000.0]
    assert rep["us.csv"]["conventions"] == {"number": {"Quantity": "US"}, "date_order": {"Date": "MDY"}}
    assert _rejects(rej) == {4: ("Unit", "zorkmids", "unknown unit")}


def test_ambiguous_columns_are_reported_not_guessed(tmp_path, mapping, vocab):
    f = _write(tmp_path, "amb.csv", "date;activity_key;quantity;unit\n"
                                    "03/04/2024;electricity.grid;1,500;kWh\n"
                                    "05/04/2024;electricity.grid;12;kWh\n"
                                    "05/05/2024;electricity.grid;1.250;kWh\n")
    acts, rej, rep = _ingest([f], mapping, vocab)
    got = _rejects(rej)
    assert got[2][0] == "quantity" and got[2][2].startswith("quantity: ambiguous number")
    assert got[3][0] == "date" and got[3][2].startswith("ambiguous date")  # 05/04 could be either
    assert got[4][0] == "quantity" and "ambiguous number" in got[4][2]
    assert rep["amb.csv"]["conventions"] == {"number": {"quantity": "ambiguous"}, "date_order": {"date": "ambiguous"}}
    assert acts.height == 0
    # the tenant's template settles both
    forced = ColumnMapping.from_spec({"columns": mapping.columns, "required": list(mapping.required),
                                      "decimal": ",", "date_order": "DMY"})
    acts, rej, _ = _ingest([f], forced, vocab)
    assert rej.height == 0 and acts["quantity"].to_list() == [1.5, 12.0, 1250.0]
    assert acts["date"].to_list() == [dt.date(2024, 4, 3), dt.date(2024, 4, 5), dt.date(2024, 5, 5)]


def test_mixed_conventions_and_percent_and_negatives(tmp_path, mapping, vocab):
    f = _write(tmp_path, "mix.csv", "date;activity_key;quantity;unit;uncertainty %\n"
                                    '2024-01-01;electricity.grid;"1.234,5";kWh;10%\n'
                                    '2024-01-02;electricity.grid;"1,234.5";kWh;5\n'
                                    "2024-01-03;electricity.grid;7;kWh;\n"
                                    "2024-01-04;electricity.grid;-7;kWh;x\n"
                                    "2024-01-05;electricity.grid;5%;kWh;\n")
    acts, rej, _ = _ingest([f], mapping, vocab)
    got = _rejects(rej)
    assert "mixes EU" in got[2][2] and "mixes EU" in got[3][2]
    assert got[5] == ("uncertainty %", "x", "uncertainty is not a number")
    assert got[6] == ("quantity", "5%", "quantity: a percentage where a quantity is expected")
    assert acts["quantity"].to_list() == [7.0]


def test_partition_year_and_date_layouts(tmp_path, mapping, vocab):
    f = _write(tmp_path, "y.csv", "date,activity_key,quantity,unit\n"
                                  "2023-12-29,fuel.diesel,1,L\n45322,fuel.diesel,2,L\n20240315,fuel.diesel,3,L\n"
                                  "2024-02-30,fuel.diesel,4,L\n2024-06-01T08:30:00,fuel.diesel,5,L\n")
    acts, rej, _ = _ingest([f], mapping, vocab)
    got = _rejects(rej)
    assert got[2] == ("date", "2023-12-29", "date is outside the partition year 2024")
    assert got[5][0] == "date" and got[5][2].startswith("not a date")
    assert acts["date"].to_list() == [dt.date(2024, 1, 31), dt.date(2024, 3, 15), dt.date(2024, 6, 1)]


def test_units_aliases_and_unknown(tmp_path, mapping, vocab):
    body = "\n".join(f"2024-01-01,electricity.grid,1,{u}" for u in
                     ["litres", "l", "L", "kWh", "MWh", "GJ", "m3", "km", "passenger.km", "t.km", "tonnes", "kg",
                      "bananas"])
    acts, rej, _ = _ingest([_write(tmp_path, "u.csv", "date,activity_key,quantity,unit\n" + body + "\n")],
                           mapping, vocab)
    assert acts["unit"].to_list() == ["L", "L", "L", "kWh", "MWh", "GJ", "m**3", "km", "passenger*km", "t*km",
                                      "t", "kg"]
    assert _rejects(rej) == {14: ("unit", "bananas", "unknown unit")}


def test_spend_lines_with_currency(tmp_path, mapping, vocab):
    f = _write(tmp_path, "spend.csv", "Date;Activité;Montant HT;Devise\n"
                                      "31/01/2024;water.supply;1 200,50;EUR\n"
                                      "28/02/2024;water.supply;€ 300,00;\n"
                                      "31/03/2024;water.supply;$ 300,00;\n"
                                      "30/04/2024;water.supply;10,00;XYZ\n")
    acts, rej, rep = _ingest([f], mapping, vocab)
    assert acts.select("quantity", "unit", "amount", "currency").rows() == [(1200.5, "EUR", 1200.5, "EUR"),
                                                                            (300.0, "EUR", 300.0, "EUR")]
    got = _rejects(rej)
    assert got[4][0] == "Montant HT" and "ambiguous currency symbol" in got[4][2]
    assert got[5] == ("Devise", "XYZ", "not an ISO 4217 currency code")
    assert rep["spend.csv"]["mapping"]["amount"] == "Montant HT"
    assert rep["spend.csv"]["found_by"]["amount"] == "synonym"


def test_english_synonyms_without_template(tmp_path, vocab):
    bare = ColumnMapping.from_spec({"columns": {}, "required": ["date", "quantity", "unit"]})
    f = _write(tmp_path, "en.csv", "Invoice date,Activity code,Consumption,Unit of measure,Facility,Country\n"
                                   "2024-05-01,electricity.grid,100,kWh,Leeds,GB\n")
    acts, rej, rep = _ingest([f], bare, vocab)
    assert rej.height == 0 and acts.select("site", "region").row(0) == ("Leeds", "GB")
    assert set(rep["en.csv"]["found_by"].values()) == {"synonym"}


def test_tenant_template_headers_and_sheet(tmp_path, vocab):
    spec = {"columns": {"date": ["Jour comptable"], "activity_key": ["Poste"], "quantity": ["Qté livrée"],
                        "unit": ["U."]}, "sheet": "Données", "required": ["date", "quantity", "unit"]}
    tpl = ColumnMapping.from_spec(spec)
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active["A1"] = "read me"
    ws = wb.create_sheet("Données")
    ws.append(["Rapport 2024"])
    ws.append([])
    ws.append(["Jour comptable", "Poste", "Qté livrée", "U.", "Site"])
    ws.append([dt.datetime(2024, 1, 31), "fuel.diesel", 1.234, "L", "Lyon"])
    ws.append([45322, "fuel.diesel", 1000, "L", None])  # Excel serial, merged-looking site
    ws.append(["TOTAL", None, 1001.234, None, None])
    p = tmp_path / "t.xlsx"
    wb.save(p)
    acts, rej, rep = _ingest([("t.xlsx", p)], tpl, vocab)
    assert acts.select("date", "quantity", "site").rows() == [(dt.date(2024, 1, 31), 1.234, "Lyon"),
                                                              (dt.date(2024, 1, 31), 1000.0, "Lyon")]
    assert _rejects(rej) == {6: ("Jour comptable", "TOTAL", "total or subtotal row, not an activity line")}
    assert rep["t.xlsx"]["read"]["sheet"] == "Données" and rep["t.xlsx"]["read"]["header_row"] == 3
    assert rep["t.xlsx"]["conventions"]["number"] == {"Qté livrée": "canonical"}
    # without a sheet in the mapping: the first non-empty sheet ("Notes") is a single column
    first = ColumnMapping.from_spec({**spec, "sheet": None})
    acts, rej, _ = _ingest([("t.xlsx", p)], first, vocab)
    assert rej["message"][0].startswith("only one column found")


def test_parquet(tmp_path, mapping, vocab):
    p = tmp_path / "p.parquet"
    pl.DataFrame({"date": [dt.date(2024, 1, 1), dt.date(2025, 1, 1)], "activity_key": ["fuel.diesel"] * 2,
                  "quantity": [1.234, 2.0], "unit": ["L", "L"]}).write_parquet(p)
    acts, rej, _ = _ingest([("p.parquet", p)], mapping, vocab)
    assert acts["quantity"].to_list() == [1.234] and _rejects(rej)[2][2] == "date is outside the partition year 2024"


@pytest.mark.parametrize("content,message", [
    (b"", "file is empty"),
    (b"  \n\n", "file is empty"),
    (b"\x00\x01\x02\x03junk" * 50, "binary content"),
    (bytes(range(256)) * 20, "binary content"),
    (b"PK\x03\x04not really a zip", "not a readable xlsx workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "legacy .xls workbook"),
    (b"date,quantity,date,unit\n2024-01-01,1,2024-01-01,kWh\n", "duplicate column header"),
    (b"just one column\nvalue\nvalue\n", "only one column found"),
    (b"PAR1garbage", "not a readable Parquet file"),
])
def test_junk_files_give_one_clear_reject(tmp_path, mapping, vocab, content, message):
    f = _write(tmp_path, "junk.csv", content)
    acts, rej, _ = _ingest([f], mapping, vocab)
    assert acts.height == 0 and rej.height == 1
    assert rej["message"][0].startswith(message), rej["message"][0]


def test_size_limit_is_configurable(tmp_path, vocab):
    small = ColumnMapping.from_spec({"columns": {}, "max_mb": 0.001})
    f = _write(tmp_path, "big.csv", "date,activity_key,quantity,unit\n" + "2024-01-01,fuel.diesel,1,L\n" * 100)
    _, rej, _ = _ingest([f], small, vocab)
    assert rej.height == 1 and "over the 0.0 MB limit" in rej["message"][0] and rej["row"][0] == 0
    assert readers.DEFAULT_MAX_BYTES == 50 * 1024 * 1024


def test_ragged_rows_and_bad_quotes(tmp_path, mapping, vocab):
    f = _write(tmp_path, "r.csv", 'date,activity_key,quantity,unit\n2024-01-01,fuel.diesel,1,L,extra\n'
                                  '2024-01-02,fuel.diesel,"2",L,\n2024-01-03,"fuel.diesel,3,L\n')
    acts, rej, _ = _ingest([f], mapping, vocab)
    got = _rejects(rej)
    assert got[2] == ("(extra cells)", None, "row has 5 cells but the header has 4")
    assert acts["quantity"].to_list() == [2.0]
    assert rej.height == 2


def test_multiline_quoted_cells_keep_physical_rows(tmp_path, mapping, vocab):
    f = _write(tmp_path, "q.csv", 'date,activity_key,quantity,unit,description\n'
                                  '2024-01-01,fuel.diesel,1,L,"two\nlines"\n2024-01-02,fuel.diesel,2,L,x\n')
    acts, _, _ = _ingest([f], mapping, vocab)
    assert acts["source_row"].to_list() == [2, 4] and acts["description"][0] == "two\nlines"


def test_same_content_twice_is_read_once_and_corrections_replace(tmp_path):
    d = tmp_path / "acme" / "2024"
    d.mkdir(parents=True)
    (d / "energie.csv").write_text("a,b\n1,2\n")
    (d / "copy of energie.csv").write_text("a,b\n1,2\n")
    kept, dupes = activities.dedupe_by_content(inbox.files_for(tmp_path, "acme", "2024"))
    assert [n for n, _ in kept] == ["copy of energie.csv"] and dupes == {"energie.csv": "copy of energie.csv"}
    (d / "copy of energie.csv").unlink()
    (d / "energie_v2.csv").write_text("a,b\n1,3\n")
    old = time.time() - 100
    os.utime(d / "energie_v2.csv", (old, old))  # the version suffix wins over the modification time
    kept, superseded = inbox.current_versions(inbox.files_for(tmp_path, "acme", "2024"))
    assert [n for n, _ in kept] == ["energie_v2.csv"] and superseded == {"energie.csv": "energie_v2.csv"}


def test_mapping_path_never_escapes(tmp_path):
    with pytest.raises(ValueError):
        activities.tenant_mapping_path(tmp_path, "../etc")
    (tmp_path / "default_mapping.yaml").write_text("columns: {}\n")
    assert activities.tenant_mapping_path(tmp_path, "acme") == tmp_path / "default_mapping.yaml"


def test_applied_mapping_is_part_of_the_lineage(tmp_path, mapping, vocab):
    f = _write(tmp_path, "a.csv", "date,activity_key,quantity,unit\n2024-01-01,fuel.diesel,1,L\n")
    _, _, r1 = activities.ingest_files([f], "t", "2024", mapping, vocab)
    other = ColumnMapping.from_spec({"columns": mapping.columns, "decimal": "."})
    _, _, r2 = activities.ingest_files([f], "t", "2024", other, vocab)
    assert activities.applied_mapping_sha256(r1) != activities.applied_mapping_sha256(r2)
    assert activities.applied_mapping_sha256(r1) == activities.applied_mapping_sha256(
        activities.ingest_files([f], "t", "2024", mapping, vocab)[2])


# ------------------------------------------------------------------ money


def test_spend_conversion_uses_published_rates_and_cpi():
    m, note = money.spend_conversion("EUR", "USD", 2024)
    assert m == pytest.approx(1.0824) and "ECB 2024" in note
    m, _ = money.spend_conversion("GBP", "EUR", 2023)
    assert m == pytest.approx(1 / 0.86979)
    m, _ = money.spend_conversion("GBP", "USD", 2022)
    assert m == pytest.approx(1.0530 / 0.85276)
    m, note = money.spend_conversion("EUR", "USD", 2024, factor_price_year=2021)
    assert m == pytest.approx(1.0824 * 270.970 / 313.689) and "CPI-U" in note
    assert money.spend_conversion("usd", "USD", 2024) == (1.0, "USD 2024: no conversion")


@pytest.mark.parametrize("args,match", [
    (("EUR", "USD", 2031), "no ECB annual average rate for USD in 2031"),
    (("EUR", "XXQ", 2024), "not an ISO 4217"),
    (("EUR", "SEK", 2024), "no rates for SEK"),
    (("EUR", "CHF", 2024, 2021), "no price index for CHF"),  # EUR and GBP have one (test_money_deflators)
    (("$", "EUR", 2024), "ambiguous"),
])
def test_spend_conversion_never_guesses(args, match):
    with pytest.raises(money.MoneyError, match=match):
        money.spend_conversion(*args)


def test_headers_that_look_like_column_patterns_are_plain_names(tmp_path, mapping, vocab):
    """Found by the fuzz test: a header "*" was read by polars as "every column"."""
    f = _write(tmp_path, "h.csv", "date,*,^x$,quantity,activity_key,unit,__row,__fail\n"
                                  "2024-01-01,a,b,1,fuel.diesel,L,c,d\n")
    acts, rej, rep = _ingest([f], mapping, vocab)
    assert acts.height == 1 and rej.height == 0
    assert rep["h.csv"]["mapping"]["quantity"] == "quantity"
    assert _ingest([_write(tmp_path, "s.csv", ";*")], mapping, vocab)[1].height == 0  # header only: 0 rows
