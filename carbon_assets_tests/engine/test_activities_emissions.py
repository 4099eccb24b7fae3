import datetime as dt

import polars as pl
import pytest

from carbon_assets.engine import activities, emissions
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.params import CalcParams


@pytest.fixture(scope="module")
def vocab(data_dir):
    return activities.load_vocabulary(data_dir / "activity_keys.yaml")


@pytest.fixture(scope="module")
def mapping(data_dir):
    return activities.ColumnMapping.load(data_dir / "tenants" / "default_mapping.yaml")


def _csv(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return (name, p)


def _line(**kw) -> dict:
    base = {c: None for c in ACTIVITY_SCHEMA}
    base.update(tenant="t", year="2024", activity_id="a1", date=dt.date(2024, 6, 30), source_file="f.csv",
                source_sha256="0" * 64, source_row=2)
    base.update(kw)
    return base


def _compute(lines: list[dict], snapshot, **params) -> pl.DataFrame:
    acts = pl.DataFrame(lines, schema=ACTIVITY_SCHEMA, orient="row")
    return emissions.compute(acts, snapshot, CalcParams(**params))


def test_rows_accounted_for_per_file(tmp_path, mapping, vocab):
    f1 = _csv(tmp_path, "a.csv", "date,activity_key,quantity,unit\n2024-01-31,electricity.grid,1000,kWh\n"
                                 "2024-02-29,electricity.grid,,kWh\n2024-03-31,fuel.diesel,12.5,litres\n"
                                 "\n2025-01-01,fuel.diesel,3,litres\n")
    f2 = _csv(tmp_path, "b.csv", "date,activity,qty,uom\n31/03/2024,water.supply,4,m3\n"
                                 "2024-04-01,no.such.key,4,m3\n2024-04-02,water.supply,4,parsecs-ish\n")
    raw = activities.read_raw([f1, f2], "t", "2024")
    acts, rej = activities.normalise(raw, mapping, vocab)
    for name, rows_read in (("a.csv", 4), ("b.csv", 3)):  # the blank line is not a row
        n_ok = acts.filter(pl.col("source_file") == name).height
        n_bad = rej.filter(pl.col("source_file") == name).height
        assert n_ok + n_bad == rows_read == raw.filter(pl.col("source_file") == name).height
    got = {(r["source_file"], r["row"], r["column"], r["value"]) for r in rej.to_dicts()}
    assert got == {("a.csv", 3, "quantity", None), ("a.csv", 6, "date", "2025-01-01"),
                   ("b.csv", 3, "activity", "no.such.key"), ("b.csv", 4, "uom", "parsecs-ish")}
    assert acts.filter(pl.col("source_file") == "b.csv")["date"][0] == dt.date(2024, 3, 31)
    assert acts["quantity"].to_list() == [1000.0, 12.5, 4.0]


def test_missing_required_column_rejects_every_row(tmp_path, mapping, vocab):
    f = _csv(tmp_path, "c.csv", "date,activity_key,unit\n2024-01-31,electricity.grid,kWh\n2024-02-01,fuel.diesel,L\n")
    acts, rej = activities.normalise(activities.read_raw([f], "t", "2024"), mapping, vocab)
    assert acts.height == 0 and rej.height == 2
    assert set(rej["message"].str.contains("missing column for 'quantity'")) == {True}


def test_uk_grid_hand_checked(snapshot):
    em = _compute([_line(activity_key="electricity.grid", quantity=1000.0, unit="kWh", scope="2")], snapshot,
                  primary_fe_namespace="DEFRA")
    row = em.row(0, named=True)
    assert row["match_status"] == "matched" and row["factor_id"] == "DEFRA:7_400_4000_5"
    assert row["em_kgco2e"] == pytest.approx(207.05, rel=1e-12)  # 1,000 kWh x 0.20705 kgCO2e/kWh


def test_unit_conversion_in_emissions(snapshot):
    em = _compute([
        _line(activity_id="a", activity_key="electricity.grid", quantity=250.0, unit="MWh", region="GB"),
        _line(activity_id="b", activity_key="fuel.diesel", quantity=3.5, unit="m**3", region="GB"),
        _line(activity_id="c", activity_key="fuel.natural_gas", quantity=412000.0, unit="kWh (Gross CV)", region="GB"),
    ], snapshot)
    got = dict(em.select("activity_id", "em_kgco2e").rows())
    assert got["a"] == pytest.approx(250 * 1000 * 0.20705, rel=1e-12)  # 51,762.5 kg
    assert got["b"] == pytest.approx(3500 * 2.51279, rel=1e-12)  # 8,794.765 kg
    assert got["c"] == pytest.approx(412000 * 0.1829, rel=1e-12)
    assert em.filter(pl.col("activity_id") == "b")["conversion"][0] == 1000.0


def test_dimension_mismatch_is_an_error_row(snapshot):
    em = _compute([_line(activity_key="electricity.grid", quantity=1500.0, unit="L", region="GB")], snapshot)
    row = em.row(0, named=True)
    assert row["match_status"] == "unit_mismatch" and row["em_kgco2e"] is None
    assert "cannot convert 'L'" in row["match_note"] and row["factor_id"] == "DEFRA:7_400_4000_5"


def test_missing_factor_is_flagged_not_dropped(snapshot):
    em = _compute([_line(activity_key="travel.taxi", quantity=85.0, unit="km"),
                   _line(activity_id="x", requested_factor_id="EPA:nope", quantity=1.0, unit="kWh")], snapshot)
    assert em.height == 2
    assert em["match_status"].to_list() == ["no_factor", "no_factor"]
    assert em["em_kgco2e"].null_count() == 2


def test_namespace_priority_and_region(snapshot):
    line = _line(activity_key="electricity.grid", quantity=1000.0, unit="kWh")
    assert _compute([line], snapshot, primary_fe_namespace="DEFRA")["factor_id"][0] == "DEFRA:7_400_4000_5"
    assert _compute([line], snapshot, primary_fe_namespace="custom")["factor_id"][0] == "custom:ADEME-42513"
    fr = _compute([{**line, "region": "FR"}], snapshot, primary_fe_namespace="DEFRA")
    assert fr["factor_id"][0] == "custom:ADEME-42513" and fr["em_kgco2e"][0] == pytest.approx(52.0)


def test_year_fallback_is_declared_and_recorded(snapshot):
    em = _compute([_line(year="2025", date=dt.date(2025, 5, 1), activity_key="electricity.grid", quantity=1.0,
                         unit="kWh", region="GB")], snapshot)
    assert em["match_status"][0] == "matched"
    assert "year fallback: factor valid to 2024-12-31 used for 2025" in em["match_note"][0]
    no_fallback = snapshot.with_columns(pl.lit("none").alias("year_fallback"))
    em = _compute([_line(year="2025", activity_key="electricity.grid", quantity=1.0, unit="kWh", region="GB")],
                  no_fallback)
    assert em["match_status"][0] == "out_of_validity" and em["em_kgco2e"][0] is None


def test_selection_skips_candidates_whose_unit_does_not_convert(snapshot):
    """Two factors for one key: per km (higher value) and per t.km. A t.km line must use the t.km one."""
    per_km = snapshot.filter(pl.col("factor_id") == "DEFRA:27_304_3140_14").with_columns(
        pl.lit("DEFRA:27_304_3140_4").alias("factor_id"), pl.lit("km").alias("unit"),
        pl.lit(0.87296).alias("value_kgco2e"))
    both = pl.concat([snapshot, per_km])
    em = _compute([_line(activity_key="freight.hgv.average", quantity=1000.0, unit="t*km")], both)
    assert em["factor_id"][0] == "DEFRA:27_304_3140_14" and em["em_kgco2e"][0] == pytest.approx(97.52)
    em = _compute([_line(activity_key="freight.hgv.average", quantity=10.0, unit="km")], both)
    assert em["factor_id"][0] == "DEFRA:27_304_3140_4" and em["em_kgco2e"][0] == pytest.approx(8.7296)
    em = _compute([_line(activity_key="freight.hgv.average", quantity=10.0, unit="kWh")], both)
    assert em["match_status"][0] == "unit_mismatch" and "cannot convert 'kWh'" in em["match_note"][0]
