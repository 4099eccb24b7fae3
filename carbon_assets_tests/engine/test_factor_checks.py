"""Pure snapshot checks (engine/factor_checks.py) and snapshot diff (engine/snapshot_diff.py)."""

import datetime as dt

import polars as pl
import pytest

from carbon_assets.engine import factor_checks, factors, snapshot_diff
from carbon_assets_tests.conftest import DATA

GRID = "DEFRA:7_400_4000_5"


@pytest.fixture(scope="module")
def mappings():
    return factors.discover_mappings(DATA / "mappings")


def _set(df: pl.DataFrame, fid: str, column: str, value) -> pl.DataFrame:
    return df.with_columns(pl.when(pl.col("factor_id") == fid).then(pl.lit(value, df.schema[column]))
                           .otherwise(pl.col(column)).alias(column))


def _by_name(outcomes) -> dict:
    return {o.name: o for o in outcomes}


def test_shipped_snapshot_passes_every_check(snapshot, mappings):
    out = _by_name(factor_checks.check_snapshot(snapshot.with_columns(pl.lit(1).alias("zz_extra")), mappings))
    assert list(out) == list(factor_checks.CHECK_NAMES) and all(o.passed for o in out.values())
    assert out["values_non_negative"].metadata["sources_allowing_negative"] == ["ademe_base_carbone",
                                                                              "ademe_base_carbone_xlsx"]


def test_negative_value_refused_unless_the_source_declares_it(snapshot, mappings):
    bad = _set(snapshot, GRID, "value_kgco2e", -1.0)
    o = factor_checks.check_non_negative(bad, factor_checks.Declarations.from_mappings(mappings))
    assert not o.passed
    m = o.metadata
    assert (m["factor_id"], m["source_file"], m["source_row"], m["column"], m["value"]) == \
        (GRID, "desnz_2024_flat_sample.xlsx", 19, "value_kgco2e", -1.0)
    assert m["source_column"]  # the publisher's column, from the mapping
    # the same negative in a source whose mapping allows it (Base Carbone credits): passes, counted
    credit = bad.with_columns(pl.when(pl.col("factor_id") == GRID).then(pl.lit("ademe_base_carbone"))
                              .otherwise(pl.col("source")).alias("source"))
    ok = factor_checks.check_non_negative(credit, factor_checks.Declarations.from_mappings(mappings))
    assert ok.passed and ok.metadata["allowed_negative_by_source"] == {"ademe_base_carbone": 1}
    # without declarations nothing is allowed
    assert not factor_checks.check_non_negative(credit).passed


def test_unparseable_unit_names_file_row_column(snapshot, mappings):
    o = _by_name(factor_checks.check_snapshot(_set(snapshot, GRID, "unit", "furlongs per blorp"), mappings))
    u = o["units_parseable"]
    assert not u.passed and u.metadata["n_failures"] == 1
    assert (u.metadata["source_file"], u.metadata["source_row"], u.metadata["column"]) == \
        ("desnz_2024_flat_sample.xlsx", 19, "unit")
    assert u.metadata["value"] == "furlongs per blorp"


def test_duplicate_ids_and_missing_fields(snapshot):
    dup = pl.concat([snapshot, snapshot.filter(pl.col("factor_id") == GRID)])
    o = factor_checks.check_unique_ids(dup)
    assert not o.passed and o.metadata["n_failures"] == 2 and o.metadata["factor_id"] == GRID
    missing = _set(snapshot, GRID, "namespace", None)
    r = factor_checks.check_required_fields(missing)
    assert not r.passed and (r.metadata["column"], r.metadata["source_row"]) == ("namespace", 19)
    blank = _set(snapshot, GRID, "unit", "  ")
    assert factor_checks.check_required_fields(blank).metadata["column"] == "unit"
    no_col = factor_checks.check_required_fields(snapshot.drop("source_row"))
    assert not no_col.passed and no_col.metadata["column"] == "source_row"


def test_failures_listed_are_capped(snapshot):
    many = snapshot.with_columns(pl.lit("nope-unit").alias("unit"))
    o = factor_checks.check_units(many)
    assert o.metadata["n_failures"] == snapshot.height
    assert len(o.metadata["failures"]) == min(snapshot.height, factor_checks.MAX_LISTED)


def _sid(df, sid):
    return df.with_columns(pl.lit(sid).alias("snapshot_id"))


def test_diff_first_snapshot_is_all_added(snapshot):
    d = snapshot_diff.diff_snapshots(None, _sid(snapshot, "fs-new"))
    assert d["previous_snapshot_id"] is None and d["snapshot_id"] == "fs-new"
    assert d["added"] == sorted(snapshot["factor_id"].to_list()) and d["n_changed"] == d["n_removed"] == 0


def test_diff_added_removed_changed(snapshot):
    prev = _sid(snapshot, "fs-old")
    cur = _set(snapshot, GRID, "value_kgco2e", 0.3)
    cur = _set(cur, "custom:ADEME-42513", "valid_to", dt.date(2023, 12, 31))
    cur = cur.filter(pl.col("factor_id") != "custom:ADEME-25775")
    cur = pl.concat([cur, _set(snapshot, GRID, "factor_id", "DEFRA:new").filter(pl.col("factor_id") == "DEFRA:new")])
    cur = _sid(cur.with_columns(pl.col("source_row") + 1, pl.lit("x").alias("zz_extra")), "fs-new")
    d = snapshot_diff.diff_snapshots(prev, cur)
    assert (d["previous_snapshot_id"], d["snapshot_id"]) == ("fs-old", "fs-new")
    assert d["added"] == ["DEFRA:new"] and d["removed"] == ["custom:ADEME-25775"]
    assert d["changed"] == [
        {"factor_id": GRID, "fields": ["value_kgco2e"], "old_value": 0.20705, "new_value": 0.3, "old": {}, "new": {}},
        {"factor_id": "custom:ADEME-42513", "fields": ["valid_to"], "old_value": 0.052, "new_value": 0.052,
         "old": {"valid_to": "2022-12-31"}, "new": {"valid_to": "2023-12-31"}},
    ]
    assert d["n_unchanged"] == snapshot.height - 1 - 2 and d["columns_added"] == ["zz_extra"]
    assert not d["truncated"]
    assert snapshot_diff.diff_snapshots(prev, _sid(snapshot, "fs-same"))["n_changed"] == 0


def test_diff_is_capped(snapshot):
    d = snapshot_diff.diff_snapshots(None, _sid(snapshot, "x"), max_listed=3)
    assert d["n_added"] == snapshot.height and len(d["added"]) == 3 and d["truncated"]
