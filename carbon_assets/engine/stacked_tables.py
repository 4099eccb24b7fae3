"""Tables stacked in one spreadsheet sheet, located by their title cell (e.g. the US EPA GHG
Emission Factors Hub: "Table 1" ... "Table 12" one below the other, each with its own header
rows, unit rows and notes).

A mapping with ``tables:`` reads the sheet once as a grid whose columns are named by their
spreadsheet letters (A, B, C...) and cuts one frame per table entry:

- ``title``: the text of the cell that opens the table (exact, whitespace collapsed);
- ``first_row``: offset of the first data row from the title row (title = 0);
- ``end``: ``{column, regex}``: the first row whose cell matches (``re.search``) ends the table;
  the end row is required, so a truncated sheet is an error and never a shorter table;
- ``expect``: ``{offset: {letter: text}}``: header cells checked before reading, so that a moved
  column fails loudly instead of reading CH4 as N2O;
- ``fill_down``: letters whose empty cells repeat the value above ("merged-looking" cells);
- ``carry``: marker rows that set a value for the rows below and are not data rows:
  ``{as: name, column: letter, regex: "mmBtu per (?P<value>.+)"}`` (cell matches; group ``value``
  or the whole cell is carried) or ``{as: name, column: letter, when_empty: [letters]}`` (a
  section label: the row has text in ``column`` and nothing in the listed cells).

Row numbers are the sheet's own (1-based), so every later error names the real row.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import polars as pl

from carbon_assets.engine.errors import InputError
from carbon_assets.engine.tables import ROW_COL, xlsx_sheet


def _letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = string.ascii_uppercase[r] + out
    return out


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = " ".join(str(v).split())  # collapse the line breaks and NBSPs publishers put in headers
    return s or None


def read_grid(path: Path, sheet: str | None) -> list[tuple[int, list[str | None]]]:
    """(sheet row number, cell texts) for every non-empty row of the sheet."""
    with xlsx_sheet(path, sheet) as ws:
        rows = []
        for rownum, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_text(v) for v in values]
            if any(cells):
                rows.append((rownum, cells))
        return rows


def _cell(cells: list, letter: str) -> str | None:
    i = _index(letter)
    return cells[i] if i < len(cells) else None


def _index(letter: str) -> int:
    n = 0
    for ch in letter:
        n = n * 26 + string.ascii_uppercase.index(ch) + 1
    return n - 1


def cut_table(grid: list[tuple[int, list]], table: dict, fname: str) -> pl.DataFrame:
    """One stacked table as a frame of text cells named by letter, plus carried columns and ROW_COL."""
    title = " ".join(str(table["title"]).split())
    start = next((i for i, (_, cells) in enumerate(grid) if title in cells), None)
    if start is None:
        raise InputError(f"table title {title!r} not found in the sheet", file=fname)
    title_row = grid[start][0]
    by_row = {rownum: cells for rownum, cells in grid}
    for offset, expected in (table.get("expect") or {}).items():
        rownum = title_row + int(offset)
        for letter, text in expected.items():
            got = _cell(by_row.get(rownum, []), letter)
            if got != " ".join(str(text).split()):
                raise InputError(f"table {title!r}: header cell differs from the mapping's expect "
                                 f"({text!r}): layout changed?", file=fname, row=rownum, column=letter, value=got)
    end = table["end"]
    end_re = re.compile(end["regex"])
    first = title_row + int(table.get("first_row", 1))
    rows, ended = [], False
    for rownum, cells in grid[start + 1:]:
        if rownum < first:
            continue
        marker = _cell(cells, end["column"])
        if marker is not None and end_re.search(marker):
            ended = True
            break
        rows.append((rownum, cells))
    if not ended:
        raise InputError(f"table {title!r}: end row (column {end['column']} matching {end['regex']!r}) "
                         "not found: truncated sheet?", file=fname)
    width = max((len(c) for _, c in rows), default=0)
    letters = [_letter(i) for i in range(width)]
    carry_rules = table.get("carry") or []
    carried = {rule["as"]: None for rule in carry_rules}
    last = {letter: None for letter in table.get("fill_down", [])}
    data: dict[str, list] = {c: [] for c in [*letters, *carried, ROW_COL]}
    for rownum, cells in rows:
        if _carry(cells, carry_rules, carried):
            continue
        for i, letter in enumerate(letters):
            v = cells[i] if i < len(cells) else None
            if letter in last:
                v = last[letter] = v if v is not None else last[letter]
            data[letter].append(v)
        for name, value in carried.items():
            data[name].append(value)
        data[ROW_COL].append(rownum)
    schema = {**{c: pl.String for c in [*letters, *carried]}, ROW_COL: pl.Int64}
    return pl.DataFrame(data, schema=schema)


def _carry(cells: list, rules: list[dict], carried: dict) -> bool:
    """True when the row is a marker row; updates ``carried`` in place."""
    for rule in rules:
        text = _cell(cells, rule["column"])
        if text is None:
            continue
        if "regex" in rule:
            m = re.fullmatch(rule["regex"], text)
            if m:
                carried[rule["as"]] = m.groupdict().get("value", text)
                return True
        elif all(_cell(cells, c) is None for c in rule.get("when_empty", [])):
            carried[rule["as"]] = text
            return True
    return False
