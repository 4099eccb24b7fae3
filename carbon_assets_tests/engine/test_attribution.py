"""Change attribution: Shapley waterfall over activity data, factor release, GWP set and method."""

import argparse
import datetime as dt
import io
import itertools
import json
import math

import polars as pl
import pytest

from carbon_assets import attribution_cli
from carbon_assets.engine import activities, attribution, delta_io, emissions, factors
from carbon_assets.engine.activities import ACTIVITY_SCHEMA
from carbon_assets.engine.attribution import ACTIVITY, FACTORS, GWP, METHOD, YEAR, CalcInputs
from carbon_assets.engine.params import CalcParams

# ADEME 25775, diesel B7: 3.1 kgCO2e/L published under AR5; under AR6 re-based from its gas split
B7_AR5 = 3.1
B7_AR6 = 3.04 + 0.00622 / 30 * 29.8 + 0.0537 / 265 * 273  # 3.1015 (test_factors.py)
DEFRA_DIESEL = 2.51279  # DEFRA 1_101_1011_8, unsplit CH4: kept as published under AR6


@pytest.fixture(scope="module")
def snap(data_dir):
    """Every shipped namespace, as the demo's factor_snapshot asset builds it."""
    nss = sorted({m.namespace for m in factors.discover_mappings(data_dir / "mappings")})
    return factors.build_snapshot([factors.read_namespace(data_dir / "mappings", data_dir / "factors", ns)[0]
                                   for ns in nss])


@pytest.fixture(scope="module")
def acme(data_dir):
    vocab = activities.load_vocabulary(data_dir / "activity_keys.yaml")
    mapping = activities.ColumnMapping.load(data_dir / "tenants" / "default_mapping.yaml")
    out = {}
    for year in ("2024", "2025"):
        files = sorted((p.name, p) for p in (data_dir / "inbox" / "acme-fr" / year).iterdir())
        out[year] = activities.ingest_files(files, "acme-fr", year, mapping, vocab)[0]
    return out


def _acts(*lines: dict) -> pl.DataFrame:
    rows = []
    for i, kw in enumerate(lines):
        base = {c: None for c in ACTIVITY_SCHEMA}
        year = kw.get("year", "2024")
        base.update(tenant="t", year=year, activity_id=f"a{i}", date=dt.date(int(year), 6, 30), source_file="f.csv",
                    source_sha256="0" * 64, source_row=i + 2)
        base.update(kw)
        rows.append(base)
    return pl.DataFrame(rows, schema=ACTIVITY_SCHEMA, orient="row")


def _revised(snap: pl.DataFrame, fid: str, plus: float) -> pl.DataFrame:
    """A release where factor ``fid`` went up by ``plus`` kg per unit (its CO2 and its total alike)."""
    hit = pl.col("factor_id") == fid
    return snap.with_columns(pl.when(hit).then(pl.col(c) + plus).otherwise(pl.col(c)).alias(c)
                             for c in ("value_kgco2e", "co2_fossil"))


def _steps(frame: pl.DataFrame) -> dict[str, float]:
    return dict(frame.select("step", "delta_kgco2e").rows())


def _only(frame: pl.DataFrame, driver: str, change: float) -> None:
    """The whole change lands on ``driver`` and the other drivers get exactly 0."""
    d = _steps(frame)
    assert d[driver] == pytest.approx(change, rel=1e-12)
    assert [d[x] for x in (ACTIVITY, FACTORS, GWP, METHOD) if x != driver] == [0.0, 0.0, 0.0]
    assert frame.filter(pl.col("step") == driver)["share_of_change"][0] == pytest.approx(1.0, rel=1e-12)


def test_gwp_set_only(snap):
    acts = _acts({"activity_key": "fuel.diesel", "quantity": 100.0, "unit": "L", "region": "FR"})
    a = CalcInputs(acts, snap, CalcParams(default_gwp="AR5"), label="AR5")
    b = CalcInputs(acts, snap, CalcParams(default_gwp="AR6"), label="AR6")
    w = attribution.waterfall(a, b)
    assert w["step"].to_list() == ["start", ACTIVITY, FACTORS, GWP, METHOD, "end"]
    assert w.schema == pl.Schema(attribution.WATERFALL_SCHEMA)
    start, end = w.row(0, named=True), w.row(5, named=True)
    assert start["cumulative_kgco2e"] == pytest.approx(100 * B7_AR5, rel=1e-12)  # 310 kg
    assert end["cumulative_kgco2e"] == pytest.approx(100 * B7_AR6, rel=1e-12)  # 310.15 kg
    _only(w, GWP, 100 * (B7_AR6 - B7_AR5))
    assert 100 * (B7_AR6 - B7_AR5) == pytest.approx(0.15, abs=0.005)
    assert w.filter(pl.col("step") == GWP)["detail"][0] == "AR5 -> AR6"
    assert w.filter(pl.col("step") == FACTORS)["detail"][0].startswith("unchanged")


