"""Machine-readable diff of two factor snapshots, by factor_id (pure).

``changed`` lists factors present in both whose compared columns differ, with the old and new
``value_kgco2e`` and the names of the differing columns. Columns present in only one snapshot
(e.g. a column added to FACTOR_SCHEMA) are reported as such, not compared. ``source_file`` /
``source_row`` / ``snapshot_id`` are not compared (a row moving in its file is not a change).
"""

from __future__ import annotations

import polars as pl

IGNORED = ("snapshot_id", "source_file", "source_row")
MAX_LISTED = 1000


def _py(v):
    return v.isoformat() if hasattr(v, "isoformat") else v


def diff_snapshots(previous: pl.DataFrame | None, current: pl.DataFrame, *, max_listed: int = MAX_LISTED) -> dict:
    prev_id = previous["snapshot_id"][0] if previous is not None and "snapshot_id" in previous.columns \
        and previous.height else None
    if previous is None:
        previous = current.clear()
    cur_ids, prev_ids = set(current["factor_id"].to_list()), set(previous["factor_id"].to_list())
    added, removed = sorted(cur_ids - prev_ids), sorted(prev_ids - cur_ids)
    common_cols = [c for c in current.columns if c in previous.columns and c not in IGNORED and c != "factor_id"]
    changed: list[dict] = []
    if cur_ids & prev_ids:
        left = previous.select("factor_id", *common_cols)
        right = current.select("factor_id", *common_cols)
        for c in common_cols:  # a type change (e.g. schema evolution) is compared as text
            if left.schema[c] != right.schema[c]:
                left = left.with_columns(pl.col(c).cast(pl.String))
                right = right.with_columns(pl.col(c).cast(pl.String))
        joined = left.join(right, on="factor_id", how="inner", suffix="__new")
        flags = [pl.col(c).ne_missing(pl.col(f"{c}__new")).alias(c) for c in common_cols]
        diffs = joined.select("factor_id", *flags)
        if common_cols:
            diffs = diffs.filter(pl.any_horizontal(common_cols))
        else:
            diffs = diffs.clear()
        vals = joined.filter(pl.col("factor_id").is_in(diffs["factor_id"].implode()))
        by_id = {r["factor_id"]: r for r in vals.iter_rows(named=True)}
        for r in diffs.sort("factor_id").iter_rows(named=True):
            j = by_id[r["factor_id"]]
            fields = [c for c in common_cols if r[c]]
            entry = {"factor_id": r["factor_id"], "fields": fields}
            if "value_kgco2e" in common_cols:
                entry.update(old_value=_py(j["value_kgco2e"]), new_value=_py(j["value_kgco2e__new"]))
            entry["old"] = {c: _py(j[c]) for c in fields if c != "value_kgco2e"}
            entry["new"] = {c: _py(j[f"{c}__new"]) for c in fields if c != "value_kgco2e"}
            changed.append(entry)
    return {
        "previous_snapshot_id": prev_id,
        "snapshot_id": current["snapshot_id"][0] if "snapshot_id" in current.columns and current.height else None,
        "n_added": len(added), "n_removed": len(removed), "n_changed": len(changed),
        "n_unchanged": len(cur_ids & prev_ids) - len(changed),
        "added": added[:max_listed], "removed": removed[:max_listed], "changed": changed[:max_listed],
        "truncated": max(len(added), len(removed), len(changed)) > max_listed,
        "columns_added": [c for c in current.columns if c not in previous.columns],
        "columns_removed": [c for c in previous.columns if c not in current.columns],
    }
