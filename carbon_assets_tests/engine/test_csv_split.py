"""The Rust CSV splitter and distinct-value codes against their references: the csv-module reader of
engine/readers.py (``_parse_slow``) for whole tables, and polars ``unique`` for the codes."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_assets.engine import columns, readers
from carbon_assets.engine.tables import ROW_COL

_kernel = pytest.importorskip("carbon_assets._kernel")
NAMES = ["Date", "Site", "Quantité", "Unité"]
OPTS = readers.ReadOptions(max_bytes=1 << 30)


def _read(path, route: str, opts: readers.ReadOptions = OPTS) -> readers.TextTable:
    """read_table through the kernel splitter ("kernel") or the csv module ("reference")."""
    with pytest.MonkeyPatch.context() as m:
        if route == "reference":
            m.setattr(readers, "_split", lambda *a: None)
            m.setattr(readers, "_parse_fast", lambda *a: None)
        else:
            def must_split(*a):
                frame = split(*a)
                assert frame is not None, "the kernel declined a well-formed text"
                return frame

            split = readers._split
            m.setattr(readers, "_split", must_split)
        return readers.read_table(path, path.name, opts)


# cells: plain text, numbers, spaces and no-break spaces around, accents and the euro sign (Windows-1252),
# the delimiter or doubled quotes inside a quoted cell, text longer than the 12 bytes a view holds inline
PIECES = st.sampled_from(["12,5", "1 234,56", "kWh", "Lyon", "Saint-Étienne", "€ 40", "Relevé n°7", "",
                          "  x  ", "\u00a0y\u00a0", "\tz", "a;b", 'dit "ok"', "libellé plus long que douze",
                          "Total"])
ROW = st.lists(PIECES, min_size=0, max_size=6)


def _line(cells: list[str]) -> str:
    return ";".join(f'"{c.replace(chr(34), chr(34) * 2)}"' if (";" in c or '"' in c) else c for c in cells)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=40), encoding=st.sampled_from(["utf-8", "cp1252", "latin-1"]),
       preamble=st.booleans())
def test_generated_tables_split_as_the_csv_module_reads_them(rows, encoding, preamble, tmp_path_factory):
    if encoding == "latin-1":
        rows = [[c.replace("€", "EUR") for c in r] for r in rows]
    lines = (["Export du grand livre", ""] if preamble else []) + [";".join(NAMES)] + [_line(r) for r in rows]
    path = tmp_path_factory.mktemp("split") / "ledger.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    # the delimiter and header row are given: generated cells like "12,5" could make "," the likelier delimiter
    opts = readers.ReadOptions(max_bytes=1 << 30, delimiter=";", header_row=3 if preamble else 1)
    ref = _read(path, "reference", opts)
    got = _read(path, "kernel", opts)
    assert got.headers == ref.headers == NAMES
    assert got.frame.equals(ref.frame), (got.frame, ref.frame)


def test_hand_checked_table(tmp_path):
    text = ("Date;Site;Quantité;Unité\n"
            " 02/01/2024 ; Saint-Étienne ;\u00a01 234,56\u00a0;kWh\n"
            "\n"
            ";;;\n"
            '03/01/2024;"Lyon; Part-Dieu";"12,5";"dit ""litres"""\n'
            "04/01/2024;Paris\n"
            "05/01/2024;Orléans;3;L;;extra;\n")
    path = tmp_path / "hand.csv"
    path.write_bytes(text.encode("cp1252"))
    t = _read(path, "kernel")
    assert t.info["encoding"] == "cp1252"
    assert t.frame.rows() == [
        ("02/01/2024", "Saint-Étienne", "1 234,56", "kWh", 2, None),
        ("03/01/2024", "Lyon; Part-Dieu", "12,5", 'dit "litres"', 5, None),
        ("04/01/2024", "Paris", None, None, 6, None),
        ("05/01/2024", "Orléans", "3", "L", 7, "row has 6 cells but the header has 4"),
    ]


