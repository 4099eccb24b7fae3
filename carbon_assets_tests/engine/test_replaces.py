"""Declared corrections (``replaces.yaml`` in a tenant-year folder) and the inbox cursor's formats."""

import os
import time

import pytest

from carbon_assets.engine import activities, inbox
from carbon_assets.engine.activities import ColumnMapping
from carbon_assets.engine.lineage import bytes_sha256
from carbon_assets_tests.engine.corrected_rows import assert_corrected_rows

OLD = b"date,activity_key,quantity,unit\n2024-03-31,electricity.grid,500,kWh\n2024-03-31,fuel.diesel,x,L\n"
NEW = b"date,activity_key,quantity,unit\n2024-03-31,electricity.grid,450,kWh\n2024-03-31,fuel.diesel,20,L\n"
OTHER = b"date,activity_key,quantity,unit\n2024-05-31,water.supply,3,m3\n2023-05-31,water.supply,4,m3\n"


def _folder(tmp_path, files: dict[str, bytes]):
    d = tmp_path / "acme" / "2024"
    d.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (d / name).write_bytes(body)
    return inbox.files_for(tmp_path, "acme", "2024")


def _error(tmp_path, decl: str, names=("a.csv", "b.csv", "c.csv")) -> str:
    found = _folder(tmp_path, {**{n: n.encode() for n in names}, "replaces.yaml": decl.encode()})
    with pytest.raises(inbox.ReplacesError) as exc:
        inbox.read_replaces(found)
    return str(exc.value)


def test_declared_replacement_whatever_the_names(tmp_path, data_dir):
    decl = b"energie_mars_2024_rectifie.csv: [facture_energie_mars.csv]\n"
    found = _folder(tmp_path, {"facture_energie_mars.csv": OLD, "energie_mars_2024_rectifie.csv": NEW,
                               "eau.csv": OTHER, "replaces.yaml": decl})
    activity, replaces = inbox.read_replaces(found)
    assert [n for n, _ in activity] == ["eau.csv", "energie_mars_2024_rectifie.csv", "facture_energie_mars.csv"]
    assert replaces.declared == {"energie_mars_2024_rectifie.csv": ["facture_energie_mars.csv"]}
    assert replaces.sha256 == bytes_sha256(decl)
    kept, superseded = inbox.current_versions(activity, replaces)
    assert [n for n, _ in kept] == ["eau.csv", "energie_mars_2024_rectifie.csv"]
    assert superseded == {"facture_energie_mars.csv": "energie_mars_2024_rectifie.csv"}

    # the rows: the replaced file's are gone, the replacing file's are there, and per file
    # accepted + rejected = rows read
    mapping = ColumnMapping.load(data_dir / "tenants" / "default_mapping.yaml")
    vocab = activities.load_vocabulary(data_dir / "activity_keys.yaml")
    raw = activities.read_raw(kept, "acme", "2024", mapping)
    acts, rej, _ = activities.normalise_with_report(raw, mapping, vocab)
    assert_corrected_rows(raw, acts, rej)


def test_replaces_yaml_is_never_an_activity_file(tmp_path):
    found = _folder(tmp_path, {"a.csv": OLD, "replaces.yaml": b""})
    activity, replaces = inbox.read_replaces(found)
    assert activity == [("a.csv", tmp_path / "acme" / "2024" / "a.csv")]
    assert replaces.declared == {} and replaces.sha256 == bytes_sha256(b"")
    # even when the caller forgets to read it first
    kept, superseded = inbox.current_versions(found)
    assert [n for n, _ in kept] == ["a.csv"] and superseded == {}
    assert inbox.read_replaces([("a.csv", tmp_path / "acme" / "2024" / "a.csv")])[1] is None


def test_one_file_replacing_several_a_chain_and_a_split(tmp_path):
    found = _folder(tmp_path, {n: n.encode() for n in ("q1.csv", "jan.csv", "feb.csv", "fix.csv", "fix2.csv")}
                    | {"replaces.yaml": b"q1.csv: [jan.csv, feb.csv]\nfix.csv: [q1.csv]\nfix2.csv: [jan.csv]\n"})
    activity, replaces = inbox.read_replaces(found)
    assert replaces.declared == {"fix.csv": ["q1.csv"], "fix2.csv": ["jan.csv"], "q1.csv": ["feb.csv", "jan.csv"]}
    kept, superseded = inbox.current_versions(activity, replaces)
    assert [n for n, _ in kept] == ["fix.csv", "fix2.csv"]
    assert superseded == {"feb.csv": "q1.csv", "jan.csv": "fix2.csv, q1.csv", "q1.csv": "fix.csv"}


