import json

import dagster as dg
import polars as pl
import pytest

from carbon_assets import runner
from carbon_assets.engine import lineage
from carbon_assets.engine.params import CalcParams

PARAMS = CalcParams(mc_samples=2000)
TABLES = ["raw_activities", "activities", "activity_rejects", "emissions", "emission_distributions",
          "sensitivity", "inventory_report"]


def _data_version(instance, asset: str, partition: str) -> str:
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1)
    return result.records[0].asset_materialization.tags["dagster/data_version"]


def _slice(lake, table: str, tenant: str, year: str) -> pl.DataFrame:
    return pl.read_delta(str(lake / table)).filter((pl.col("tenant") == tenant) & (pl.col("year") == year))


def test_tenant_year_into_a_temporary_lake(factors_ready):
    tmp, d, inst = factors_ready
    res = runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS)
    assert res.success
    lake = tmp / "lake"
    raw, acts, rej = (_slice(lake, t, "globex-uk", "2024") for t in ("raw_activities", "activities", "activity_rejects"))
    assert raw.height == 11 and acts.height + rej.height == raw.height and rej.height == 0
    em = _slice(lake, "emissions", "globex-uk", "2024")
    assert dict(em.group_by("match_status").len().rows()) == {"matched": 10, "unit_mismatch": 1}
    grid = em.filter((pl.col("activity_key") == "electricity.grid") & (pl.col("match_status") == "matched"))
    assert grid["em_kgco2e"][0] == pytest.approx(250_000 * 0.20705)  # 250 MWh x UK grid 2024
    report = _slice(lake, "inventory_report", "globex-uk", "2024")
    total = report.filter(pl.col("scope") == "total").row(0, named=True)
    assert total["deterministic_kgco2e"] == pytest.approx(em["em_kgco2e"].sum())
    assert total["p5_kgco2e"] < total["median_kgco2e"] < total["p95_kgco2e"]
    assert report["signature"].n_unique() == 1 and report["signature"][0] == em["signature"][0]
    assert report["signature"][0] == _slice(lake, "emission_distributions", "globex-uk", "2024")["signature"][0]
    doc = json.loads((tmp / "exports" / "globex-uk" / "2024" / "inventory.json").read_text())
    assert doc["signature"] == report["signature"][0]
    assert doc["summary"]["total_deterministic_kgCO2e"] == pytest.approx(total["deterministic_kgco2e"])
    assert doc["lines"]["by_match_status"] == {"matched": 10, "unit_mismatch": 1}
    assert doc["calculation_id"] == "calc-" + doc["signature"][7:23]
    assert doc["provenance"]["fe_snapshot_id"].startswith("fs-")
    assert doc["provenance"]["github_repo_url"] == "https://github.com/incubateur-ademe/nosgestesclimat"
    elec = next(b for b in doc["breakdown"] if b["category"] == "Purchased electricity")
    assert elec["fe_used"] == [{"id": "DEFRA:7_400_4000_5", "value": 0.20705, "unit": "kWh"}]
    assert set(doc["scopes"]) == {"1", "2", "3"}
    checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
    # the mis-keyed litres line is flagged; no earlier year, so the year-over-year check passes
    assert checks == {"all_lines_matched": False, "yoy_change_within_threshold": True}


def test_rematerializing_is_byte_identical_and_isolated(factors_ready):
    tmp, d, inst = factors_ready
    lake = tmp / "lake"
    runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS)
    first = {t: lineage.frame_bytes(_slice(lake, t, "globex-uk", "2024")) for t in TABLES}
    versions = {t: _data_version(inst, t, "globex-uk|2024") for t in TABLES}
    runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS)
    acme = {t: lineage.frame_bytes(_slice(lake, t, "acme-fr", "2024")) for t in TABLES}
    runner.materialize_tenant_year(d, inst, "globex-uk", "2024", PARAMS)
    for t in TABLES:
        assert lineage.frame_bytes(_slice(lake, t, "globex-uk", "2024")) == first[t], t
        assert _data_version(inst, t, "globex-uk|2024") == versions[t], t
        assert lineage.frame_bytes(_slice(lake, t, "acme-fr", "2024")) == acme[t], t
    # a parameter that changes numbers changes the signature and the data version
    runner.materialize_tenant_year(d, inst, "globex-uk", "2024", CalcParams(mc_samples=2000, mc_seed=7))
    assert _data_version(inst, "emission_distributions", "globex-uk|2024") != versions["emission_distributions"]
    assert _data_version(inst, "raw_activities", "globex-uk|2024") == versions["raw_activities"]


def test_invalid_run_config_fails_at_launch(factors_ready):
    _, d, inst = factors_ready
    job = d.resolve_job_def("tenant_year_job")
    inst.add_dynamic_partitions("tenants", ["acme-fr"])
    cfg = runner.params_run_config(PARAMS)
    cfg["resources"]["params"]["config"]["default_gwp"] = "AR4"
    with pytest.raises(dg.DagsterInvalidConfigError, match="default_gwp"):
        job.execute_in_process(instance=inst, run_config=cfg,
                               partition_key=dg.MultiPartitionKey({"tenant": "acme-fr", "year": "2024"}))


def test_factor_snapshot_metadata(factors_ready):
    tmp, _, inst = factors_ready
    snap = pl.read_delta(str(tmp / "lake" / "factor_snapshot"))
    # 11 DEFRA + 4 custom + 9 ADEME (recomputed by hand): the ADEME sample has 20 data rows = 10 Elément
    # + 10 Poste; the Poste rows and the Archivé element 24310 are filtered out -> 20 - 10 - 1 = 9
    # + 10 EPA USEEIO: the v1.2 sample has 5 rows x 2 variants (with / without margins) -> 24 + 10 = 34
    # + 22 EPA Hub: the Hub sample's tables give 9 + 2 + 6 + 1 + 2 + 2 factors -> 34 + 22 = 56
    assert snap.height == 56 and snap["snapshot_id"].n_unique() == 1
    rec = inst.fetch_materializations(dg.AssetKey("factor_snapshot"), limit=1).records[0]
    meta = rec.asset_materialization.metadata
    assert meta["snapshot_id"].value == snap["snapshot_id"][0]
    assert meta["delta_version"].value == 0
    assert meta["factors_by_namespace"].value == {"ADEME": 9, "DEFRA": 11, "EPA": 32, "custom": 4}
