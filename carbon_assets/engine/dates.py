"""Calendar dates as publishers and clients write them.

``parse_date`` reads one value (factor files). ``detect``/``parse`` read a whole client column with
polars expressions: ISO ``YYYY-MM-DD`` (or ``YYYY/MM/DD``, with or without a time), ``YYYYMMDD``,
``DD/MM/YYYY`` or ``MM/DD/YYYY`` (``/``, ``.`` or ``-``) and Excel serial day numbers.
The day/month order of a column is decided by the values that can only be read one way
(``31/01/2024`` is DMY, ``01/31/2024`` is MDY); when nothing decides, values such as
``03/04/2024`` are rejected as ambiguous (never guessed) unless the mapping sets ``date_order``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y")
DATE_HINT = "YYYY-MM-DD or DD/MM/YYYY"
COLUMN_HINT = "YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY or an Excel serial day number"

DMY, MDY, NEUTRAL, AMBIGUOUS, MIXED = "DMY", "MDY", "neutral", "ambiguous", "mixed"
NOT_A_DATE, AMBIGUOUS_VALUE, MIXED_VALUE = "not_a_date", "ambiguous", "mixed"
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (after the 1900 leap-year bug, from serial 61)


def parse_date(text: str) -> dt.date:
    """The date in ``text``; ValueError when no accepted layout matches."""
    s = text.strip()
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue  # try the next layout
    raise ValueError(f"not a date (expected {DATE_HINT}): {text!r}")


_ISO = r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"
_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"
_XY = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$"
_SERIAL = r"^(\d{5})(?:\.0+)?$"  # 10000..99999 = 1927..2173


def prepare(col: str, p: str, with_time: bool = True) -> list[list[pl.Expr]]:
    """Stages of helper columns: ``<p>s`` (cleaned text), ``<p>dmy`` / ``<p>mdy`` (the value read as
    DD/MM/YYYY and as MM/DD/YYYY, null when it is not valid that way), ``<p>is_xy``, ``<p>empty``.
    ``with_time=False`` skips removing a time of day (for a column without any ``:``)."""
    raw = pl.col(col)
    time_re = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)$"
    st1 = [(raw.str.replace(time_re, "") if with_time else raw).alias(f"{p}s"), raw.is_null().alias(f"{p}empty")]
    s = pl.col(f"{p}s")
    st2 = [s.str.contains(_XY).fill_null(False).alias(f"{p}is_xy"),
           s.str.replace_all(r"[.\-]", "/").alias(f"{p}slash")]
    slash, is_xy = pl.col(f"{p}slash"), pl.col(f"{p}is_xy")
    st3 = [pl.when(is_xy).then(slash.str.to_date("%d/%m/%Y", strict=False)).alias(f"{p}dmy"),
           pl.when(is_xy).then(slash.str.to_date("%m/%d/%Y", strict=False)).alias(f"{p}mdy")]
    return [st1, st2, st3]


def detect(df: pl.DataFrame, p: str) -> tuple[str, dict[str, int]]:
    """The day/month order of a prepared column: DMY, MDY, neutral (nothing to decide), ambiguous or mixed."""
    dmy, mdy = pl.col(f"{p}dmy"), pl.col(f"{p}mdy")
    counts = df.select(
        dmy=(dmy.is_not_null() & mdy.is_null()).sum(), mdy=(mdy.is_not_null() & dmy.is_null()).sum(),
        amb=(dmy.is_not_null() & mdy.is_not_null() & (dmy != mdy)).sum(),
    ).row(0, named=True)
    dmy_n, mdy_n, amb = (int(counts[k] or 0) for k in ("dmy", "mdy", "amb"))
    if dmy_n and mdy_n:
        order = MIXED
    elif dmy_n:
        order = DMY
    elif mdy_n:
        order = MDY
    elif amb:
        order = AMBIGUOUS
    else:
        order = NEUTRAL
    return order, {"dmy": dmy_n, "mdy": mdy_n, "ambiguous": amb}


def finish(p: str, order: str) -> list[list[pl.Expr]]:
    """Stages adding ``<p>val`` (Date) and ``<p>status`` for a prepared column under ``order``."""
    s, empty, is_xy = pl.col(f"{p}s"), pl.col(f"{p}empty"), pl.col(f"{p}is_xy")
    dmy, mdy = pl.col(f"{p}dmy"), pl.col(f"{p}mdy")
    both = dmy.is_not_null() & mdy.is_not_null()
    undecided = order in (NEUTRAL, AMBIGUOUS, MIXED)
    if order == MDY:
        xy, wrong_way = mdy, dmy.is_not_null() & mdy.is_null()
    elif order == DMY:
        xy, wrong_way = dmy, mdy.is_not_null() & dmy.is_null()
    else:  # undecided: the values that read one way only are read that way
        xy, wrong_way = pl.coalesce(dmy, mdy), pl.lit(False)
    iso = s.str.replace_all("/", "-", literal=True).str.to_date("%Y-%m-%d", strict=False)
    compact = pl.when(s.str.contains(_COMPACT)).then(s.str.to_date("%Y%m%d", strict=False))
    serial_n = s.str.extract(_SERIAL, 1).cast(pl.Int64, strict=False)
    serial = pl.when(serial_n.is_not_null()).then(pl.lit(EXCEL_EPOCH) + pl.duration(days=serial_n)).cast(pl.Date)
    other = pl.coalesce(pl.when(s.str.contains(_ISO)).then(iso), compact, serial)
    st1 = [pl.when(is_xy).then(xy).otherwise(other).alias(f"{p}raw")]
    date = pl.col(f"{p}raw")
    status = (pl.when(empty).then(None)
              .when(is_xy & pl.lit(order == MIXED) & (both.not_() | (dmy != mdy))).then(pl.lit(MIXED_VALUE))
              .when(is_xy & both & (dmy != mdy) & pl.lit(undecided)).then(pl.lit(AMBIGUOUS_VALUE))
              .when(is_xy & wrong_way).then(pl.lit(MIXED_VALUE))
              .when(date.is_null()).then(pl.lit(NOT_A_DATE))
              .otherwise(None))
    st2 = [status.alias(f"{p}status")]
    st3 = [pl.when(pl.col(f"{p}status").is_null() & ~empty).then(date).otherwise(None).alias(f"{p}val")]
    return [st1, st2, st3]


def forced(order: str | None) -> str | None:
    if order in (None, "", "auto"):
        return None
    o = str(order).upper().replace("/", "").replace("-", "")
    if o in ("DMY", "DDMMYYYY"):
        return DMY
    if o in ("MDY", "MMDDYYYY"):
        return MDY
    raise ValueError(f"date_order must be DMY or MDY (got {order!r})")


def status_message(status: str) -> str:
    if status == AMBIGUOUS_VALUE:
        return ("ambiguous date: DD/MM/YYYY or MM/DD/YYYY, and no value in the column decides "
                "(set date_order in the tenant mapping)")
    if status == MIXED_VALUE:
        return "date column mixes DD/MM/YYYY and MM/DD/YYYY: value not read"
    return f"not a date (expected {COLUMN_HINT})"
