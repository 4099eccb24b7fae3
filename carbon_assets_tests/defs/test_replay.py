"""Replay, end to end: a tenant-year materialized through the real jobs in a project copy, recorded in the
`calculations` table; then newer factors, a new inbox file and a changed tenant mapping land and the
tenant-year is rematerialized (new signature). Replaying the OLD signature time-travels raw_activities
and factor_snapshot to the recorded Delta versions and gives byte-identical outputs; every way a replay
can fail gives its exit code and names what is wrong."""

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from prov.model import ProvDocument

from carbon_assets import runner, settings
from carbon_assets.defs import calculation_record
from carbon_assets.defs.jobs import TENANT_YEAR_ASSETS
from carbon_assets.engine import calculations, lineage, replay
from carbon_assets.engine.params import CalcParams
from carbon_assets.replay_cli import main
from carbon_assets_tests.conftest import DATA, PROJECT
from carbon_assets_tests.s3_fixture import CREDENTIALS

PARAMS = CalcParams(mc_samples=2000)
CORE = {"activities", "activity_rejects", "emissions", "emission_distributions", "sensitivity", "inventory_report"}
VIEW_ASSETS = ("report_views", "esrs_e1_6")
NEW_FILE = "date,activity_key,factor_id,description,quantity,unit\n" \
           "2024-06-15,electricity.grid,custom:ADEME-42513,Compteur annexe,1000,kWh\n"


def _slice(lake, table: str) -> pl.DataFrame:
    return pl.read_delta(str(lake / table)).filter((pl.col("tenant") == "acme-fr") & (pl.col("year") == "2024"))


def _materialize(d, inst) -> None:
    """acme-fr 2024 through tenant_year_job, plus the report views and ESRS datapoints when the job does not
    (yet) include them."""
    assert runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS).success
    extra = [a for a in VIEW_ASSETS if a not in TENANT_YEAR_ASSETS]
    if extra:
        job = dg.Definitions.merge(d, dg.Definitions(jobs=[dg.define_asset_job("replay_test_views", extra)]))
        res = job.resolve_job_def("replay_test_views").execute_in_process(
            instance=inst, partition_key=dg.MultiPartitionKey({"tenant": "acme-fr", "year": "2024"}),
            run_config=runner.params_run_config(PARAMS))
        assert res.success


