import os

import polars as pl
import pytest

from carbon_assets.engine import delta_io, inbox


def _frame(tenant: str, year: str, values: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"tenant": [tenant] * len(values), "year": [year] * len(values), "v": values})


def test_slice_writes_are_idempotent_and_isolated(tmp_path):
    uri = str(tmp_path / "t")
    delta_io.write_slice(_frame("a", "2024", [1.0, 2.0]), uri, {"tenant": "a", "year": "2024"})
    delta_io.write_slice(_frame("b", "2024", [5.0]), uri, {"tenant": "b", "year": "2024"})
    delta_io.write_slice(_frame("a", "2024", [3.0]), uri, {"tenant": "a", "year": "2024"})
    delta_io.write_slice(_frame("a", "2024", [3.0]), uri, {"tenant": "a", "year": "2024"})
    all_rows = delta_io.read_slices(uri).sort("tenant")
    assert all_rows.rows() == [("a", "2024", 3.0), ("b", "2024", 5.0)]
    assert delta_io.read_slices(uri, {"tenant": ["b"], "year": ["2024"]})["v"].to_list() == [5.0]


def test_rows_outside_the_slice_are_refused(tmp_path):
    uri = str(tmp_path / "t")
    with pytest.raises(delta_io.SliceError, match="outside the slice tenant='a'"):
        delta_io.write_slice(pl.concat([_frame("a", "2024", [1.0]), _frame("b", "2024", [2.0])]), uri,
                             {"tenant": "a", "year": "2024"})
    assert delta_io.table_version(uri) is None  # nothing written


def test_empty_slice_write_clears_the_slice(tmp_path):
    uri = str(tmp_path / "t")
    delta_io.write_slice(_frame("a", "2024", [1.0]), uri, {"tenant": "a", "year": "2024"})
    delta_io.write_slice(_frame("a", "2024", []), uri, {"tenant": "a", "year": "2024"})
    assert delta_io.read_slices(uri).height == 0


def test_inbox_scan_refuses_bad_folders_and_keeps_them(tmp_path):
    for rel in ["acme/2024/a.csv", "acme/notayear/b.csv", "Bad Tenant/2024/c.csv", "a|b/2024/d.csv",
                "acme/2025/.hidden"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x\n")
    found, refused = inbox.scan(tmp_path)
    assert [(f.tenant, f.year, f.name) for f in found] == [("acme", "2024", "a.csv")]
    reasons = {os.path.relpath(r.path, tmp_path): r.reason for r in refused}
    assert set(reasons) == {"acme/notayear", "Bad Tenant", "a|b"}
    assert "not a valid tenant slug" in reasons["Bad Tenant"]
    assert (tmp_path / "Bad Tenant/2024/c.csv").exists()  # refused files are left in place


def test_tenant_paths_never_escape_the_inbox(tmp_path):
    with pytest.raises(ValueError):
        inbox.files_for(tmp_path, "../etc", "2024")
    with pytest.raises(ValueError):
        inbox.files_for(tmp_path, "acme", "../../x")


def test_cursor_sees_content_not_names(tmp_path):
    (tmp_path / "acme" / "2024").mkdir(parents=True)
    (tmp_path / "acme" / "2024" / "a.csv").write_text("same bytes\n")
    found, _ = inbox.scan(tmp_path)
    cursor = inbox.InboxCursor.parse(None).advance(found)
    (tmp_path / "acme" / "2024" / "renamed.csv").write_text("same bytes\n")
    (tmp_path / "acme" / "2024" / "a.csv").unlink()
    found, _ = inbox.scan(tmp_path)
    restored = inbox.InboxCursor.parse(cursor.dump())
    assert [f for f in found if restored.is_new(f)] == []
