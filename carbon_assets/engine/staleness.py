"""Which tenant-years a new factor snapshot makes stale (pure).

A tenant-year is stale when re-running factor selection on its activity lines under the new
snapshot gives a different outcome for at least one line than under the previous snapshot: another
factor, another value, another distribution, or another match status. Only lines that can be
touched are re-evaluated: those whose activity_key is served by an added, removed or changed
factor (old or new key) or that name such a factor explicitly. Tenant-years none of whose lines
change are left alone, even if they use a factor of the same namespace.
"""

from __future__ import annotations

import polars as pl

from carbon_assets.engine import emissions
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.params import CalcParams
from carbon_assets.engine.snapshot_diff import diff_snapshots

OUTCOME = ["match_status", "factor_id", "factor_value", "gwp_status", "dist", "dist_p1", "dist_p2", "conversion"]


def touched_factors(previous: pl.DataFrame, current: pl.DataFrame) -> tuple[set[str], set[str]]:
    """(factor ids added, removed or changed; activity keys those factors serve, before or after)."""
    d = diff_snapshots(previous, current, max_listed=max(previous.height, current.height, 1))
    ids = set(d["added"]) | set(d["removed"]) | {c["factor_id"] for c in d["changed"]}
    keys = set()
    for snap in (previous, current):
        keys |= set(snap.filter(pl.col("factor_id").is_in(sorted(ids)))["activity_key"].drop_nulls().to_list())
    return ids, keys


def stale_tenant_years(lines: pl.DataFrame, previous: pl.DataFrame, current: pl.DataFrame,
                       params: CalcParams) -> list[tuple[str, str]]:
    """Sorted (tenant, year) whose selection outcome differs between the two snapshots.

    ``lines``: activity rows with at least the ACTIVITY_SCHEMA columns (e.g. the emissions table).
    """
    ids, keys = touched_factors(previous, current)
    if not ids or lines.height == 0:
        return []
    cand = lines.select(list(ACTIVITY_SCHEMA)).filter(
        pl.col("activity_key").is_in(sorted(keys)) | pl.col("requested_factor_id").is_in(sorted(ids)))
    if cand.height == 0:
        return []
    old = emissions.compute(cand, previous, params).select("tenant", "year", "activity_id", *OUTCOME)
    new = emissions.compute(cand, current, params).select("tenant", "year", "activity_id", *OUTCOME)
    joined = old.join(new, on=["tenant", "year", "activity_id"], suffix="__new", nulls_equal=True)
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(f"{c}__new")) for c in OUTCOME])
    stale = joined.filter(differs).select("tenant", "year").unique().sort("tenant", "year")
    return [tuple(r) for r in stale.rows()]
