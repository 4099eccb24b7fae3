"""Factor refresh end to end in a temporary data folder: snapshot diff, blocking checks, SQL registry."""

import shutil

import dagster as dg
import polars as pl
import pytest

from carbon_assets import runner
from carbon_assets.engine import registry
from carbon_assets_tests.conftest import DATA

CUSTOM_CSV = "factors/custom/client_factors.csv"
GRID = "custom:ADEME-42513"  # row 2 of client_factors.csv, 0.052 kgCO2e/kWh


@pytest.fixture
def refresh_env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("mappings", "factors", "tenants"):
        shutil.copytree(DATA / name, data / name)
    shutil.copy(DATA / "activity_keys.yaml", data / "activity_keys.yaml")
    for var in ("CARBON_LAKE_URI", "CARBON_EXPORTS_DIR", "CARBON_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CARBON_DATA_DIR", str(data))
    from carbon_assets.definitions import defs

    with dg.instance_for_test() as inst:
        yield data, defs(), inst


def _set_grid_value(data, value: str) -> None:
    path = data / CUSTOM_CSV
    text = path.read_text(encoding="utf-8")
    assert ",kWh,0.052," in text
    path.write_text(text.replace(",kWh,0.052,", f",kWh,{value},", 1), encoding="utf-8")


def _refresh(d, inst) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """The factor refresh: every namespace, the snapshot, then the registry (snapshot run, registry run)."""
    *_, snapshot_run, registry_run = runner.materialize_factors(d, inst)  # ends: snapshot, then registry
    return snapshot_run, registry_run


def _meta(inst, asset: str) -> dict:
    rec = inst.fetch_materializations(dg.AssetKey(asset), limit=1).records[0]
    return {k: v.value for k, v in rec.asset_materialization.metadata.items()}


def test_refresh_diff_and_registry(refresh_env):
    data, d, inst = refresh_env
    assert all(r.success for r in _refresh(d, inst))
    snap1, reg1 = _meta(inst, "factor_snapshot"), _meta(inst, "factor_registry")
    n_factors = sum(snap1["factors_by_namespace"].values())  # other sources may be added to data/
    assert n_factors == snap1["row_count"] and GRID in snap1["diff"]["added"]
    assert snap1["diff"]["previous_snapshot_id"] is None and snap1["diff"]["n_added"] == n_factors
    assert snap1["diff"]["n_changed"] == 0 and snap1["diff"]["n_removed"] == 0
    assert reg1["snapshot_id"] == snap1["snapshot_id"] and reg1["inserted"] is True
    assert reg1["content_sha256"] == snap1["content_sha256"]
    assert reg1["snapshot_delta_version"] == snap1["delta_version"] == 0
    assert (data / "registry.sqlite").exists()

    _set_grid_value(data, "0.061")
    snapshot_run, registry_run = _refresh(d, inst)
    assert snapshot_run.success and registry_run.success
    snap2, reg2 = _meta(inst, "factor_snapshot"), _meta(inst, "factor_registry")
    diff = snap2["diff"]
    assert diff["previous_snapshot_id"] == snap1["snapshot_id"] and diff["snapshot_id"] == snap2["snapshot_id"]
    assert (diff["n_added"], diff["n_removed"], diff["n_changed"]) == (0, 0, 1)
    assert diff["changed"] == [{"factor_id": GRID, "fields": ["value_kgco2e"], "old_value": 0.052,
                                "new_value": 0.061, "old": {}, "new": {}}]
    assert reg2["snapshot_delta_version"] == 1 and reg2["previous_snapshot_id"] == snap1["snapshot_id"]

    engine = registry.make_engine(f"sqlite:///{data / 'registry.sqlite'}")
    try:
        assert registry.current_snapshot(engine).snapshot_id == snap2["snapshot_id"]
        cur = registry.current_factors(engine)
        assert cur.height == n_factors and cur.filter(pl.col("id") == GRID)["value"][0] == pytest.approx(0.061)
        assert [s.snapshot_id for s in registry.list_snapshots(engine)] == [snap1["snapshot_id"],
                                                                            snap2["snapshot_id"]]
    finally:
        engine.dispose()
    checks = {c.check_name: c.passed for c in snapshot_run.get_asset_check_evaluations()}
    assert checks == {"required_fields_present": True, "factor_ids_unique": True, "units_parseable": True,
                      "values_non_negative": True}


def test_negative_value_fails_the_blocking_check(refresh_env):
    data, d, inst = refresh_env
    mapping = data / "mappings" / "custom_csv.yaml"
    declared = mapping.read_text(encoding="utf-8")
    mapping.write_text(declared + "allow_negative: true\n", encoding="utf-8")
    _set_grid_value(data, "-0.5")
    snapshot_run, registry_run = _refresh(d, inst)  # declared: honoured, and counted
    assert snapshot_run.success and registry_run.success
    ev = {e.check_name: e for e in snapshot_run.get_asset_check_evaluations()}
    assert ev["values_non_negative"].passed
    assert ev["values_non_negative"].metadata["allowed_negative_by_source"].value == {"custom_csv": 1}
    published = _meta(inst, "factor_registry")["snapshot_id"]

    # the declaration is withdrawn; the namespace table still holds the negative factor
    mapping.write_text(declared, encoding="utf-8")
    res = d.resolve_job_def("factor_snapshot_job").execute_in_process(instance=inst, raise_on_error=False)
    assert not res.success
    ev = {e.check_name: e for e in res.get_asset_check_evaluations()}
    bad = ev["values_non_negative"]
    assert not bad.passed and bad.blocking and bad.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in bad.metadata.items()}
    assert (meta["source_file"], meta["source_row"], meta["column"], meta["source_column"]) == \
        ("client_factors.csv", 2, "value_kgco2e", "value_kgco2e")
    assert meta["factor_id"] == GRID and meta["value"] == -0.5 and meta["n_failures"] == 1
    assert all(ev[n].passed for n in ("required_fields_present", "factor_ids_unique", "units_parseable"))

    # publishing that snapshot is refused; the previous one stays current
    reg = d.resolve_job_def("factor_registry_job").execute_in_process(instance=inst, raise_on_error=False)
    assert not reg.success
    engine = registry.make_engine(f"sqlite:///{data / 'registry.sqlite'}")
    try:
        assert registry.current_snapshot(engine).snapshot_id == published
    finally:
        engine.dispose()