def _record(inst, root, lake) -> dict:
    """The calculations row of the tenant-year's latest calculation: written by the `calculations` asset when
    the job has it, else built and written here through the same helper the asset calls."""
    if "calculations" in TENANT_YEAR_ASSETS:
        sig = _slice(lake, "emissions")["signature"][0]
        return _slice(lake, "calculations").filter(pl.col("signature") == sig).row(0, named=True)
    row = calculation_record.build_record(inst, str(lake), None, root / "data", "acme-fr", "2024", PARAMS,
                                          settings.full_code_version())
    calculation_record.write_record(str(lake), row, None)
    return row


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A project copy with two calculations of acme-fr 2024 recorded: (root, lake, old row, new row, instance)."""
    root = tmp_path_factory.mktemp("replay")
    shutil.copytree(DATA, root / "data", ignore=shutil.ignore_patterns("lake", "exports", "*.sqlite"))
    lake = root / "lake"
    env = {"CARBON_DATA_DIR": str(root / "data"), "CARBON_LAKE_URI": str(lake),
           "CARBON_EXPORTS_DIR": str(root / "exports"), "CARBON_DB_URL": f"sqlite:///{root / 'registry.sqlite'}"}
    with settings.env(env), dg.instance_for_test() as inst:
        from carbon_assets.definitions import defs

        d = defs()
        runner.materialize_factors(d, inst)
        _materialize(d, inst)
        old = _record(inst, root, lake)

        # newer factors: the client's electricity factor goes from 0.052 to 0.060 kgCO2e/kWh
        factors = root / "data" / "factors" / "custom" / "client_factors.csv"
        text = factors.read_text(encoding="utf-8")
        assert text.count("FR,kWh,0.052,") == 1
        factors.write_text(text.replace("FR,kWh,0.052,", "FR,kWh,0.060,"), encoding="utf-8")
        runner.materialize_factors(d, inst)
        # a new inbox file naming that factor, and the tenant's own column mapping
        (root / "data" / "inbox" / "acme-fr" / "2024" / "compteur_annexe_2024.csv").write_text(NEW_FILE)
        mapping = (root / "data" / "tenants" / "default_mapping.yaml").read_text(encoding="utf-8")
        (root / "data" / "tenants" / "acme-fr").mkdir(exist_ok=True)
        (root / "data" / "tenants" / "acme-fr" / "mapping.yaml").write_text(
            mapping.replace("quantity: [quantity, quantite, qty]", "quantity: [quantity, quantite, qty, volume]"))
        # and more guarantees of origin: 90 MWh instead of 60 (market-based Scope 2 of the report views)
        instruments = root / "data" / "tenants" / "acme-fr" / "scope2_instruments.csv"
        assert instruments.read_text(encoding="utf-8").count("2024,FR,Lyon,60,") == 1
        instruments.write_text(instruments.read_text(encoding="utf-8").replace("2024,FR,Lyon,60,", "2024,FR,Lyon,90,"),
                               encoding="utf-8")
        _materialize(d, inst)
        new = _record(inst, root, lake)
        yield root, lake, old, new, inst


def _run_cli(capsys, *argv) -> tuple[int, list[dict]]:
    code = main(list(argv))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, lines


def test_old_signature_replays_byte_identical_after_newer_factors_and_files(history, capsys):
    _, lake, old, new, _ = history
    assert old["signature"] != new["signature"]
    assert old["factor_snapshot_id"] != new["factor_snapshot_id"]
    assert (old["raw_activities_version"], old["factor_snapshot_version"]) == (0, 0)
    assert new["raw_activities_version"] == 1 and new["factor_snapshot_version"] == 1
    # the lake now holds the new calculation: 60 kg more (1000 kWh x the new 0.060 kgCO2e/kWh)
    em_now = _slice(lake, "emissions")
    assert em_now["signature"].unique().to_list() == [new["signature"]]
    annexe = em_now.filter(pl.col("source_file") == "compteur_annexe_2024.csv").row(0, named=True)
    assert annexe["factor_id"] == "custom:ADEME-42513" and annexe["factor_value"] == pytest.approx(0.060)
    assert annexe["em_kgco2e"] == pytest.approx(60.0)
    total_now = _slice(lake, "inventory_report").filter(pl.col("scope") == "total")["deterministic_kgco2e"][0]
    assert total_now == pytest.approx(42_574.19 + 60.0, abs=0.01)

    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(lake))
    assert code == 0, events[-1]
    kinds = [e["event"] for e in events]
    assert kinds[:5] == ["start", "record", "input", "input", "signature"] and kinds[-1] == "done"
    inputs = {e["table"]: e for e in events if e["event"] == "input"}
    assert inputs["raw_activities"]["delta_version"] == 0 and inputs["raw_activities"]["files"] == 2
    assert inputs["factor_snapshot"]["snapshot_id"] == old["factor_snapshot_id"]
    compared = {e["table"]: e for e in events if e["event"] == "compared"}
    recorded = json.loads(old["outputs"])
    assert CORE <= set(compared) == set(recorded)
    for table, e in compared.items():
        assert e["identical"] and e["recomputed"] == e["recorded"] == recorded[table]["content_sha256"], table
    assert events[-1] == {"event": "done", "identical": True, "differing": [], "not_replayed": [],
                          "tenant": "acme-fr", "year": "2024"}
    # what the lake held before the newer data landed, byte for byte (time travel to the recorded versions)
    for table in CORE:
        then = pl.read_delta(str(lake / table), version=recorded[table]["delta_version"]).filter(
            (pl.col("tenant") == "acme-fr") & (pl.col("year") == "2024"))
        assert lineage.frame_sha256(then) == recorded[table]["content_sha256"], table

    assert set(VIEW_ASSETS) <= set(compared)
    # the report views replayed with the recorded instruments (60 MWh), while the lake now holds the 90 MWh ones
    market = (pl.col("view") == "scope") & (pl.col("key") == "2") & (pl.col("basis") == "market")
    then_views = pl.read_delta(str(lake / "report_views"), version=recorded["report_views"]["delta_version"])
    now_views = _slice(lake, "report_views")
    then_market = then_views.filter(market & (pl.col("tenant") == "acme-fr"))["deterministic_kgco2e"][0]
    assert now_views.filter(market)["deterministic_kgco2e"][0] != pytest.approx(then_market)
    configs = json.loads(old["config_files"])
    assert "2024,FR,Lyon,60," in configs["scope2_instruments"]["text"]
    assert configs["column_mapping"]["path"] == "tenants/default_mapping.yaml"  # before acme-fr had its own

    res = replay.replay(str(lake), old["signature"])
    assert res.frames["report_views"].filter(market)["deterministic_kgco2e"][0] == then_market
    total = res.frames["inventory_report"].filter(pl.col("scope") == "total").row(0, named=True)
    assert round(total["deterministic_kgco2e"] / 1000, 2) == 42.57  # the demo figure of acme-fr 2024
    assert total["signature"] == old["signature"]
    assert res.frames["activities"]["source_file"].unique().sort().to_list() == ["deplacements_2024.csv",
                                                                                  "energie_flotte_2024.csv"]
    # and the new calculation replays too (both rows are kept in the tenant-year's slice)
    assert replay.replay(str(lake), new["signature"]).identical
    assert sorted(_slice(lake, "calculations")["signature"].to_list()) == sorted([old["signature"],
                                                                                  new["signature"]])


def test_python_m_entry_point(history):
    _, lake, old, _, _ = history
    out = subprocess.run([sys.executable, "-m", "carbon_assets.replay_cli", "--signature", old["signature"],
                          "--lake", str(lake)], capture_output=True, text=True, cwd=PROJECT, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    last = json.loads(out.stdout.splitlines()[-1])
    assert last["event"] == "done" and last["identical"] is True


def test_record_is_deterministic_and_its_provenance_is_valid_prov(history):
    root, lake, _, new, inst = history
    again = calculation_record.build_record(inst, str(lake), None, root / "data", "acme-fr", "2024", PARAMS,
                                            settings.full_code_version())
    assert again == new  # no wall clock in the row
    configs = json.loads(new["config_files"])
    assert configs["column_mapping"]["path"] == "tenants/acme-fr/mapping.yaml"
    assert {"activity_keys", "selection", "money_eur_rates", "money_price_index"} <= set(configs)
    mapping_file = root / "data" / "tenants" / "acme-fr" / "mapping.yaml"
    assert configs["column_mapping"]["text"] == mapping_file.read_text(encoding="utf-8")
    assert configs["column_mapping"]["sha256"] == lineage.file_sha256(mapping_file)
    inbox = root / "data" / "inbox" / "acme-fr" / "2024"
    assert json.loads(new["inputs"]) == {p.name: lineage.file_sha256(p) for p in sorted(inbox.iterdir())}

    doc = ProvDocument.deserialize(content=new["provenance"], format="json")
    ids = {str(r.identifier): r for r in doc.get_records()}
    snap = ids[f"carbon:factor_snapshot/{new['factor_snapshot_id']}/v1"]
    assert int(_attrs(snap)["carbon:delta_version"]) == 1
    assert _attrs(snap)["carbon:content_sha256"] == new["factor_snapshot_sha256"]
    files = {_attrs(r)["carbon:file_name"]: str(r.identifier)
             for r in doc.get_records() if str(r.identifier).startswith("carbon:input/")}
    assert files == {p.name: f"carbon:input/sha256-{lineage.file_sha256(p)}" for p in inbox.iterdir()}
    outputs = json.loads(new["outputs"])
    generated = [r for r in doc.get_records() if r.get_type().localpart == "Generation"]
    assert len(generated) == len(outputs)


def _attrs(record) -> dict:
    """A PROV record's attributes by qualified name, typed literals as their lexical value."""
    return {str(k): getattr(v, "value", v) for k, v in record.attributes}


