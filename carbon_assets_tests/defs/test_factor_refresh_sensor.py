"""factor_refresh_sensor: a newly published factor snapshot requests exactly the tenant-years whose
factor selection it changes (engine/staleness.py), after a baseline tick."""

import shutil

import dagster as dg
import pytest

from carbon_assets import runner
from carbon_assets.engine.params import CalcParams
from carbon_assets_tests.conftest import DATA

ADEME_CSV = "factors/ademe_base_carbone/base_carbone_sample.csv"
CUSTOM_CSV = "factors/custom/client_factors.csv"


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA, data, ignore=shutil.ignore_patterns("lake", "exports", "registry.sqlite"))
    monkeypatch.setenv("CARBON_DATA_DIR", str(data))
    monkeypatch.setenv("CARBON_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("CARBON_EXPORTS_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("CARBON_DB_URL", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    from carbon_assets.definitions import defs

    with dg.instance_for_test() as inst:
        yield data, defs(), inst


def _tick(d, inst, cursor):
    ctx = dg.build_sensor_context(instance=inst, instance_ref=inst.get_ref(), definitions=d, cursor=cursor,
                                  resources={k: d.resources[k] for k in ("lake", "params")})
    return d.get_sensor_def("factor_refresh_sensor").evaluate_tick(ctx)


def _edit(path, old: str, new: str, encoding: str) -> None:
    text = path.read_bytes().decode(encoding)
    assert text.count(old) == 1, old
    path.write_bytes(text.replace(old, new).encode(encoding))


def test_new_snapshot_requests_exactly_the_stale_tenant_years(env):
    data, d, inst = env
    assert _tick(d, inst, None).skip_message.startswith("no factor snapshot published")
    runner.materialize_factors(d, inst)
    for tenant, year in (("acme-fr", "2024"), ("acme-fr", "2025"), ("globex-uk", "2024")):
        assert runner.materialize_tenant_year(d, inst, tenant, year, CalcParams()).success
    base = _tick(d, inst, None)
    assert base.run_requests == [] and base.cursor == "0"  # baseline: snapshot version 0
    assert _tick(d, inst, base.cursor).skip_message == "factor snapshot version 0 already compared"

    # the custom copy of the French grid factor changes, but every French line takes ADEME's (namespace
    # order ADEME first): a new snapshot, and no tenant-year is stale
    _edit(data / CUSTOM_CSV, ",0.052,", ",0.06,", "utf-8")
    runner.materialize_factors(d, inst)
    quiet = _tick(d, inst, base.cursor)
    assert quiet.run_requests == [] and quiet.cursor == "1"

    # ADEME's French grid factor 42513 changes: the acme-fr years with electricity lines are stale,
    # globex-uk (GB lines, DEFRA factors) is not
    _edit(data / ADEME_CSV, ";0,052;", ";0,06;", "cp1252")
    runner.materialize_factors(d, inst)
    tick = _tick(d, inst, quiet.cursor)
    assert tick.cursor == "2"
    keys = sorted((r.partition_key.keys_by_dimension["tenant"], r.partition_key.keys_by_dimension["year"])
                  for r in tick.run_requests)
    assert keys == [("acme-fr", "2024"), ("acme-fr", "2025")]
    assert {r.tags["carbon/trigger"] for r in tick.run_requests} == {"factor_refresh"}
    assert all(r.run_key.startswith("factors|fs-") for r in tick.run_requests)
