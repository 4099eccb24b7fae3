"""Change attribution: why did the total move between two calculations A and B?

The change total_B - total_A (deterministic kgCO2e, matched lines) is split over four drivers:

- activity data:  the activity lines (A's vs B's);
- factor release: the factor snapshot (A's vs B's);
- GWP set:        ``params.default_gwp``;
- method:         the selection method: tie-break order, primary_fe_namespace and fe_namespace_priority.

Each driver takes A's or B's value; a *coalition* S of drivers takes B's values for the drivers in
S and A's for the others, and v(S) is the total that ``emissions.compute`` gives for that mix
(v(empty) = total_A, v(all) = total_B; 2^4 = 16 deterministic recomputations). A driver's share is
its Shapley value,

    phi_i = sum over S not containing i of |S|! (n - |S| - 1)! / n! * (v(S + {i}) - v(S)),

its marginal effect averaged over every order in which the drivers could be switched from A to B.

Why Shapley rather than sequential substitution: substitution (swap activity data, then the
snapshot, then the GWP set, then the method, crediting each swap with the change it causes) gives
an answer that depends on the chosen order whenever drivers interact, and they do: a new GWP set
changes every factor's value, so its effect scales with the activity quantities, and a new snapshot
can change which factor the method selects. With two interacting drivers the interaction term lands
entirely on whichever goes second. Shapley values are the unique split that is order-free, sums
exactly to total_B - total_A (up to float rounding), gives 0 to a driver that is the same in A and
B (or never changes the total), and splits an interaction term equally between the drivers that
produce it.

Two years. Activity lines carry their own year, and the year is part of what the engine reads from
them: factor validity (which edition of a factor is valid in the year, year fallbacks) and, for
spend lines, the year's exchange rate and deflator. By default "activity data" is therefore the
year's lines *as they are, year included*: a change of grid-factor edition between 2024 and 2025
inside one snapshot is part of "activity data" (what the year's activity is worth in that year),
while "factor release" is only the change of snapshot, each side's lines valued against both
releases. With ``split_year=True`` a fifth driver, "reporting year", separates the two: coalitions
without it value every line as of A's year, with it as of B's year (the ``year`` column is
relabelled; quantities, units and regions stay), so "activity data" is then the lines' content
alone and "reporting year" the factor editions, fallbacks and exchange rates of the year.
Within one tenant-year the two readings coincide and "reporting year" is 0.

Totals are over matched lines: a line that finds no usable factor counts 0, so a driver that makes
lines match or not (a factor removed from a release, a namespace left out of the method) carries
that effect. Cost: one ``emissions.compute`` per distinct mix, at most 16 (32 with the year); a
driver whose value is the same in A and B is never switched, which halves the count each time.
"""

from __future__ import annotations

import dataclasses
import math
from itertools import combinations

import polars as pl

from carbon_assets.engine import emissions
from carbon_assets.engine.emissions import DEFAULT_TIE_BREAK
from carbon_assets.engine.errors import InputError
from carbon_assets.engine.params import CalcParams

ACTIVITY, FACTORS, GWP, METHOD, YEAR = "activity data", "factor release", "GWP set", "method", "reporting year"
DRIVERS = (ACTIVITY, FACTORS, GWP, METHOD)
START, END = "start", "end"
WATERFALL_SCHEMA = {"step": pl.String, "delta_kgco2e": pl.Float64, "cumulative_kgco2e": pl.Float64,
                    "share_of_change": pl.Float64, "detail": pl.String}


@dataclasses.dataclass(frozen=True, eq=False)
class CalcInputs:
    """Everything a deterministic calculation reads: activity lines (ACTIVITY_SCHEMA), the factor
    snapshot, the parameters and the tie-break order; ``label`` names it in the waterfall."""

    activities: pl.DataFrame
    factor_snapshot: pl.DataFrame
    params: CalcParams
    tie_break: tuple[str, ...] = DEFAULT_TIE_BREAK
    label: str = ""


def total_kgco2e(em: pl.DataFrame) -> float:
    """Deterministic total of the matched lines, summed in a fixed order (unmatched lines count 0)."""
    values = em.filter(pl.col("match_status") == "matched")["em_kgco2e"].sort().to_list()
    return math.fsum(values)


def _single_year(acts: pl.DataFrame, label: str) -> str:
    years = acts["year"].drop_nulls().unique().to_list()
    if len(years) != 1:
        raise InputError(f"split_year needs the activities of {label or 'a calculation'} to hold one year",
                         column="year", value=sorted(years))
    return years[0]


def _same(driver: str, a: CalcInputs, b: CalcInputs) -> bool:
    """Is the driver's value the same in A and B (then switching it cannot change anything)?"""
    if driver == ACTIVITY:
        return a.activities.equals(b.activities)
    if driver == FACTORS:
        return a.factor_snapshot.equals(b.factor_snapshot)
    if driver == GWP:
        return a.params.default_gwp == b.params.default_gwp
    if driver == METHOD:
        return (tuple(a.tie_break), a.params.namespace_order()) == (tuple(b.tie_break), b.params.namespace_order())
    if driver == YEAR:
        return _single_year(a.activities, a.label) == _single_year(b.activities, b.label)
    raise ValueError(f"unknown driver {driver!r}")


def mixed_inputs(a: CalcInputs, b: CalcInputs, from_b: frozenset[str]) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                               CalcParams, tuple[str, ...]]:
    """(activities, snapshot, params, tie_break) with B's value for the drivers in ``from_b``, A's otherwise.

    Parameters that change no deterministic number (Monte-Carlo settings, compute mode) are A's."""
    side = {d: (b if d in from_b else a) for d in DRIVERS}
    params = dataclasses.replace(
        a.params, default_gwp=side[GWP].params.default_gwp,
        primary_fe_namespace=side[METHOD].params.primary_fe_namespace,
        fe_namespace_priority=side[METHOD].params.fe_namespace_priority)
    return side[ACTIVITY].activities, side[FACTORS].factor_snapshot, params, tuple(side[METHOD].tie_break)


