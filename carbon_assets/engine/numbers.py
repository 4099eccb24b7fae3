"""Numbers as clients write them, parsed per column with polars expressions.

A column's convention is decided from the values that can only be read one way:

* EU: ``1.234,56``, ``1 234,56``, ``12,5``, ``1.234.567`` (comma decimal, dot/space thousands)
* US: ``1,234.56``, ``12.5``, ``1,234,567`` (dot decimal, comma thousands)
* neutral: ``1234``, ``-3``, ``1 234`` (no decimal mark, no grouping mark that could be one)
* ambiguous: ``1,234`` and ``1.234`` (one mark followed by exactly three digits)

EU evidence only -> EU; US evidence only -> US; neither -> the ambiguous values are rejected
(never guessed); both -> the column mixes conventions and every value that has a mark is rejected.
A tenant mapping can force the convention (``decimal: ","`` or ``decimal: "."``).

Also handled: spaces / no-break spaces / apostrophes as thousands separators, currency symbols
or ISO codes before or after the number, a trailing ``%``, a leading sign and accounting
negatives in parentheses ``(1 234,56)``.
"""

from __future__ import annotations

import polars as pl

EU, US, NEUTRAL, AMBIGUOUS, MIXED, CANONICAL = "EU", "US", "neutral", "ambiguous", "mixed", "canonical"

_CURRENCY_RE = r"(?:[€$£¥]|US\$|[A-Z]{3})"
_PATTERNS = {  # on the unsigned body, spaces and apostrophes removed; tried in this order
    "int": r"^\d+$",
    "amb": r"^[1-9]\d{0,2}[.,]\d{3}$",  # 1,234 or 1.234
    "eu": r"^(?:\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:\.\d{3}){2,}|\d*,\d+)$",  # 1.234,5  1.234.567  12,5
    "us": r"^(?:\d{1,3}(?:,\d{3})+\.\d+|\d{1,3}(?:,\d{3}){2,}|\d*\.\d+)$",  # 1,234.5  1,234,567  12.5
}

# sign, accounting parentheses, body and % in one pattern (whitespace already removed)
_PLAIN_RE = r"^(?P<open>\()?(?P<sign>[-+])?(?P<body>[0-9.,]*)(?P<pct>%)?(?P<close>\))?$"

# per-value status codes (null = a number, or an empty cell)
NOT_A_NUMBER = "not_a_number"
AMBIGUOUS_VALUE = "ambiguous"
MIXED_VALUE = "mixed"
PERCENT_VALUE = "percent"


def prepare(col: str, p: str, currency: bool = True) -> list[list[pl.Expr]]:
    """Stages of helper columns ``<p>body``, ``<p>minus``, ``<p>cur``, ``<p>pct``, ``<p>empty`` and ``<p>kind``
    for column ``col``: apply each stage with ``with_columns`` in turn (every regex runs once per cell)."""
    raw = pl.col(col)
    s0 = f"{p}s"
    st1 = [raw.str.replace_all(r"[ \t\n\r\u00a0\u202f'’]", "").alias(s0)]
    s = pl.col(s0)
    if not currency:  # quantities: a currency sign makes the cell not a number; one regex pass
        st2 = [s.str.extract_groups(_PLAIN_RE).alias(f"{p}g"), (s.is_null() | (s == "")).alias(f"{p}empty")]
        g = pl.col(f"{p}g")
        paren = (g.struct.field("open").is_not_null() & g.struct.field("close").is_not_null()).fill_null(False)
        balanced = g.struct.field("open").is_null() == g.struct.field("close").is_null()
        st3 = [pl.lit(None, pl.String).alias(f"{p}cur"), g.struct.field("pct").is_not_null().alias(f"{p}pct"),
               ((g.struct.field("sign") == "-").fill_null(False) | paren).alias(f"{p}minus"),
               pl.when(balanced).then(g.struct.field("body")).otherwise(pl.lit("(")).alias(f"{p}body")]
        return [st1, st2, st3, [prepare_kind(p)]]
    st2 = [(s.is_null() | (s == "")).alias(f"{p}empty"),
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
    return [st1, st2, st3, st4, st5, st6, [prepare_kind(p)]]


def prepare_int(col: str, p: str) -> list[list[pl.Expr]]:
    """The helper columns of :func:`prepare` for a column known to hold only plain integers (cheap)."""
    raw = pl.col(col)
    return [[raw.str.strip_prefix("+").alias(f"{p}body"), pl.lit(False).alias(f"{p}minus"),
             pl.lit(None, pl.String).alias(f"{p}cur"), pl.lit(False).alias(f"{p}pct"),
             raw.is_null().alias(f"{p}empty"), pl.when(raw.is_not_null()).then(pl.lit("int")).alias(f"{p}kind")]]


def only_integers(df: pl.DataFrame, col: str) -> bool:
    """True when every non-empty cell of ``col`` is a plain integer such as ``12`` or ``-3``."""
    return bool(df.select(pl.col(col).str.contains(r"^[+-]?\d{1,15}$").fill_null(True).all()).item())


def prepare_kind(p: str) -> pl.Expr:
    """``<p>kind``: the first pattern of ``_PATTERNS`` the body matches, or null."""
    body = pl.col(f"{p}body")
    expr = pl.lit(None, pl.String)
    for name in reversed(list(_PATTERNS)):
        expr = pl.when(body.str.contains(_PATTERNS[name])).then(pl.lit(name)).otherwise(expr)
    return expr.alias(f"{p}kind")


_EU_KINDS = ("eu",)
_US_KINDS = ("us",)


def detect(df: pl.DataFrame, p: str) -> tuple[str, dict[str, int]]:
    """The convention (EU, US, neutral, ambiguous or mixed) of a prepared column, and the evidence counts."""
    kind = pl.col(f"{p}kind")
    counts = df.select(
        eu=kind.is_in(_EU_KINDS).sum(), us=kind.is_in(_US_KINDS).sum(),
        amb=(kind == "amb").sum(),
    ).row(0, named=True)
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
    body, kind, empty = pl.col(f"{p}body"), pl.col(f"{p}kind"), pl.col(f"{p}empty")
    if convention == CANONICAL:  # typed numbers from xlsx / Parquet: plain float text
        text = body
        bad = kind.is_null() & ~body.str.contains(r"^\d*\.?\d+(?:[eE][-+]?\d+)?$")
        status = pl.when(empty).then(None).when(bad).then(pl.lit(NOT_A_NUMBER)).otherwise(None)
    else:
        if convention == EU:
            text = body.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
            wrong = kind.is_in(_US_KINDS)
        elif convention == US:
            text, wrong = body.str.replace_all(",", "", literal=True), kind.is_in(_EU_KINDS)
        else:  # neutral / ambiguous / mixed: only values without a mark are read
            text, wrong = pl.when(kind == "int").then(body).otherwise(None), pl.lit(False)
        amb = kind == "amb"
        undecided = convention in (NEUTRAL, AMBIGUOUS, MIXED)
        status = (pl.when(empty).then(None)
                  .when(kind.is_null()).then(pl.lit(NOT_A_NUMBER))
                  .when(amb & pl.lit(undecided)).then(pl.lit(AMBIGUOUS_VALUE))
                  .when(pl.lit(convention == MIXED) & (kind != "int")).then(pl.lit(MIXED_VALUE))
                  .when(wrong).then(pl.lit(MIXED_VALUE))
                  .otherwise(None))
    magnitude = text.cast(pl.Float64, strict=False)
    value = pl.when(pl.col(f"{p}minus")).then(-magnitude).otherwise(magnitude)
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
