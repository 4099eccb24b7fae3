"""The Rust text kernel against its Python references: code-page transcoding against Python's codecs,
and number parsing against the polars expressions of engine/numbers.py, cell by cell."""

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_assets.engine import numbers

_kernel = pytest.importorskip("carbon_assets._kernel")
UNDEFINED_CP1252 = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


def test_every_cp1252_and_latin1_byte_matches_python_codecs():
    defined = bytes(b for b in range(256) if b not in UNDEFINED_CP1252)
    assert _kernel.transcode_8bit(defined, True) == defined.decode("cp1252").encode("utf-8")
    every = bytes(range(256))
    assert _kernel.transcode_8bit(every, False) == every.decode("latin-1").encode("utf-8")


@pytest.mark.parametrize("byte", sorted(UNDEFINED_CP1252))
def test_an_undefined_cp1252_byte_is_an_error_naming_its_offset(byte):
    with pytest.raises(ValueError, match=f"0x{byte:02x} at offset 3 "):
        _kernel.transcode_8bit(b"abc" + bytes([byte]) + b"def", True)


def _reference(cells: list[str | None], currency: bool) -> pl.DataFrame:
    lf = pl.DataFrame({"c": cells}, schema={"c": pl.String}).lazy()
    for stage in numbers.prepare("c", "p_", currency=currency):
        lf = lf.with_columns(stage)
    return lf.select("p_kind", "p_pct", "p_cur", "p_eu", "p_us").collect()


def _same(a: float | None, b: float | None) -> bool:
    """Equal to the bit, -0.0 included; both missing counts as equal."""
    missing = (a is None or math.isnan(a), b is None or math.isnan(b))
    if any(missing):
        return all(missing)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _assert_same(cells: list[str | None], currency: bool) -> None:
    ref = _reference(cells, currency)
    got = numbers.parse(pl.Series("c", cells, dtype=pl.String), "p_", currency)
    for i, cell in enumerate(cells):
        r, g = ref.row(i, named=True), got.row(i, named=True)
        assert (g["p_kind"], g["p_pct"], g["p_cur"]) == (r["p_kind"], r["p_pct"], r["p_cur"]), (cell, r, g)
        kind = r["p_kind"]
        if kind in (numbers.KIND_INT, numbers.KIND_AMBIGUOUS, numbers.KIND_EU):
            assert _same(g["p_eu"], r["p_eu"]), (cell, r, g)
        if kind in (numbers.KIND_INT, numbers.KIND_AMBIGUOUS, numbers.KIND_US):
            assert _same(g["p_us"], r["p_us"]), (cell, r, g)


HAND = [
    # cell, currency column?, kind, pct, currency, EU reading, US reading
    ("1 234,56", False, numbers.KIND_EU, False, None, 1234.56, None),
    ("1.234,5", False, numbers.KIND_EU, False, None, 1234.5, None),
    ("1.234.567", False, numbers.KIND_EU, False, None, 1234567.0, None),
    ("1,234.56", False, numbers.KIND_US, False, None, None, 1234.56),
    ("1,234", False, numbers.KIND_AMBIGUOUS, False, None, 1.234, 1234.0),
    ("1.234", False, numbers.KIND_AMBIGUOUS, False, None, 1234.0, 1.234),
    ("(12,5)", False, numbers.KIND_EU, False, None, -12.5, None),
    ("-0", False, numbers.KIND_INT, False, None, -0.0, -0.0),
    ("12,5%", False, numbers.KIND_EU, True, None, 12.5, None),
    ("1\u00a0234", False, numbers.KIND_INT, False, None, 1234.0, 1234.0),
    ("1’234.5", False, numbers.KIND_US, False, None, None, 1234.5),
    ("\u0661\u0662", False, numbers.KIND_NONE, False, None, None, None),  # Arabic-Indic digits: not read
    ("(12", False, numbers.KIND_NONE, False, None, None, None),
    ("€ 10", False, numbers.KIND_NONE, False, None, None, None),
    ("", False, numbers.KIND_EMPTY, False, None, None, None),
    (None, True, numbers.KIND_EMPTY, False, None, None, None),
    ("€ 1 234,50", True, numbers.KIND_EU, False, "€", 1234.5, None),
    ("(USD 1,200.00)", True, numbers.KIND_US, False, "USD", None, -1200.0),
    ("-US$12.5", True, numbers.KIND_US, False, "US$", None, -12.5),
    ("12 GBP", True, numbers.KIND_INT, False, "GBP", 12.0, 12.0),
    ("$5", True, numbers.KIND_INT, False, "$", 5.0, 5.0),
    ("EURUSD", True, numbers.KIND_NONE, False, "EUR", None, None),
]