def coalition_totals(a: CalcInputs, b: CalcInputs, split_year: bool = False) -> dict[frozenset[str], float]:
    """v(S) for every coalition S of drivers (B's values for the drivers in S, A's otherwise).

    A driver whose value is the same in A and B is not switched (its coalitions share one
    computation), so only the distinct mixes are computed."""
    drivers = (*DRIVERS, YEAR) if split_year else DRIVERS
    if split_year:
        year_of = {"a": _single_year(a.activities, a.label), "b": _single_year(b.activities, b.label)}
    differs = [d for d in drivers if not _same(d, a, b)]
    computed: dict[frozenset[str], float] = {}
    out = {}
    for k in range(len(drivers) + 1):
        for combo in combinations(drivers, k):
            coalition = frozenset(combo)
            effective = frozenset(d for d in coalition if d in differs)
            if effective not in computed:
                acts, snap, params, tie_break = mixed_inputs(a, b, effective)
                if split_year:  # value the lines as of the year the coalition picks
                    year = year_of["b" if YEAR in effective else "a"]
                    acts = acts.with_columns(pl.lit(year, acts.schema["year"]).alias("year"))
                computed[effective] = total_kgco2e(emissions.compute(acts, snap, params, tie_break))
            out[coalition] = computed[effective]
    return out


def shapley(values: dict[frozenset[str], float], drivers: tuple[str, ...]) -> dict[str, float]:
    """Shapley value of each driver for the game ``values`` (coalition -> v), exact weights, fixed order."""
    n = len(drivers)
    out = {}
    for d in drivers:
        others = [x for x in drivers if x != d]
        terms = []
        for k in range(n):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for combo in combinations(others, k):
                s = frozenset(combo)
                terms.append(w * (values[s | {d}] - values[s]))
        out[d] = math.fsum(terms)
    return out


def _detail(driver: str, a: CalcInputs, b: CalcInputs) -> str:
    """What the driver's value is in A and B, for the waterfall's readers."""
    if driver == ACTIVITY:
        def show(c: CalcInputs) -> str:
            return f"{c.activities.height} lines"
    elif driver == FACTORS:
        def show(c: CalcInputs) -> str:
            s = c.factor_snapshot
            sid = s["snapshot_id"][0] if "snapshot_id" in s.columns and s.height else None
            return f"snapshot {sid}" if sid else f"snapshot of {s.height} factors"
    elif driver == GWP:
        def show(c: CalcInputs) -> str:
            return c.params.default_gwp
    elif driver == METHOD:
        def show(c: CalcInputs) -> str:
            return f"namespaces {','.join(c.params.namespace_order())}; tie-break {','.join(c.tie_break)}"
    else:
        def show(c: CalcInputs) -> str:
            return _single_year(c.activities, c.label)
    return f"unchanged: {show(a)}" if _same(driver, a, b) else f"{show(a)} -> {show(b)}"


def waterfall(a: CalcInputs, b: CalcInputs, split_year: bool = False) -> pl.DataFrame:
    """The change from A to B as a waterfall (WATERFALL_SCHEMA): a ``start`` row (total A in
    cumulative_kgco2e, delta null), one row per driver (its Shapley value, the running total, its
    share of the change), and an ``end`` row (delta = total B - total A, cumulative = total B, share 1).
    Shares are null when the total does not change. See the module docs for the drivers."""
    drivers = (*DRIVERS, YEAR) if split_year else DRIVERS
    values = coalition_totals(a, b, split_year)
    total_a, total_b = values[frozenset()], values[frozenset(drivers)]
    phi = shapley(values, drivers)
    change = total_b - total_a
    steps, deltas, cum, share, detail = [START], [None], [total_a], [None], [a.label or "A"]
    running = total_a
    for d in drivers:
        running += phi[d]
        steps.append(d)
        deltas.append(phi[d])
        cum.append(running)
        share.append(phi[d] / change + 0.0 if change != 0 else None)  # + 0.0: no -0.0
        detail.append(_detail(d, a, b))
    steps.append(END)
    deltas.append(change)
    cum.append(total_b)
    share.append(1.0 if change != 0 else None)
    detail.append(b.label or "B")
    return pl.DataFrame({"step": steps, "delta_kgco2e": deltas, "cumulative_kgco2e": cum,
                         "share_of_change": share, "detail": detail}, schema=WATERFALL_SCHEMA)


def render_waterfall_png(frame: pl.DataFrame, title: str = "change attribution") -> bytes:
    """PNG waterfall chart of ``waterfall``'s frame: total bars for start and end, floating bars for the
    drivers (red up, green down), in tCO2e."""
    from carbon_assets.engine import plots

    plt = plots._pyplot()
    rows = frame.to_dicts()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for i, r in enumerate(rows):
        end_t = r["cumulative_kgco2e"] / 1000.0
        if r["step"] in (START, END):
            ax.bar(i, end_t, color="#4c78a8")
            text, top = f"{end_t:,.2f}", end_t
        else:
            d = r["delta_kgco2e"] / 1000.0
            ax.bar(i, d, bottom=end_t - d, color="#e45756" if d > 0 else "#54a24b")
            text, top = f"{d:+,.2f}", max(end_t, end_t - d)
        ax.annotate(text, (i, top), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), [r["step"] if r["step"] not in (START, END) else r["detail"] for r in rows],
                  fontsize=7, rotation=15)
    ax.set_ylabel("tCO2e")
    ax.set_title(title)
    return plots._png(fig)