def test_record_refuses_a_config_changed_since_the_calculation(history):
    root, lake, _, _, inst = history
    selection = root / "data" / "selection.yaml"
    before = selection.read_bytes()
    selection.write_bytes(before + b"# edited after the run\n")
    try:
        with pytest.raises(calculation_record.RecordError, match="a config file or a parameter changed"):
            calculation_record.build_record(inst, str(lake), None, root / "data", "acme-fr", "2024", PARAMS,
                                            settings.full_code_version())
    finally:
        selection.write_bytes(before)


def _lake_copy(history, tmp_path, **changes):
    """A copy of the lake whose record of the old signature has ``changes`` applied."""
    _, lake, old, _, _ = history
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    if changes:
        calculation_record.write_record(str(copy), {**old, **changes}, None)
    return copy, old


def test_validation_errors_exit_2(history, tmp_path, capsys):
    _, lake, old, _, _ = history
    code, events = _run_cli(capsys, "--signature", "sha256-abc", "--lake", str(lake))
    assert code == 2 and "not of the form sha256-<64" in events[-1]["message"]
    unknown = "sha256-" + "0" * 64
    code, events = _run_cli(capsys, "--signature", unknown, "--lake", str(lake))
    assert code == 2 and events[-1]["kind"] == "validation" and f"unknown signature {unknown}" in events[-1]["message"]
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(tmp_path / "empty"))
    assert code == 2 and "no calculations table" in events[-1]["message"]

    missing, _ = _lake_copy(history, tmp_path / "a", raw_activities_version=9999)
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(missing))
    assert code == 2 and "raw_activities: recorded Delta version 9999 does not exist" in events[-1]["message"]

    tampered, _ = _lake_copy(history, tmp_path / "b", factor_snapshot_sha256="f" * 64)
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(tampered))
    assert code == 2 and events[-1]["message"].startswith("factor_snapshot at Delta version 0: content sha256")

    configs = json.loads(old["config_files"])
    configs["selection"]["text"] += "# changed\n"
    altered, _ = _lake_copy(history, tmp_path / "c", config_files=json.dumps(configs))
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(altered))
    assert code == 2 and "config selection (selection.yaml)" in events[-1]["message"]