def test_factor_release_only(snap):
    acts = _acts({"activity_key": "fuel.diesel", "quantity": 100.0, "unit": "L", "region": "FR"})
    old = snap.with_columns(pl.lit("fs-old").alias("snapshot_id"))
    new = _revised(snap, "ADEME:25775", 0.1).with_columns(pl.lit("fs-new").alias("snapshot_id"))
    w = attribution.waterfall(CalcInputs(acts, old, CalcParams()), CalcInputs(acts, new, CalcParams()))
    _only(w, FACTORS, 10.0)  # 100 L x 0.1 kg/L
    assert w.filter(pl.col("step") == FACTORS)["detail"][0] == "snapshot fs-old -> snapshot fs-new"


def test_doubled_quantities_are_all_activity_data(acme, snap):
    a = CalcInputs(acme["2024"], snap, CalcParams())
    b = CalcInputs(acme["2024"].with_columns(pl.col("quantity") * 2), snap, CalcParams())
    w = attribution.waterfall(a, b)
    total_a = w["cumulative_kgco2e"][0]
    assert total_a == pytest.approx(42_574.19, abs=0.01)  # the demo's acme-fr 2024 total
    _only(w, ACTIVITY, total_a)
    assert w["cumulative_kgco2e"][-1] == pytest.approx(2 * total_a, rel=1e-12)


@pytest.mark.parametrize("change", ["primary_namespace", "tie_break"])
def test_a_method_change_that_flips_the_selected_factor(snap, change):
    """A diesel line without region: ADEME 25775 (FR) and DEFRA 1_101_1011_8 (GB) both qualify."""
    acts = _acts({"activity_key": "fuel.diesel", "quantity": 100.0, "unit": "L"})
    if change == "primary_namespace":
        a = CalcInputs(acts, snap, CalcParams(primary_fe_namespace="ADEME"))
        b = CalcInputs(acts, snap, CalcParams(primary_fe_namespace="DEFRA"))
    else:
        a = CalcInputs(acts, snap, CalcParams(), tie_break=("highest_value", "factor_id"))
        b = CalcInputs(acts, snap, CalcParams(), tie_break=("lowest_value", "factor_id"))
    picked = [emissions.compute(acts, snap, c.params, c.tie_break)["factor_id"][0] for c in (a, b)]
    assert picked == ["ADEME:25775", "DEFRA:1_101_1011_8"]
    w = attribution.waterfall(a, b)
    _only(w, METHOD, 100 * (DEFRA_DIESEL - B7_AR6))  # 251.279 - 310.15 = -58.87 kg
    assert "->" in w.filter(pl.col("step") == METHOD)["detail"][0]


def test_interaction_is_split_equally_by_hand(snap):
    """100 L at AR5 (3.1) -> 200 L at AR6 (3.1015): v(0) = 310, v(act) = 620, v(gwp) = 310.15, v(both) = 620.3.
    activity = (310 + 310.15) / 2 = 310.075, GWP = (0.15 + 0.3) / 2 = 0.225; sequential substitution would
    give 310 + 0.3 or 310.15 + 0.15 depending on the order."""
    diesel = {"activity_key": "fuel.diesel", "unit": "L", "region": "FR"}
    a = CalcInputs(_acts({**diesel, "quantity": 100.0}), snap, CalcParams(default_gwp="AR5"))
    b = CalcInputs(_acts({**diesel, "quantity": 200.0}), snap, CalcParams(default_gwp="AR6"))
    d = _steps(attribution.waterfall(a, b))
    assert d[ACTIVITY] == pytest.approx((100 * B7_AR5 + 100 * B7_AR6) / 2, rel=1e-12)
    assert d[GWP] == pytest.approx((100 * (B7_AR6 - B7_AR5) + 200 * (B7_AR6 - B7_AR5)) / 2, rel=1e-12)
    assert d[ACTIVITY] == pytest.approx(310.075, abs=0.01) and d[GWP] == pytest.approx(0.225, abs=0.005)
    assert d[FACTORS] == d[METHOD] == 0.0


