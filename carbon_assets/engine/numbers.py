"""Numbers as clients write them, parsed per column with polars expressions.

A column's convention is decided from the values that can only be read one way:

* EU: ``1.234,56``, ``1 234,56``, ``12,5``, ``1.234.567`` (comma decimal, dot/space thousands)
* US: ``1,234.56``, ``12.5``, ``1,234,567`` (dot decimal, comma thousands)
* neutral: ``1234``, ``-3``, ``1 234`` (no decimal mark, no grouping mark that could be one)
* ambiguous: ``1,234`` and ``1.234`` (one mark followed by exactly three digits)

EU evidence only -> EU; US evidence only -> US; neither -> the ambiguous values are rejected
(never guessed); both -> the column mixes conventions and every value that has a mark is rejected.
A tenant mapping can force the convention (``decimal: ","`` or ``decimal: "."``).

Each cell is read once, by the Rust kernel (:func:`parse`) or by the polars reference (:func:`prepare`,
used when the kernel is not installed); both give the same helper columns, which the tests check on
hand-written and generated cells.

Also handled: spaces / no-break spaces / apostrophes as thousands separators, currency symbols
or ISO codes before or after the number, a trailing ``%``, a leading sign and accounting
negatives in parentheses ``(1 234,56)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

EU, US, NEUTRAL, AMBIGUOUS, MIXED, CANONICAL = "EU", "US", "neutral", "ambiguous", "mixed", "canonical"

_CURRENCY_RE = r"(?:[€$£¥]|US\$|[A-Z]{3})"
# on the unsigned body, blanks removed; tried in this order ([0-9], not \d: only ASCII digits are numbers)
_PATTERNS = {
    "int": r"^[0-9]+$",
    "amb": r"^[1-9][0-9]{0,2}[.,][0-9]{3}$",  # 1,234 or 1.234
    "eu": r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+|[0-9]{1,3}(?:\.[0-9]{3}){2,}|[0-9]*,[0-9]+)$",  # 1.234,5 1.234.567 12,5
    "us": r"^(?:[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+|[0-9]{1,3}(?:,[0-9]{3}){2,}|[0-9]*\.[0-9]+)$",  # 1,234.5 1,234,567 12.5
}
# kind codes (UInt8), shared with the Rust kernel (rust_kernels/src/text.rs)
KIND_EMPTY, KIND_INT, KIND_AMBIGUOUS, KIND_EU, KIND_US, KIND_NONE = range(6)
_KIND_OF = {"int": KIND_INT, "amb": KIND_AMBIGUOUS, "eu": KIND_EU, "us": KIND_US}

# sign, accounting parentheses, body and % in one pattern (blanks already removed)
_PLAIN_RE = r"^(?P<open>\()?(?P<sign>[-+])?(?P<body>[0-9.,]*)(?P<pct>%)?(?P<close>\))?$"
_BLANKS_RE = r"[ \t\n\r\u00a0\u202f'’]"

# per-value status codes (null = a number, or an empty cell)
NOT_A_NUMBER = "not_a_number"
AMBIGUOUS_VALUE = "ambiguous"
MIXED_VALUE = "mixed"

# Every way of reading a column yields the helper columns <p>kind (UInt8 code), <p>pct (Boolean),
# <p>cur (String: the currency written in the cell), <p>eu / <p>us (Float64: the signed value read with
# EU / US marks; meaningless for kinds without a reading). finish() turns them into <p>status and <p>val.


def prepare(col: str, p: str, currency: bool = True) -> list[list[pl.Expr]]:
    """Polars reference for the helper columns of ``col`` (the Rust kernel's :func:`parse` is the fast
    path): stages to apply with ``with_columns`` in turn, every regex running once per cell."""
    raw = pl.col(col)
    s0 = f"{p}s"
    st1 = [raw.str.replace_all(_BLANKS_RE, "").alias(s0)]
    s = pl.col(s0)
    empty = (s.is_null() | (s == "")).alias(f"{p}empty")
    if not currency:  # quantities: a currency sign makes the cell not a number; one regex pass
        st2 = [s.str.extract_groups(_PLAIN_RE).alias(f"{p}g"), empty]
        g = pl.col(f"{p}g")
        paren = (g.struct.field("open").is_not_null() & g.struct.field("close").is_not_null()).fill_null(False)
        balanced = g.struct.field("open").is_null() == g.struct.field("close").is_null()
        st3 = [pl.lit(None, pl.String).alias(f"{p}cur"), g.struct.field("pct").is_not_null().alias(f"{p}pct"),
               ((g.struct.field("sign") == "-").fill_null(False) | paren).alias(f"{p}minus"),
               pl.when(balanced).then(g.struct.field("body")).otherwise(pl.lit("(")).alias(f"{p}body")]
        return [st1, st2, st3, *_kind_and_readings(p)]
    st2 = [empty,
           s.str.extract(rf"^[-+(]*({_CURRENCY_RE})", 1).alias(f"{p}cur1"),
           s.str.extract(rf"({_CURRENCY_RE})\)?$", 1).alias(f"{p}cur2"),
           s.str.replace(rf"^([-+(]*){_CURRENCY_RE}", "${1}").str.replace(rf"{_CURRENCY_RE}(\)?)$", "${1}")
           .alias(f"{p}b0")]
    b0 = pl.col(f"{p}b0")
    st3 = [pl.coalesce(pl.col(f"{p}cur1"), pl.col(f"{p}cur2")).alias(f"{p}cur"),
           b0.str.ends_with("%").fill_null(False).alias(f"{p}pct"), b0.str.strip_suffix("%").alias(f"{p}b1")]
    b1 = pl.col(f"{p}b1")
    st4 = [(b1.str.starts_with("(") & b1.str.ends_with(")")).fill_null(False).alias(f"{p}paren")]
    paren = pl.col(f"{p}paren")
    st5 = [pl.when(paren).then(b1.str.slice(1).str.strip_suffix(")")).otherwise(b1).alias(f"{p}b2")]
    b2 = pl.col(f"{p}b2")
    st6 = [(b2.str.starts_with("-").fill_null(False) | paren).alias(f"{p}minus"),
           b2.str.replace(r"^[-+]", "").alias(f"{p}body")]
    return [st1, st2, st3, st4, st5, st6, *_kind_and_readings(p)]


def _kind_and_readings(p: str) -> list[list[pl.Expr]]:
    body, minus, empty = pl.col(f"{p}body"), pl.col(f"{p}minus"), pl.col(f"{p}empty")
    kind = pl.lit(KIND_NONE, pl.UInt8)
    for name in reversed(list(_PATTERNS)):
        kind = pl.when(body.str.contains(_PATTERNS[name])).then(pl.lit(_KIND_OF[name], pl.UInt8)).otherwise(kind)
    kind = pl.when(empty).then(pl.lit(KIND_EMPTY, pl.UInt8)).otherwise(kind.fill_null(KIND_NONE))

    def signed(text: pl.Expr) -> pl.Expr:
        v = text.cast(pl.Float64, strict=False)
        return pl.when(minus).then(-v).otherwise(v)

    eu = signed(body.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
    us = signed(body.str.replace_all(",", "", literal=True))
    return [[kind.alias(f"{p}kind"), eu.alias(f"{p}eu"), us.alias(f"{p}us")]]


def prepare_canonical(col: str, p: str) -> list[list[pl.Expr]]:
    """Helper columns for a column of typed numbers (xlsx / Parquet cells written as plain float text)."""
    v = pl.col(col).cast(pl.Float64, strict=False)
    kind = (pl.when(pl.col(col).is_null()).then(pl.lit(KIND_EMPTY, pl.UInt8))
            .when(v.is_finite().fill_null(False)).then(pl.lit(KIND_INT, pl.UInt8))
            .otherwise(pl.lit(KIND_NONE, pl.UInt8)))
    return [[kind.alias(f"{p}kind"), pl.lit(False).alias(f"{p}pct"), pl.lit(None, pl.String).alias(f"{p}cur"),
             v.alias(f"{p}eu"), v.alias(f"{p}us")]]


def parse(series: pl.Series, p: str, currency: bool) -> pl.DataFrame:
    """The helper columns of :func:`prepare`, computed by the Rust kernel in one pass over the cells."""
    arr = series.cast(pl.String).rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    nulls = series.is_null().to_numpy()
    kind, pct, cur, eu, us = text_kernel().parse_numbers(offsets, data, nulls, currency)
    codes = {int(c): _currency_text(int(c)) for c in np.unique(cur) if c} if currency else {}
    cur_s = (pl.Series(f"{p}cur", cur).replace_strict(codes, default=None, return_dtype=pl.String) if codes
             else pl.repeat(None, len(cur), dtype=pl.String, eager=True))
    return pl.DataFrame([pl.Series(f"{p}kind", kind), pl.Series(f"{p}pct", pct), cur_s.alias(f"{p}cur"),
                         pl.Series(f"{p}eu", eu), pl.Series(f"{p}us", us)])


def _currency_text(code: int) -> str:
    """Inverse of the kernel's currency code (1-4 symbols, 5 US$, then three letters)."""
    if code <= 5:
        return ("€", "$", "£", "¥", "US$")[code - 1]
    n = code - 6
    return "".join(chr(ord("A") + d) for d in (n // 676, n // 26 % 26, n % 26))


def text_kernel():
    """The Rust kernel when it has the text functions (0.3.0 on), else None: the pure-Python paths run.
    (The CSV splitter and distinct values came in 0.4.0; their callers check for them by name.)"""
    try:
        from carbon_assets import _kernel
    except ImportError:
        return None
    return _kernel if hasattr(_kernel, "scan_text") else None


def detect(df: pl.DataFrame, p: str) -> tuple[str, dict[str, int]]:
    """The convention (EU, US, neutral, ambiguous or mixed) of a prepared column, and the evidence counts."""
    kind = pl.col(f"{p}kind")
    counts = df.select(eu=(kind == KIND_EU).sum(), us=(kind == KIND_US).sum(),
                       amb=(kind == KIND_AMBIGUOUS).sum()).row(0, named=True)
    eu, us, amb = counts["eu"], counts["us"], counts["amb"]
    if eu and us:
        conv = MIXED
    elif eu:
        conv = EU
    elif us:
        conv = US
    elif amb:
        conv = AMBIGUOUS
    else:
        conv = NEUTRAL
    return conv, {"eu": int(eu), "us": int(us), "ambiguous": int(amb)}


def finish(p: str, convention: str) -> list[list[pl.Expr]]:
    """Stages adding ``<p>status`` (null when fine or empty) and ``<p>val`` (Float64) under ``convention``."""
    kind = pl.col(f"{p}kind")
    empty = kind == KIND_EMPTY
    if convention in (CANONICAL, EU):
        value, wrong = pl.col(f"{p}eu"), kind == KIND_US
    elif convention == US:
        value, wrong = pl.col(f"{p}us"), kind == KIND_EU
    else:  # neutral / ambiguous / mixed: only values without a mark are read
        value, wrong = pl.when(kind == KIND_INT).then(pl.col(f"{p}eu")), pl.lit(False)
    undecided = convention in (NEUTRAL, AMBIGUOUS, MIXED)
    status = (pl.when(empty).then(None)
              .when(kind == KIND_NONE).then(pl.lit(NOT_A_NUMBER))
              .when((kind == KIND_AMBIGUOUS) & pl.lit(undecided)).then(pl.lit(AMBIGUOUS_VALUE))
              .when(pl.lit(convention == MIXED) & (kind != KIND_INT)).then(pl.lit(MIXED_VALUE))
              .when(wrong).then(pl.lit(MIXED_VALUE))
              .otherwise(None))
    value = pl.when(empty | pl.col(f"{p}status").is_not_null()).then(None).otherwise(value)
    return [[status.alias(f"{p}status")], [value.alias(f"{p}val")]]


def forced(decimal: str | None) -> str | None:
    """The convention a mapping's ``decimal`` option forces (``","`` -> EU, ``"."`` -> US)."""
    if decimal in (None, "", "auto"):
        return None
    if decimal in (",", "EU", "eu", "comma"):
        return EU
    if decimal in (".", "US", "us", "dot"):
        return US
    raise ValueError(f"decimal must be ',' or '.' (got {decimal!r})")


def status_message(status: str, convention: str) -> str:
    if status == AMBIGUOUS_VALUE:
        return ("ambiguous number: 1,234 / 1.234 could be a thousands separator or a decimal mark and no "
                "value in the column decides (set decimal in the tenant mapping)")
    if status == MIXED_VALUE:
        return "column mixes EU (1.234,56) and US (1,234.56) number formats: value not read"
    return "not a number"
