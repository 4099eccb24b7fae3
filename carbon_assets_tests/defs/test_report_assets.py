"""The report assets in the tenant-year job: views, ESRS, trajectory check, calculations record, exports."""

import json

import dagster as dg
import polars as pl
import pytest

from carbon_assets import cli, runner
from carbon_assets.defs.report_assets import export_path
from carbon_assets.engine import duckdb_views
from carbon_assets.engine.params import CalcParams

PARAMS = CalcParams(mc_samples=2000)


def _slice(lake, table: str, tenant: str, year: str) -> pl.DataFrame:
    return pl.read_delta(str(lake / table)).filter((pl.col("tenant") == tenant) & (pl.col("year") == year))


def _check(res, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in res.get_asset_check_evaluations() if e.check_name == name)


def test_two_years_views_esrs_trajectory_and_exports(factors_ready, capsys):
    tmp, d, inst = factors_ready
    lake, exports = tmp / "lake", tmp / "exports"
    first = runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS)
    assert _check(first, "yoy_change_within_threshold").passed  # no earlier year
    second = runner.materialize_tenant_year(d, inst, "acme-fr", "2025", PARAMS)
    assert second.success

    views = _slice(lake, "report_views", "acme-fr", "2024")
    scope2 = {r["basis"]: r["deterministic_kgco2e"] for r in views.filter(
        (pl.col("view") == "scope") & (pl.col("key") == "2")).iter_rows(named=True)}
    # 120,000 kWh x ADEME 0.052 location-based; the 60 MWh hydro GO at 0 + 60,000 kWh at the grid factor
    # (no residual mix shipped: the GHG Protocol's last resort) market-based
    assert scope2 == {"location": pytest.approx(6240.0), "market": pytest.approx(3120.0)}
    inv_total = _slice(lake, "inventory_report", "acme-fr", "2024").filter(pl.col("scope") == "total")
    loc_total = views.filter((pl.col("view") == "total") & (pl.col("basis") == "location"))
    assert loc_total["deterministic_kgco2e"][0] == pytest.approx(inv_total["deterministic_kgco2e"][0], rel=1e-12)
    assert loc_total["deterministic_kgco2e"][0] == pytest.approx(42574.19, abs=0.01)
    postes = views.filter((pl.col("view") == "poste") & (pl.col("basis") == "location"))
    assert postes["deterministic_kgco2e"].sum() == pytest.approx(loc_total["deterministic_kgco2e"][0], rel=1e-12)

    esrs = _slice(lake, "esrs_e1_6", "acme-fr", "2024")
    by_el = {(r["element"], r["member"]): r["value_tco2e"] for r in esrs.iter_rows(named=True)}
    assert by_el[("esrs:GrossLocationBasedScope2GreenhouseGasEmissions", None)] == pytest.approx(6.24)
    assert by_el[("esrs:GrossMarketBasedScope2GreenhouseGasEmissions", None)] == pytest.approx(3.12)

    # acme-fr moves 42.57 t -> 38.16 t (-10.4%): beyond the default 5% threshold, a WARN, not a failure
    check = _check(second, "yoy_change_within_threshold")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    traj = _slice(lake, "trajectory", "acme-fr", "2025").sort("point_year")
    assert traj["point_year"].to_list() == ["2024", "2025"]
    assert traj["pct_change_deterministic"][1] == pytest.approx(38159.87 / 42574.19 - 1, abs=1e-6)
    assert traj["delta_p5_kgco2e"][1] < traj["delta_mean_kgco2e"][1] < traj["delta_p95_kgco2e"][1] < 0

    # the calculations record names the signature of every recorded output, and exports carry its provenance
    calc = _slice(lake, "calculations", "acme-fr", "2025")
    sig = _slice(lake, "inventory_report", "acme-fr", "2025")["signature"][0]
    assert calc["signature"].to_list() == [sig]
    folder = export_path(exports, "acme-fr", "2025").parent
    assert sorted(p.name for p in folder.iterdir()) == ["bilan.json", "esg.json", "inventory.json", "manifest.json",
                                                       "provenance.json", "report.html", "strategy.json"]
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov == json.loads(calc["provenance"][0])
    bilan = json.loads((folder / "bilan.json").read_text())
    assert bilan["signature"] == sig
    assert bilan["summary"]["total_deterministic_kgCO2e"] == pytest.approx(38159.87, abs=0.01)
    strategy = json.loads((folder / "strategy.json").read_text())
    assert [p["year"] for p in strategy["trajectory"]] == ["2024", "2025"]

    # DuckDB views over the lake, and the CLI that queries them
    con = duckdb_views.connect(str(lake))
    (n,) = con.execute("SELECT count(*) FROM inventory_by_poste WHERE tenant = 'acme-fr' AND year = '2024'"
                       ).fetchone()
    assert n == views.filter(pl.col("view") == "poste").height
    query = ("SELECT year, location_kgco2e, market_kgco2e FROM scope2_location_vs_market "
             "WHERE tenant = 'acme-fr' AND year = '2024'")
    assert cli.main(["sql", "--lake", str(lake), query]) == 0
    out = capsys.readouterr().out
    assert "6240" in out and "3120" in out


def test_report_for_a_partition_without_upstream_data_names_what_is_missing(factors_ready):
    tmp, d, inst = factors_ready
    runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS)
    inst.add_dynamic_partitions("tenants", ["globex-uk"])
    job = dg.define_asset_job("reports_only", selection=["inventory_report"]).resolve(
        asset_graph=d.resolve_asset_graph())
    res = job.execute_in_process(instance=inst, partition_key=dg.MultiPartitionKey(
        {"tenant": "globex-uk", "year": "2024"}), raise_on_error=False,
        resources=d.resources)  # upstream emission_distributions exists as a table, not for this partition
    assert not res.success
    failure = next(e for e in res.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "missing upstream data" in message and "emission_distributions" in message
    assert "tenant=globex-uk" in message and "year=2024" in message
    assert not export_path(tmp / "exports", "globex-uk", "2024").exists()  # nothing published