def test_combined_change_sums_exactly_and_is_the_average_of_every_order(acme, snap):
    acts_b = pl.concat([acme["2025"], _acts({"tenant": "acme-fr", "year": "2025", "activity_id": "extra",
                                                 "activity_key": "fuel.diesel", "quantity": 250.0, "unit": "L"})])
    a = CalcInputs(acme["2024"], snap, CalcParams(default_gwp="AR5"), label="2024")
    b = CalcInputs(acts_b, _revised(snap, "ADEME:25775", 0.1), CalcParams(primary_fe_namespace="DEFRA"),
                   label="2025")
    w = attribution.waterfall(a, b)
    assert attribution.waterfall(a, b).write_ipc(None).getvalue() == w.write_ipc(None).getvalue()  # byte-identical
    d = _steps(w)
    total_a, total_b = w["cumulative_kgco2e"][0], w["cumulative_kgco2e"][-1]
    drivers = [ACTIVITY, FACTORS, GWP, METHOD]
    assert all(d[x] != 0.0 for x in drivers)  # every driver moves the total here
    assert math.fsum(d[x] for x in drivers) == pytest.approx(total_b - total_a, rel=1e-12, abs=1e-9)
    assert w["cumulative_kgco2e"][-2] == pytest.approx(total_b, rel=1e-12)
    assert math.fsum(w["share_of_change"][1:5].to_list()) == pytest.approx(1.0, rel=1e-12)
    # totals of the corners: the real engine on A's and on B's inputs
    assert total_a == pytest.approx(emissions.compute(a.activities, snap, a.params)["em_kgco2e"].sum(), rel=1e-12)
    v = attribution.coalition_totals(a, b)
    assert len(v) == 16 and v[frozenset(drivers)] == pytest.approx(total_b, rel=1e-15)
    # sequential substitution in each of the 24 orders: the orders disagree, their average is the Shapley value
    per_order = {x: [] for x in drivers}
    for order in itertools.permutations(drivers):
        done: frozenset[str] = frozenset()
        for x in order:
            per_order[x].append(v[done | {x}] - v[done])
            done |= {x}
    # the extra region-less diesel line only switches factor under B's method: substitution credits the
    # method with 0 (activity data not yet switched) down to 250 L x (2.51279 - (3.1015 + 0.1)) (B's release
    # and GWP set already in), depending on the order
    assert min(per_order[METHOD]) == pytest.approx(250 * (DEFRA_DIESEL - (B7_AR6 + 0.1)), rel=1e-9)
    assert max(per_order[METHOD]) == 0.0
    for x in drivers:
        assert d[x] == pytest.approx(sum(per_order[x]) / 24, rel=1e-12, abs=1e-9)
    # order-free: swapping the roles of A and B flips every sign
    back = _steps(attribution.waterfall(b, a))
    for x in drivers:
        assert back[x] == pytest.approx(-d[x], rel=1e-12, abs=1e-9)


def test_two_years_split_year_driver_by_hand(snap):
    """A grid factor edition valid from 2025 (0.18) next to DEFRA's 2024 one (0.20705, year fallback):
    1000 kWh in 2024 -> 1100 kWh in 2025. Without split, the edition change is activity data (-9.05);
    with it: v(0) = 207.05, v(act) = 227.755, v(year) = 180, v(both) = 198."""
    grid = snap.filter(pl.col("factor_id") == "DEFRA:7_400_4000_5").with_columns(
        pl.lit("DEFRA:grid-2025").alias("factor_id"), pl.lit(0.18).alias("value_kgco2e"),
        pl.lit(dt.date(2025, 1, 1)).alias("valid_from"), pl.lit(dt.date(2025, 12, 31)).alias("valid_to"))
    both = pl.concat([snap, grid]).sort("factor_id")
    line = {"activity_key": "electricity.grid", "unit": "kWh", "region": "GB"}
    a = CalcInputs(_acts({**line, "quantity": 1000.0}), both, CalcParams())
    b = CalcInputs(_acts({**line, "quantity": 1100.0, "year": "2025"}), both, CalcParams())
    assert emissions.compute(b.activities, both, b.params)["factor_id"][0] == "DEFRA:grid-2025"
    plain = _steps(attribution.waterfall(a, b))
    assert plain[ACTIVITY] == pytest.approx(198.0 - 207.05, rel=1e-12)
    assert plain[FACTORS] == plain[GWP] == plain[METHOD] == 0.0
    split = attribution.waterfall(a, b, split_year=True)
    assert split["step"].to_list() == ["start", ACTIVITY, FACTORS, GWP, METHOD, YEAR, "end"]
    d = _steps(split)
    assert d[ACTIVITY] == pytest.approx(((227.755 - 207.05) + (198.0 - 180.0)) / 2, rel=1e-12)  # 19.3525
    assert d[YEAR] == pytest.approx(((180.0 - 207.05) + (198.0 - 227.755)) / 2, rel=1e-12)  # -28.4025
    assert split.filter(pl.col("step") == YEAR)["detail"][0] == "2024 -> 2025"
    # within one year the driver is 0 and the rest is as without it
    same = _steps(attribution.waterfall(a, CalcInputs(a.activities, both, CalcParams(default_gwp="AR5")),
                                        split_year=True))
    assert same[YEAR] == 0.0