def test_vacuumed_or_altered_input_data_exit_2(history, tmp_path, capsys):
    vacuumed, old = _lake_copy(history, tmp_path / "v")
    removed = DeltaTable(str(vacuumed / "raw_activities")).vacuum(retention_hours=0, enforce_retention_duration=False,
                                                                   dry_run=False)
    assert removed  # the old slice's file was replaced by the rematerialization
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(vacuumed))
    assert code == 2, events[-1]
    assert "raw_activities: the data files of Delta version 0 are gone" in events[-1]["message"]

    # a data file of the recorded version rewritten: damaged (its size no longer the logged one)...
    damaged, _ = _lake_copy(history, tmp_path / "d")
    path = _raw_file(damaged)
    path.write_bytes(path.read_bytes()[:-100])
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(damaged))
    assert code == 2, events[-1]
    assert "raw_activities: the data files of Delta version 0 at" in events[-1]["message"]
    # ... or valid Parquet with one cell changed, the log patched to its new size: the content hash catches it
    altered, _ = _lake_copy(history, tmp_path / "x")
    path = _raw_file(altered)
    size = path.stat().st_size
    table = pq.read_table(path)
    cells = table.column("cells").to_pylist()
    assert cells[0].count("2024-") == 1
    cells[0] = cells[0].replace("2024-", "2023-")
    pq.write_table(table.set_column(table.schema.get_field_index("cells"), "cells", pl.Series(cells).to_arrow()),
                   path)
    log = altered / "raw_activities" / "_delta_log" / "00000000000000000000.json"
    assert log.read_text().count(f'"size":{size},') == 1
    log.write_text(log.read_text().replace(f'"size":{size},', f'"size":{path.stat().st_size},'))
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(altered))
    assert code == 2, events[-1]
    assert events[-1]["message"].startswith("raw_activities at Delta version 0: content sha256")