@pytest.mark.parametrize("body", [
    'a"b;1;2;3',  # a quote inside an unquoted cell
    '"ab"c;1;2;3',  # text after a closing quote
    '"two\nlines";1;2;3',  # a quoted cell spanning lines
])
def test_doubtful_quoting_is_left_to_the_general_readers(body, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Date;Site;Quantité;Unité\n" + body + "\n", encoding="utf-8")
    raw = path.read_bytes()
    assert readers._split(raw, "utf-8", 1, True, NAMES, ";") is None
    ref = _read(path, "reference")
    assert readers.read_table(path, path.name, OPTS).frame.equals(ref.frame)


def test_an_undefined_cp1252_byte_late_in_the_file_makes_it_latin1(tmp_path):
    # 0x80 (euro in Windows-1252) in the header, 0x81 (undefined there) far below: the file is Latin-1
    rows = [f"0{i % 9 + 1}/01/2024;Lyon;{i};kWh" for i in range(200_000)]
    text = "Date;Site;Montant \x80;Unité\n" + "\n".join(rows) + "\nx;y;\x81;z\n"
    path = tmp_path / "late.csv"
    path.write_bytes(text.encode("latin-1"))
    t = readers.read_table(path, path.name, OPTS)
    assert t.info["encoding"] == "latin-1"
    assert t.headers[2] == "Montant \x80"
    assert t.frame[ROW_COL][-1] == 200_002
    assert t.frame["Montant \x80"][-1] == "\x81"


CELLS = st.lists(st.one_of(st.none(), st.sampled_from(["kWh", "", "m3", "litres de gazole non routier", "É",
                                                       "passenger.km", "L"])), max_size=300)


@settings(max_examples=200, deadline=None)
@given(cells=CELLS, slice_from=st.integers(0, 5))
def test_distinct_codes_match_polars_first_appearance(cells, slice_from):
    s = pl.Series("u", cells, dtype=pl.String)[slice_from:]
    codes, values = columns.distinct(s)
    expected = s.unique(maintain_order=True).drop_nulls()
    assert values.to_list() == expected.to_list()
    index = {v: i for i, v in enumerate(expected.to_list())}
    assert codes.to_list() == [len(expected) if v is None else index[v] for v in s.to_list()]
    assert columns.gather_by_code(values.to_list(), codes, pl.String, "u").to_list() == s.to_list()


def test_distinct_codes_do_not_depend_on_chunks():
    a = pl.Series("u", ["b", None, "a"] * 50_000)
    b = pl.Series("u", ["c", "a"] * 40_000)
    joined = pl.concat([a, b], rechunk=False)
    assert joined.n_chunks() == 2
    codes, values = columns.distinct(joined)
    assert values.to_list() == ["b", "a", "c"]
    assert codes[:3].to_list() == [0, 3, 1] and codes[-2:].to_list() == [2, 1]


@pytest.mark.parametrize("kernel", [True, False])
def test_activity_ids_are_the_prefix_then_the_row(kernel, monkeypatch):
    if not kernel:
        monkeypatch.setattr(columns.numbers, "text_kernel", lambda: None)
    rows = pl.Series("r", [5, 12, 1_000_007, 0] * 40_000, dtype=pl.Int64)
    ids = columns.prefixed("0a1b2c3d4e5f6071-", rows, "activity_id")
    assert ids.name == "activity_id" and ids.dtype == pl.String
    assert ids[:4].to_list() == ["0a1b2c3d4e5f6071-5", "0a1b2c3d4e5f6071-12", "0a1b2c3d4e5f6071-1000007",
                                 "0a1b2c3d4e5f6071-0"]
    assert ids.to_list() == [f"0a1b2c3d4e5f6071-{r}" for r in rows.to_list()]


@pytest.mark.parametrize("route", ["kernel", "polars", "reference"])
def test_every_extra_cell_is_seen_whichever_reader(route, tmp_path):
    # the extra cell comes after an empty one: a reader that kept only one spare column would lose it
    path = tmp_path / "extra.csv"
    path.write_text('Date;Site;Quantité;Unité\n01/01/2024;Lyon;3;L;;;"oublié"\n02/01/2024;Lyon;4;L\n',
                    encoding="utf-8")
    with pytest.MonkeyPatch.context() as m:
        if route != "kernel":
            m.setattr(readers, "_split", lambda *a: None)
        if route == "reference":
            m.setattr(readers, "_parse_fast", lambda *a: None)
        t = readers.read_table(path, path.name, OPTS)
    assert t.frame[readers.ROW_ERROR].to_list() == ["row has 7 cells but the header has 4", None]
    assert t.frame[ROW_COL].to_list() == [2, 3]