def test_no_change_has_null_shares_and_chart(snap):
    acts = _acts({"activity_key": "fuel.diesel", "quantity": 1.0, "unit": "L", "region": "FR"})
    c = CalcInputs(acts, snap, CalcParams())
    w = attribution.waterfall(c, c)
    assert w["share_of_change"].null_count() == w.height and _steps(w)["end"] == 0.0
    assert attribution.render_waterfall_png(w)[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ the CLI over a lake


@pytest.fixture
def lake(tmp_path, acme, snap):
    """acme-fr 2024 and 2025 activities and emissions against snapshot v0; v1 revises diesel B7 by +0.1."""
    root = str(tmp_path / "lake")
    v0 = snap.with_columns(pl.lit("fs-v0").alias("snapshot_id"))
    assert delta_io.write_slice(v0, f"{root}/factor_snapshot", {}) == 0
    for year, acts in acme.items():
        where = {"tenant": "acme-fr", "year": year}
        delta_io.write_slice(acts, f"{root}/activities", where)
        em = emissions.compute(acts, v0, CalcParams()).with_columns(pl.lit("fs-v0").alias("snapshot_id"))
        delta_io.write_slice(em, f"{root}/emissions", where)
    v1 = _revised(snap, "ADEME:25775", 0.1).with_columns(pl.lit("fs-v1").alias("snapshot_id"))
    assert delta_io.write_slice(v1, f"{root}/factor_snapshot", {}) == 1
    return root


def _cli(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="carbon-assets")
    attribution_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    return args.func(args, out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_two_years_from_the_lake(lake, tmp_path):
    code, out, _ = _cli(["attribute", "--tenant", "acme-fr", "--year-a", "2024", "--year-b", "2025", "--lake", lake,
                         "--json", "--png", str(tmp_path / "w.png")])
    assert code == 0
    doc = json.loads(out)
    # the emissions recorded fs-v0, so v0 is used although v1 is newer
    assert (doc["a"]["snapshot_version"], doc["a"]["snapshot_id"]) == (0, "fs-v0")
    assert "used by the emissions" in doc["b"]["snapshot_chosen"]
    rows = {r["step"]: r for r in doc["waterfall"]}
    assert rows["start"]["cumulative_kgco2e"] == pytest.approx(42_574.19, abs=0.01)
    assert rows["end"]["cumulative_kgco2e"] == pytest.approx(38_159.87, abs=0.01)
    assert rows[ACTIVITY]["delta_kgco2e"] == pytest.approx(38_159.868311761 - 42_574.18776138365, rel=1e-9)
    assert rows[FACTORS]["delta_kgco2e"] == rows[GWP]["delta_kgco2e"] == rows[METHOD]["delta_kgco2e"] == 0.0
    assert (tmp_path / "w.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_same_year_new_release_and_gwp(lake, acme):
    code, out, _ = _cli(["attribute", "--tenant", "acme-fr", "--year-a", "2024", "--lake", lake,
                         "--snapshot-version-b", "1", "--gwp-a", "AR5"])
    assert code == 0
    assert "B: acme-fr 2024, snapshot v1, AR6" in out
    litres = acme["2024"].filter(pl.col("activity_key") == "fuel.diesel")["quantity"].sum()
    assert litres == 4200.0  # energie_flotte_2024.csv
    line = next(ln for ln in out.splitlines() if ln.startswith(FACTORS))
    assert f"{litres * 0.1 / 1000:+,.3f}" in line  # 4,200 L x 0.1 kg/L = +0.420 t
    assert "fs-v0 -> snapshot fs-v1" in line


@pytest.mark.parametrize("argv, message", [
    (["--year-a", "2019"], "no activity lines for acme-fr 2019"),
    (["--year-a", "2024", "--snapshot-version-b", "7"], "at Delta version 7"),
    (["--year-a", "2024", "--gwp-b", "AR4"], "default_gwp='AR4'"),
    (["--year-a", "2024", "--tie-break-b", "highest_value"], "ending with factor_id"),
])
def test_cli_invalid_requests_exit_2(lake, argv, message):
    code, out, err = _cli(["attribute", "--tenant", "acme-fr", "--lake", lake, *argv])
    assert code == 2 and out == "" and message in err


def test_cli_without_a_lake(tmp_path):
    code, _, err = _cli(["attribute", "--tenant", "acme-fr", "--year-a", "2024", "--lake", str(tmp_path / "none")])
    assert code == 2 and "no Delta table" in err and "activities" in err


@pytest.fixture
def recorded(lake, data_dir):
    """Two recorded calculations of acme-fr 2024 in the calculations table (as engine/calculations.py writes
    them): A under AR5 against snapshot v0, B under AR6 against v1."""
    from carbon_assets.engine import calculation, calculations, lineage

    files = sorted((p.name, p) for p in (data_dir / "inbox" / "acme-fr" / "2024").iterdir())
    raw = activities.read_raw(files, "acme-fr", "2024")
    where = {"tenant": "acme-fr", "year": "2024"}
    raw_version = delta_io.write_slice(raw, f"{lake}/raw_activities", where)
    raw = delta_io.read_slices(f"{lake}/raw_activities", {k: [v] for k, v in where.items()}, version=raw_version)
    entries = calculations.config_entries(calculation.ConfigFiles(data_dir, "acme-fr"))
    rows, sigs = [], {}
    for side, gwp, version in (("a", "AR5", 0), ("b", "AR6", 1)):
        snap_v = delta_io.read_slices(f"{lake}/factor_snapshot", version=version)
        sigs[side] = "sha256-" + side * 64
        rows.append(calculations.record(
            tenant="acme-fr", year="2024", signature=sigs[side], parameters=CalcParams(default_gwp=gwp).signature_dict(),
            code_version="test", inputs=lineage.input_files(raw),
            raw_activities=calculations.TableVersion(lineage.frame_sha256(raw), raw_version),
            factor_snapshot_id=snap_v["snapshot_id"][0],
            factor_snapshot=calculations.TableVersion(lineage.frame_sha256(snap_v), version),
            config_files=entries, outputs={}, mc_backend=None))
    delta_io.write_slice(calculations.to_frame(rows), f"{lake}/calculations", where)
    return sigs


def test_cli_two_recorded_signatures(lake, recorded, acme, snap):
    code, out, err = _cli(["attribute", "--lake", lake, "--signature-a", recorded["a"], "--signature-b", recorded["b"],
                           "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["a"]["signature"], doc["a"]["default_gwp"], doc["a"]["snapshot_id"]) == (recorded["a"], "AR5", "fs-v0")
    assert (doc["b"]["default_gwp"], doc["b"]["snapshot_id"], doc["b"]["snapshot_version"]) == ("AR6", "fs-v1", 1)
    rows = {r["step"]: r for r in doc["waterfall"]}
    v0 = snap.with_columns(pl.lit("fs-v0").alias("snapshot_id"))
    ar5, ar6 = (emissions.compute(acme["2024"], v0, CalcParams(default_gwp=g))["em_kgco2e"].sum() for g in ("AR5", "AR6"))
    assert rows["start"]["cumulative_kgco2e"] == pytest.approx(ar5, rel=1e-12)  # the recorded inputs, rebuilt
    assert rows[FACTORS]["delta_kgco2e"] == pytest.approx(4200 * 0.1, rel=1e-9)  # diesel B7 +0.1 kg/L
    assert rows[GWP]["delta_kgco2e"] == pytest.approx(ar6 - ar5, rel=1e-9)
    assert rows[ACTIVITY]["delta_kgco2e"] == rows[METHOD]["delta_kgco2e"] == 0.0
    # a flag overrides the recorded parameters of its side: B under AR5 leaves only the release
    code, out, _ = _cli(["attribute", "--lake", lake, "--signature-a", recorded["a"], "--signature-b", recorded["b"],
                         "--gwp-b", "AR5", "--json"])
    rows = {r["step"]: r for r in json.loads(out)["waterfall"]}
    assert rows[GWP]["delta_kgco2e"] == 0.0 and rows[FACTORS]["delta_kgco2e"] == pytest.approx(420.0, rel=1e-9)


def test_cli_unknown_signature_exits_2(lake, recorded):
    code, _, err = _cli(["attribute", "--lake", lake, "--signature-a", "sha256-" + "c" * 64, "--signature-b",
                         recorded["b"]])
    assert code == 2 and "unknown signature" in err
