"""A declared correction (``replaces.yaml``) through the local inbox: sensor, run, lake."""

import shutil

import dagster as dg
import polars as pl
import pytest

from carbon_assets.defs.activity_assets import activity_tables, raw_activities
from carbon_assets.defs.resources import DeltaIOManager, LakeStorage, ProjectFiles
from carbon_assets.defs.s3_inbox import S3Inbox
from carbon_assets.engine.lineage import bytes_sha256
from carbon_assets_tests.engine.corrected_rows import assert_corrected_rows

OLD = b"date,activity_key,quantity,unit\n2024-03-31,electricity.grid,500,kWh\n2024-03-31,fuel.diesel,x,L\n"
NEW = b"date,activity_key,quantity,unit\n2024-03-31,electricity.grid,450,kWh\n2024-03-31,fuel.diesel,20,L\n"
WATER = b"date,activity_key,quantity,unit\n2024-05-31,water.supply,3,m3\n2023-05-31,water.supply,4,m3\n"
DECL = b"# the March invoice was wrong\nenergie_mars_2024_rectifie.csv: [facture_energie_mars.csv]\n"
KEY = dg.MultiPartitionKey({"tenant": "acme", "year": "2024"})


@pytest.fixture
def project(tmp_path, data_dir):
    root = tmp_path / "data"
    shutil.copytree(data_dir / "tenants", root / "tenants")
    shutil.copy(data_dir / "activity_keys.yaml", root / "activity_keys.yaml")
    folder = root / "inbox" / "acme" / "2024"
    folder.mkdir(parents=True)
    (folder / "facture_energie_mars.csv").write_bytes(OLD)
    (folder / "eau.csv").write_bytes(WATER)
    files = ProjectFiles(data_dir=str(root), exports_dir=str(tmp_path / "exports"))
    resources = {"files": files, "s3_inbox": S3Inbox(uri=""),
                 "io_manager": DeltaIOManager(storage=LakeStorage(root_uri=str(tmp_path / "lake")))}
    return folder, files, resources, tmp_path / "lake"


def _run(inst, resources, **kw):
    return dg.materialize([raw_activities, activity_tables], instance=inst, partition_key=KEY, resources=resources,
                          **kw)


def _tick(inst, files, cursor=None):
    from carbon_assets.definitions import defs

    d = defs()
    ctx = dg.build_sensor_context(instance=inst, instance_ref=inst.get_ref(), definitions=d, cursor=cursor,
                                  resources={"files": files})
    return d.get_sensor_def("inbox_sensor").evaluate_tick(ctx)


def _lake(lake, table) -> pl.DataFrame:
    return pl.read_delta(str(lake / table)).filter(pl.col("tenant") == "acme")


def test_declared_correction_replaces_the_rows_of_the_file_it_names(project):
    folder, files, resources, lake = project
    with dg.instance_for_test() as inst:
        first = _tick(inst, files)
        assert [r.partition_key for r in first.run_requests] == ["acme|2024"]
        inst.add_dynamic_partitions("tenants", ["acme"])
        assert _run(inst, resources).success
        assert sorted(_lake(lake, "raw_activities")["source_file"].unique()) == ["eau.csv",
                                                                                 "facture_energie_mars.csv"]
        # the client drops the corrected file, whose name says nothing, and declares what it replaces
        (folder / "energie_mars_2024_rectifie.csv").write_bytes(NEW)
        (folder / "replaces.yaml").write_bytes(DECL)
        second = _tick(inst, files, first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["acme|2024"]
        assert second.run_requests[0].tags["carbon/source_files"] == "energie_mars_2024_rectifie.csv,replaces.yaml"
        result = _run(inst, resources)
        assert result.success
        meta = result.asset_materializations_for_node("raw_activities")[0].metadata
    raw, acts, rej = (_lake(lake, t) for t in ("raw_activities", "activities", "activity_rejects"))
    assert_corrected_rows(raw, acts, rej)
    assert meta["superseded_versions"].value == {"facture_energie_mars.csv": "energie_mars_2024_rectifie.csv"}
    assert meta["replaces_declared"].value == {"energie_mars_2024_rectifie.csv": ["facture_energie_mars.csv"]}
    assert meta["replaces_sha256"].value == bytes_sha256(DECL)
    assert "replaces.yaml" in meta["files"].value  # part of the lineage, not of the rows
    assert meta["files_read"].value == 2


@pytest.mark.parametrize("decl,message", [
    (b"energie_mars_2024_rectifie.csv: [facture_energie_avril.csv]\n",
     ("replaces.yaml: entry 'energie_mars_2024_rectifie.csv': 'facture_energie_avril.csv' is not in the folder "
      "(did you mean 'facture_energie_mars.csv'?)")),
    (b"eau.csv: [eau.csv]\n", "replaces.yaml: entry 'eau.csv': a file cannot replace itself (value ['eau.csv'])"),
    (b"eau.csv: [facture_energie_mars.csv]\nfacture_energie_mars.csv: [eau.csv]\n",
     ("replaces.yaml: entry 'eau.csv': replacements form a cycle (eau.csv -> facture_energie_mars.csv -> eau.csv), "
      "value ['facture_energie_mars.csv']")),
    (b"- eau.csv\n", "replaces.yaml: expected a mapping 'new file: [files it replaces]', got list ['eau.csv']"),
])
def test_invalid_declaration_fails_the_run_and_publishes_nothing(project, decl, message):
    folder, _, resources, lake = project
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("tenants", ["acme"])
        assert _run(inst, resources).success
        before = _lake(lake, "raw_activities").sort("source_file", "source_row")
        (folder / "energie_mars_2024_rectifie.csv").write_bytes(NEW)
        (folder / "replaces.yaml").write_bytes(decl)
        result = _run(inst, resources, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert failure.step_key == "raw_activities"
        assert failure.step_failure_data.user_failure_data.description == f"{folder}/{message}"
        assert result.asset_materializations_for_node("raw_activities") == []
        assert inst.get_latest_materialization_event(dg.AssetKey("raw_activities")).run_id != result.run_id
    assert _lake(lake, "raw_activities").sort("source_file", "source_row").equals(before)