def _raw_file(lake) -> Path:
    """The Parquet file of acme-fr 2024 in raw_activities at Delta version 0."""
    uri = next(u for u in DeltaTable(str(lake / "raw_activities"), version=0).file_uris() if "tenant=acme-fr" in u)
    return Path(uri.removeprefix("file://"))


def test_differing_output_exits_1_naming_the_table(history, tmp_path, capsys):
    _, _, old, _, _ = history
    outputs = json.loads(old["outputs"])
    outputs["emission_distributions"]["content_sha256"] = "0" * 64
    lake, _ = _lake_copy(history, tmp_path, outputs=json.dumps(outputs))
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(lake))
    assert code == 1
    assert events[-1]["differing"] == ["emission_distributions"] and events[-1]["identical"] is False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runtime_errors_exit_3(history, tmp_path, capsys, monkeypatch):
    corrupt, old = _lake_copy(history, tmp_path, parameters="{not json")
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", str(corrupt))
    assert code == 3 and events[-1]["kind"] == "runtime" and events[-1]["error"] == "CorruptRecord"
    assert "column parameters is not valid JSON" in events[-1]["message"]

    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    port = _closed_port()
    monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    code, events = _run_cli(capsys, "--signature", old["signature"], "--lake", "s3://carbon-nowhere/lake")
    assert code == 3 and events[-1]["kind"] == "runtime" and f"127.0.0.1:{port}" in events[-1]["message"]


def test_calculations_merge_keeps_other_signatures():
    row = {c: None for c in calculations.CALCULATIONS_SCHEMA} | {"tenant": "t", "year": "2024", "signature": "b"}
    first = calculations.merge(None, row)
    both = calculations.merge(first, {**row, "signature": "a"})
    assert both["signature"].to_list() == ["a", "b"]
    again = calculations.merge(both, {**row, "signature": "b", "code_version": "x"})
    assert again["signature"].to_list() == ["a", "b"] and again["code_version"].to_list() == [None, "x"]


def test_replay_from_an_s3_lake(s3_endpoint, s3_bucket, lake_env, monkeypatch, capsys):
    """The same record and replay against a lake on a real S3 API (moto's server on 127.0.0.1)."""
    _, bucket = s3_bucket
    uri = f"s3://{bucket}/lake"
    monkeypatch.setenv("CARBON_LAKE_URI", uri)
    monkeypatch.setenv("CARBON_S3_ENDPOINT_URL", s3_endpoint)
    from carbon_assets.definitions import defs

    d, opts = defs(), settings.lake_storage_options(uri)
    with dg.instance_for_test() as inst:
        runner.materialize_factors(d, inst)
        assert runner.materialize_tenant_year(d, inst, "acme-fr", "2024", PARAMS).success
        row = calculation_record.build_record(inst, uri, opts, settings.data_dir(), "acme-fr", "2024", PARAMS,
                                              settings.full_code_version())
    # the job's own `calculations` asset wrote the same record to S3 (the record is deterministic)
    written = calculation_record.existing_rows(uri, "acme-fr", "2024", opts)
    assert written is not None and written.to_dicts() == [row]
    code, events = _run_cli(capsys, "--signature", row["signature"], "--lake", uri)
    assert code == 0, events[-1]
    assert CORE <= {e["table"] for e in events if e["event"] == "compared" and e["identical"]}