def test_suffix_detection_still_applies_to_files_the_declaration_does_not_name(tmp_path):
    found = _folder(tmp_path, {"facture.csv": b"1", "rectif.csv": b"2", "eau.csv": b"3", "eau_v2.csv": b"4",
                               "replaces.yaml": b"rectif.csv: [facture.csv]\n"})
    old = time.time() - 100
    os.utime(tmp_path / "acme" / "2024" / "eau_v2.csv", (old, old))
    kept, superseded = inbox.current_versions(*inbox.read_replaces(found))
    assert [n for n, _ in kept] == ["eau_v2.csv", "rectif.csv"]
    assert superseded == {"eau.csv": "eau_v2.csv", "facture.csv": "rectif.csv"}
    # a file the declaration names is out of suffix detection: facture_v2 does not replace facture
    found = _folder(tmp_path, {"facture_v2.csv": b"5"})
    kept, superseded = inbox.current_versions(*inbox.read_replaces(found))
    assert [n for n, _ in kept] == ["eau_v2.csv", "facture_v2.csv", "rectif.csv"]
    assert superseded == {"eau.csv": "eau_v2.csv", "facture.csv": "rectif.csv"}


def test_a_listed_name_that_is_not_in_the_folder(tmp_path):
    msg = _error(tmp_path, "a.csv: [B.csv]\n")
    assert msg == "replaces.yaml: entry 'a.csv': 'B.csv' is not in the folder (did you mean 'b.csv'?)"
    msg = _error(tmp_path / "2", "nouveau.csv: [a.csv]\n")
    assert msg.startswith("replaces.yaml: entry 'nouveau.csv': 'nouveau.csv' is not in the folder")
    msg = _error(tmp_path / "3", "a.csv: [replaces.yaml]\n")
    assert msg == "replaces.yaml: entry 'a.csv': 'replaces.yaml' is the declaration itself, not an activity file"


def test_a_file_that_replaces_itself(tmp_path):
    assert _error(tmp_path, "a.csv: [b.csv, a.csv]\n") == \
        "replaces.yaml: entry 'a.csv': a file cannot replace itself (value ['b.csv', 'a.csv'])"


def test_a_cycle(tmp_path):
    assert _error(tmp_path, "a.csv: [b.csv]\nb.csv: [c.csv]\nc.csv: [a.csv]\n") == \
        "replaces.yaml: entry 'a.csv': replacements form a cycle (a.csv -> b.csv -> c.csv -> a.csv), value ['b.csv']"


@pytest.mark.parametrize("decl,expected", [
    ("[a.csv, b.csv]\n",
     "replaces.yaml: expected a mapping 'new file: [files it replaces]', got list ['a.csv', 'b.csv']"),
    ("a.csv: b.csv\n",
     "replaces.yaml: entry 'a.csv': expected a non-empty list of file names, got 'b.csv' (write [b.csv])"),
    ("a.csv: []\n", "replaces.yaml: entry 'a.csv': expected a non-empty list of file names, got []"),
    ("a.csv: [1, b.csv]\n", "replaces.yaml: entry 'a.csv': expected a non-empty list of file names, got [1, 'b.csv']"),
    ("a.csv:\n  b.csv: c.csv\n",
     "replaces.yaml: entry 'a.csv': expected a non-empty list of file names, got {'b.csv': 'c.csv'}"),
    ("2024: [a.csv]\n", "replaces.yaml: entry 2024: the file name must be text, got int 2024"),
])
def test_yaml_that_is_not_a_mapping_of_name_to_names(tmp_path, decl, expected):
    assert _error(tmp_path, decl) == expected


def test_yaml_that_does_not_parse(tmp_path):
    msg = _error(tmp_path, "a.csv: [b.csv\n")
    assert msg.startswith("replaces.yaml: not readable as UTF-8 YAML (")


def test_cursor_reads_the_old_format_and_keeps_the_s3_hashes(tmp_path):
    old = '{"seen": {"acme|2024": ["s3-etag:abc"]}}'
    cursor = inbox.InboxCursor.parse(old)
    assert cursor.seen == {"acme|2024": ["s3-etag:abc"]} and cursor.s3_sha256 == {}
    assert cursor.dump() == old  # without S3 hashes the format is unchanged
    cursor = cursor.with_s3_sha256({"landing/acme/2024/a.csv": ["abc", "f" * 64]})
    again = inbox.InboxCursor.parse(cursor.dump())
    assert again.s3_sha256 == {"landing/acme/2024/a.csv": ["abc", "f" * 64]} and again.seen == cursor.seen
    assert inbox.InboxCursor.parse(None) == inbox.InboxCursor({})
