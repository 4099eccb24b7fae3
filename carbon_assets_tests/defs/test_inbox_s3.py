"""The S3 inbox against a real S3 API (moto's server on 127.0.0.1), the sensors' cursor, and tenant isolation."""

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from carbon_assets.defs.activity_assets import activity_tables, raw_activities
from carbon_assets.defs.resources import ProjectFiles
from carbon_assets.defs.s3_inbox import S3Inbox
from carbon_assets.engine import inbox, s3_inbox
from carbon_assets.engine.lineage import bytes_sha256

CSV_A = b"date,activity_key,quantity,unit\n2024-01-31,electricity.grid,100,kWh\n2024-02-29,fuel.diesel,abc,L\n"
CSV_B = b"date;activite;quantite;unite\n31/03/2024;fuel.diesel;1 234,5;litres\n"
CSV_G = b"date,activity_key,quantity,unit\n2024-06-30,water.supply,7,m3\n"




@pytest.fixture
def s3(s3_endpoint, s3_bucket):
    client, bucket = s3_bucket
    resource = S3Inbox(uri=f"s3://{bucket}/landing", endpoint_url=s3_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return client, bucket, resource


def _put(client, bucket, key, body):
    client.put_object(Bucket=bucket, Key=f"landing/{key}", Body=body)


def _snapshot(client, bucket) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_s3_scan_refuses_bad_tenant_folders_and_leaves_them(s3):
    client, bucket, _ = s3
    for key in ["acme/2024/a.csv", "acme/2024/b.csv", "acme/2024/.hidden", "acme/notayear/c.csv", "Acme/2024/d.csv",
                "a|b/2024/f.csv", "bad tenant/2024/g.csv", "acme/2024/deep/h.csv"]:
        _put(client, bucket, key, CSV_A)
    before = _snapshot(client, bucket)
    found, refused = s3_inbox.scan(client, bucket, "landing")
    assert [(o.tenant, o.year, o.name) for o in found] == [("acme", "2024", "a.csv"), ("acme", "2024", "b.csv")]
    reasons = {r.path.split("/landing/", 1)[1]: r.reason for r in refused}
    assert set(reasons) == {"acme/notayear/c.csv", "Acme/", "a|b/", "bad tenant/", "acme/2024/deep/h.csv"}
    assert all("not a valid tenant slug" in reasons[k] for k in ("Acme/", "a|b/", "bad tenant/"))
    assert _snapshot(client, bucket) == before  # nothing moved, nothing deleted
    with pytest.raises(ValueError):
        s3_inbox.tenant_prefix("landing", "../acme", "2024")
    with pytest.raises(ValueError):
        s3_inbox.tenant_prefix("landing", "acme", "../2024")
    assert s3_inbox.files_for(client, bucket, "landing", "acme", "2024")[0].key == "landing/acme/2024/a.csv"


DATA = Path(__file__).resolve().parents[2] / "data"


def _tick(d, inst, resource, cursor=None, files=None):
    files = files or ProjectFiles(data_dir=str(DATA), exports_dir=str(DATA / "unused-exports"))
    ctx = dg.build_sensor_context(instance=inst, instance_ref=inst.get_ref(), definitions=d, cursor=cursor,
                                  resources={"s3_inbox": resource, "files": files})
    return d.get_sensor_def("s3_inbox_sensor").evaluate_tick(ctx)


def test_s3_sensor_new_tenants_same_second_files_copies_and_corrections(s3):
    from carbon_assets.definitions import defs

    client, bucket, resource = s3
    _put(client, bucket, "acme/2024/a.csv", CSV_A)  # several files within the same second
    _put(client, bucket, "acme/2024/b.csv", CSV_B)
    _put(client, bucket, "globex/2024/g.csv", CSV_G)
    _put(client, bucket, "Not OK/2024/x.csv", CSV_G)
    d = defs()
    with dg.instance_for_test() as inst:
        first = _tick(d, inst, resource)
        adds = first.dynamic_partitions_requests
        assert len(adds) == 1 and sorted(adds[0].partition_keys) == ["acme", "globex"]
        assert sorted(r.partition_key for r in first.run_requests) == ["acme|2024", "globex|2024"]
        acme = next(r for r in first.run_requests if r.partition_key == "acme|2024")
        assert acme.tags["carbon/source_files"] == "a.csv,b.csv" and acme.run_key.startswith("s3inbox|acme|2024|")
        inst.add_dynamic_partitions("tenants", ["acme", "globex"])
        # nothing new; the same bytes under another name: still nothing
        assert _tick(d, inst, resource, first.cursor).run_requests == []
        _put(client, bucket, "acme/2024/copy of a.csv", CSV_A)
        assert _tick(d, inst, resource, first.cursor).run_requests == []
        # a corrected version: one run for that tenant-year, no new partition
        _put(client, bucket, "acme/2024/a_v2.csv", CSV_A.replace(b"100", b"110"))
        third = _tick(d, inst, resource, first.cursor)
        assert [r.partition_key for r in third.run_requests] == ["acme|2024"]
        assert third.dynamic_partitions_requests == []
    assert s3_inbox.scan(client, bucket, "landing")[1][0].path.endswith("/landing/Not OK/")


def test_s3_sensor_is_off_without_an_s3_uri():
    from carbon_assets.definitions import defs

    d = defs()
    with dg.instance_for_test() as inst:
        result = _tick(d, inst, S3Inbox(uri=""))
        assert result.run_requests == [] and "not an s3:// URI" in result.skip_message


def _materialize(inst, tenant, year, files: ProjectFiles, s3: S3Inbox):
    inst.add_dynamic_partitions("tenants", [tenant])
    return dg.materialize_to_memory(
        [raw_activities, activity_tables], instance=inst,
        partition_key=dg.MultiPartitionKey({"tenant": tenant, "year": year}),
        resources={"files": files, "s3_inbox": s3})


def test_tenant_year_run_from_s3_reads_only_its_own_prefix(s3, tmp_path, data_dir):
    client, bucket, resource = s3
    _put(client, bucket, "acme/2024/a.csv", CSV_A)
    _put(client, bucket, "acme/2024/a_v2.csv", CSV_A.replace(b"100", b"110"))  # corrected: replaces a.csv
    _put(client, bucket, "acme/2024/same bytes.csv", CSV_B)
    _put(client, bucket, "acme/2024/b.csv", CSV_B)  # same content twice: read once
    _put(client, bucket, "acme/2025/next.csv", CSV_G)
    _put(client, bucket, "acme-evil/2024/x.csv", CSV_G)
    _put(client, bucket, "globex/2024/g.csv", CSV_G)
    files = ProjectFiles(data_dir=str(data_dir), exports_dir=str(tmp_path / "exports"))
    with dg.instance_for_test() as inst:
        result = _materialize(inst, "acme", "2024", files, resource)
        assert result.success
        raw = result.output_for_node("raw_activities")
        acts = result.output_for_node("activity_tables", "activities")
        rej = result.output_for_node("activity_tables", "activity_rejects")
    assert set(raw["source_file"]) == {"a_v2.csv", "b.csv"}
    assert set(acts["tenant"]) == {"acme"} and set(acts["year"]) == {"2024"}
    assert sorted(acts["quantity"].to_list()) == [110.0, 1234.5]
    assert rej.select("source_file", "row", "column", "value").rows() == [("a_v2.csv", 3, "quantity", "abc")]
    for name in ("a_v2.csv", "b.csv"):
        assert (acts.filter(pl.col("source_file") == name).height + rej.filter(pl.col("source_file") == name).height
                == raw.filter(pl.col("source_file") == name).height)


def test_tenant_year_run_from_local_inbox_reads_only_its_own_folder(tmp_path, data_dir):
    root = tmp_path / "data"
    shutil.copytree(data_dir / "tenants", root / "tenants")
    shutil.copy(data_dir / "activity_keys.yaml", root / "activity_keys.yaml")
    for rel, body in {"acme/2024/a.csv": CSV_A, "acme/2025/b.csv": CSV_B, "acme-evil/2024/x.csv": CSV_G,
                      "globex/2024/secret.csv": CSV_G}.items():
        p = root / "inbox" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    # a symlink planted in acme's folder that points into globex's: not read, refused by the scan
    (root / "inbox" / "acme" / "2024" / "link.csv").symlink_to(root / "inbox" / "globex" / "2024" / "secret.csv")
    files = ProjectFiles(data_dir=str(root), exports_dir=str(tmp_path / "exports"))
    with dg.instance_for_test() as inst:
        result = _materialize(inst, "acme", "2024", files, S3Inbox(uri=""))
        raw = result.output_for_node("raw_activities")
    assert set(raw["source_file"]) == {"a.csv"} and set(raw["tenant"]) == {"acme"}
    _, refused = inbox.scan(root / "inbox")
    assert any(r.path.endswith("link.csv") and "outside the tenant" in r.reason for r in refused)
    assert (root / "inbox" / "acme" / "2024" / "link.csv").is_symlink()  # left in place


def test_local_cursor_several_files_same_second(tmp_path):
    d = tmp_path / "acme" / "2024"
    d.mkdir(parents=True)
    for i in range(5):
        (d / f"f{i}.csv").write_text(f"a,b\n{i},x\n")
    found, _ = inbox.scan(tmp_path)
    assert len({f.mtime_ns // 1_000_000_000 for f in found}) <= 2  # written within ~a second
    cursor = inbox.InboxCursor.parse(None).advance(found[:2])
    assert [f.name for f in found if cursor.is_new(f)] == ["f2.csv", "f3.csv", "f4.csv"]
    cursor = inbox.InboxCursor.parse(cursor.advance(found).dump())
    assert [f for f in found if cursor.is_new(f)] == []


class _Log:
    def __init__(self):
        self.lines: list[str] = []

    def warning(self, msg: str) -> None:
        self.lines.append(msg)


class _Ctx:
    def __init__(self, inst):
        self.instance, self.cursor, self.log = inst, None, _Log()


def test_refused_folders_are_logged_with_their_reason(s3):
    from carbon_assets.defs.inbox_sensor import inbox_tick

    client, bucket, _ = s3
    _put(client, bucket, "Not OK/2024/x.csv", CSV_G)
    _put(client, bucket, "acme/2024/a.csv", CSV_A)
    found, refused = s3_inbox.scan(client, bucket, "landing")
    with dg.instance_for_test() as inst:
        ctx = _Ctx(inst)
        result = inbox_tick(ctx, found, refused, "s3inbox")
    assert [r.partition_key for r in result.run_requests] == ["acme|2024"]
    assert len(ctx.log.lines) == 1 and "Not OK/" in ctx.log.lines[0]
    assert "not a valid tenant slug" in ctx.log.lines[0] and "left in place" in ctx.log.lines[0]


def test_corrected_file_replaces_its_rows_in_the_lake(tmp_path, data_dir):
    from carbon_assets.defs.resources import DeltaIOManager, LakeStorage

    root = tmp_path / "data"
    shutil.copytree(data_dir / "tenants", root / "tenants")
    shutil.copy(data_dir / "activity_keys.yaml", root / "activity_keys.yaml")
    for tenant, body in (("acme", CSV_A), ("globex", CSV_G)):
        (root / "inbox" / tenant / "2024").mkdir(parents=True)
        (root / "inbox" / tenant / "2024" / "energie.csv").write_bytes(body)
    lake = tmp_path / "lake"
    resources = {"files": ProjectFiles(data_dir=str(root), exports_dir=str(tmp_path / "exports")),
                 "s3_inbox": S3Inbox(uri=""), "io_manager": DeltaIOManager(storage=LakeStorage(root_uri=str(lake)))}

    def run(inst, tenant):
        key = dg.MultiPartitionKey({"tenant": tenant, "year": "2024"})
        assert dg.materialize([raw_activities, activity_tables], instance=inst, partition_key=key,
                              resources=resources).success

    def rows(table, tenant):
        df = pl.read_delta(str(lake / table)).filter(pl.col("tenant") == tenant)
        return sorted(df.select("source_file", "quantity").rows()) if table == "activities" else df.height

    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("tenants", ["acme", "globex"])
        run(inst, "acme")
        run(inst, "globex")
        assert rows("activities", "acme") == [("energie.csv", 100.0)] and rows("activity_rejects", "acme") == 1
        # the client sends a corrected version: it replaces the first one's rows, rejects included
        (root / "inbox" / "acme" / "2024" / "energie_v2.csv").write_bytes(
            b"date,activity_key,quantity,unit\n2024-01-31,electricity.grid,120,kWh\n2024-02-29,fuel.diesel,8,L\n")
        # and the same bytes again under another name: read once
        (root / "inbox" / "acme" / "2024" / "copie energie_v2.csv").write_bytes(
            (root / "inbox" / "acme" / "2024" / "energie_v2.csv").read_bytes())
        run(inst, "acme")
        assert rows("activities", "acme") in ([("copie energie_v2.csv", 8.0), ("copie energie_v2.csv", 120.0)],
                                              [("energie_v2.csv", 8.0), ("energie_v2.csv", 120.0)])
        assert rows("activity_rejects", "acme") == 0
        assert rows("activities", "globex") == [("energie.csv", 7.0)]  # the other tenant's slice untouched


# -- content identity on S3: the SHA-256 of the bytes, not the ETag ------------------------------------

ROW = b"2024-01-31,electricity.grid,100,kWh\n"
BIG = b"date,activity_key,quantity,unit\n" + ROW * (6 * 2**20 // len(ROW))  # ~6 MiB: two parts of >= 5 MiB


def _count_get_object(monkeypatch) -> list[str]:
    """Keys read with GetObject by every client the S3Inbox resource hands out."""
    calls: list[str] = []
    original = S3Inbox.client

    def client(self):
        c = original(self)
        c.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: calls.append(params["Key"]))
        return c

    monkeypatch.setattr(S3Inbox, "client", client)
    return calls


def _put_multipart(client, bucket, key, body, part=5 * 2**20):
    up = client.create_multipart_upload(Bucket=bucket, Key=f"landing/{key}")
    parts = []
    for n, start in enumerate(range(0, len(body), part), start=1):
        r = client.upload_part(Bucket=bucket, Key=f"landing/{key}", UploadId=up["UploadId"], PartNumber=n,
                               Body=body[start:start + part])
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    client.complete_multipart_upload(Bucket=bucket, Key=f"landing/{key}", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})


def _etag(client, bucket, key) -> str:
    return client.head_object(Bucket=bucket, Key=f"landing/{key}")["ETag"].strip('"')


def test_s3_same_bytes_as_multipart_under_another_name_is_one_run(s3, monkeypatch):
    from carbon_assets.definitions import defs

    client, bucket, resource = s3
    reads = _count_get_object(monkeypatch)
    _put(client, bucket, "acme/2024/energie.csv", BIG)
    d = defs()
    with dg.instance_for_test() as inst:
        first = _tick(d, inst, resource)
        assert [r.partition_key for r in first.run_requests] == ["acme|2024"]
        assert reads == ["landing/acme/2024/energie.csv"]
        inst.add_dynamic_partitions("tenants", ["acme"])
        # the same bytes uploaded in two parts under another name: another ETag, the same content
        _put_multipart(client, bucket, "acme/2024/energie (copie).csv", BIG)
        single, multi = _etag(client, bucket, "acme/2024/energie.csv"), _etag(client, bucket,
                                                                               "acme/2024/energie (copie).csv")
        assert "-" not in single and multi.endswith("-2")  # an ETag id would have seen new content
        reads.clear()
        second = _tick(d, inst, resource, first.cursor)
        assert second.run_requests == [] and "no new files (2 known" in second.skip_message
        assert reads == ["landing/acme/2024/energie (copie).csv"]  # only the object not hashed yet
        # nothing new: nothing downloaded
        reads.clear()
        third = _tick(d, inst, resource, second.cursor)
        assert third.run_requests == [] and reads == []
        assert third.cursor == second.cursor
        # a changed object under the same key: downloaded again, a new run
        _put(client, bucket, "acme/2024/energie.csv", BIG.replace(b",100,", b",101,", 1))
        fourth = _tick(d, inst, resource, third.cursor)
        assert [r.partition_key for r in fourth.run_requests] == ["acme|2024"]
        assert reads == ["landing/acme/2024/energie.csv"]
        assert fourth.run_requests[0].run_key != first.run_requests[0].run_key
    cursor = inbox.InboxCursor.parse(fourth.cursor)
    assert cursor.s3_sha256["landing/acme/2024/energie (copie).csv"] == [multi, bytes_sha256(BIG)]
    assert cursor.seen["acme|2024"] == sorted([bytes_sha256(BIG), bytes_sha256(BIG.replace(b",100,", b",101,", 1))])


def test_s3_old_etag_cursor_is_migrated_without_a_new_run(s3, monkeypatch):
    from carbon_assets.definitions import defs

    client, bucket, resource = s3
    reads = _count_get_object(monkeypatch)
    _put(client, bucket, "acme/2024/a.csv", CSV_A)
    old = json.dumps({"seen": {"acme|2024": ["s3-etag:" + _etag(client, bucket, "acme/2024/a.csv")]}})
    d = defs()
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("tenants", ["acme"])
        migrated = _tick(d, inst, resource, old)
        assert migrated.run_requests == [] and reads == ["landing/acme/2024/a.csv"]  # hashed once
        assert inbox.InboxCursor.parse(migrated.cursor).seen["acme|2024"] == sorted(
            [bytes_sha256(CSV_A), "s3-etag:" + _etag(client, bucket, "acme/2024/a.csv")])
        # now the same bytes under another name are known by their hash
        _put_multipart(client, bucket, "acme/2024/copy.csv", CSV_A)
        assert _tick(d, inst, resource, migrated.cursor).run_requests == []


def test_s3_object_over_the_size_limit_keeps_an_etag_id_and_still_runs(s3, monkeypatch, tmp_path, data_dir):
    from carbon_assets.definitions import defs

    client, bucket, resource = s3
    root = tmp_path / "data"
    shutil.copytree(data_dir / "tenants", root / "tenants")
    shutil.copy(data_dir / "activity_keys.yaml", root / "activity_keys.yaml")
    (root / "tenants" / "acme").mkdir()
    (root / "tenants" / "acme" / "mapping.yaml").write_text(
        (data_dir / "tenants" / "default_mapping.yaml").read_text() + "max_mb: 0.0001\n")  # 104 bytes
    files = ProjectFiles(data_dir=str(root), exports_dir=str(tmp_path / "exports"))
    reads = _count_get_object(monkeypatch)
    big = CSV_A + b"2024-03-31,fuel.diesel,7,L\n"
    assert len(big) == 124  # over the 104-byte limit
    _put(client, bucket, "acme/2024/big.csv", big)
    _put(client, bucket, "globex/2024/g.csv", CSV_G)  # globex: the default limit
    d = defs()
    with dg.instance_for_test() as inst:
        tick = _tick(d, inst, resource, files=files)
        assert sorted(r.partition_key for r in tick.run_requests) == ["acme|2024", "globex|2024"]
        assert reads == ["landing/globex/2024/g.csv"]  # the big one is not downloaded
        cursor = inbox.InboxCursor.parse(tick.cursor)
        assert cursor.seen["acme|2024"] == ["s3-etag:" + _etag(client, bucket, "acme/2024/big.csv")]
        assert list(cursor.s3_sha256) == ["landing/globex/2024/g.csv"]
        result = _materialize(inst, "acme", "2024", files, resource)  # the run reports the size
        rej = result.output_for_node("activity_tables", "activity_rejects")
    assert rej.height == 1 and "over the 0.0 MB limit" in rej["message"][0] and rej["source_file"][0] == "big.csv"


def test_s3_identify_spreads_downloads_over_ticks_and_skips_objects_changed_meanwhile(s3):
    client, bucket, _ = s3
    for name, body in (("a.csv", CSV_A), ("b.csv", CSV_B), ("c.csv", CSV_G)):
        _put(client, bucket, f"acme/2024/{name}", body)
    listed, _ = s3_inbox.scan(client, bucket, "landing")
    limit = {"acme": 10**6}.__getitem__
    first = s3_inbox.identify(client, bucket, listed, {}, limit, budget_bytes=len(CSV_A) + 1)
    assert [o.name for o in first.objects] == ["a.csv"] and [o.name for o in first.pending] == ["b.csv", "c.csv"]
    assert first.downloads == 1 and first.objects[0].content_id == bytes_sha256(CSV_A)
    second = s3_inbox.identify(client, bucket, listed, first.hashes, limit, budget_bytes=len(CSV_A) + 1)
    assert [o.name for o in second.objects] == ["a.csv", "b.csv"] and second.downloads == 1
    third = s3_inbox.identify(client, bucket, listed, second.hashes, limit)
    assert [o.content_id for o in third.objects] == [bytes_sha256(b) for b in (CSV_A, CSV_B, CSV_G)]
    assert third.downloads == 1 and third.pending == []
    # rewritten between the listing and the read: not hashed under the listed ETag, left for the next tick
    _put(client, bucket, "acme/2024/c.csv", CSV_G + b"2024-07-31,water.supply,1,m3\n")
    stale = s3_inbox.identify(client, bucket, listed, first.hashes, limit)
    assert [o.name for o in stale.pending] == ["c.csv"] and "landing/acme/2024/c.csv" not in stale.hashes


def test_s3_a_changed_replaces_yaml_is_new_content(s3):
    from carbon_assets.definitions import defs

    client, bucket, resource = s3
    _put(client, bucket, "acme/2024/a.csv", CSV_A)
    _put(client, bucket, "acme/2024/a rectifie.csv", CSV_A.replace(b"abc", b"5"))
    d = defs()
    with dg.instance_for_test() as inst:
        first = _tick(d, inst, resource)
        inst.add_dynamic_partitions("tenants", ["acme"])
        _put(client, bucket, "acme/2024/replaces.yaml", b"a rectifie.csv: [a.csv]\n")
        second = _tick(d, inst, resource, first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["acme|2024"]
        assert second.run_requests[0].tags["carbon/source_files"] == "replaces.yaml"
        assert _tick(d, inst, resource, second.cursor).run_requests == []