@pytest.mark.parametrize("cell, currency, kind, pct, cur, eu, us", HAND)
def test_hand_written_cells(cell, currency, kind, pct, cur, eu, us):
    got = numbers.parse(pl.Series("c", [cell], dtype=pl.String), "p_", currency).row(0, named=True)
    assert (got["p_kind"], got["p_pct"], got["p_cur"]) == (kind, pct, cur)
    if eu is not None:
        assert _same(got["p_eu"], eu)
    if us is not None:
        assert _same(got["p_us"], us)
    _assert_same([cell], currency)


NUMBERISH = st.text(alphabet=st.sampled_from(list("0123456789012345.,.,()-+% '’€$£¥UDSEGBPR") + ["\u00a0", "\u0661"]),
                    max_size=24)
CELLS = st.lists(st.one_of(st.none(), NUMBERISH, st.text(max_size=8)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(cells=CELLS, currency=st.booleans())
def test_generated_cells_read_the_same_by_kernel_and_reference(cells, currency):
    _assert_same(cells, currency)


def test_a_sliced_column_is_read_from_its_own_offsets():
    s = pl.Series("c", ["x", "1,5", None, "2.000,25", "7"], dtype=pl.String).slice(1, 3)
    got = numbers.parse(s, "p_", False)
    assert got["p_kind"].to_list() == [numbers.KIND_EU, numbers.KIND_EMPTY, numbers.KIND_EU]
    assert got["p_eu"][0] == 1.5 and got["p_eu"][2] == 2000.25


def test_ingest_gives_the_same_tables_with_and_without_the_kernel(tmp_path, monkeypatch):
    """The benchmark's messy Latin-1 file (EU numbers, accounting negatives, junk, a total row) read both ways."""
    from pathlib import Path

    from carbon_assets import bench_ingest
    from carbon_assets.engine import activities

    data = Path(__file__).resolve().parents[2] / "data"
    mapping = activities.ColumnMapping.load(data / "tenants" / "default_mapping.yaml")
    vocab = activities.load_vocabulary(data / "activity_keys.yaml")
    path = tmp_path / "messy.csv"
    bench_ingest.generate(path, 3000)
    files = [(path.name, path)]
    fast = activities.ingest_files(files, "t", "2024", mapping, vocab)
    monkeypatch.setattr(numbers, "text_kernel", lambda: None)
    slow = activities.ingest_files(files, "t", "2024", mapping, vocab)
    assert fast[0].equals(slow[0]) and fast[1].equals(slow[1])
    assert fast[0].height > 2900 and fast[1].height > 0
    assert fast[2][0]["read"]["encoding"] == "cp1252"


def test_padded_cells_are_stripped_with_and_without_the_kernel(tmp_path, monkeypatch):
    """Only columns with a padded cell are stripped on the kernel path; the cells read the same both ways."""
    from carbon_assets.engine import readers

    path = tmp_path / "padded.csv"
    rows = ["date;site;quantity;unit", "2024-01-05; Lyon ;12;kWh", "2024-01-06;Paris\u00a0;13;kWh\t",
            "2024-01-07;Nantes;  ;kWh", "2024-01-08;\u3000Caf\u00e9;14;kWh"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    fast = readers.read_table(path).frame
    assert fast["site"].to_list() == ["Lyon", "Paris", "Nantes", "Caf\u00e9"]
    assert fast["unit"].to_list() == ["kWh"] * 4 and fast["quantity"].to_list() == ["12", "13", None, "14"]
    monkeypatch.setattr(numbers, "text_kernel", lambda: None)
    assert readers.read_table(path).frame.equals(fast)
