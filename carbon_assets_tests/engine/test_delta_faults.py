"""A writer killed (SIGKILL) in the middle of a slice write leaves the Delta table at its previous
version with its previous rows; the rerun succeeds and commits the next version."""

import os
import signal
import subprocess
import sys
import time

import polars as pl

from carbon_assets.engine import delta_io

WRITER = """
import sys, polars as pl
from carbon_assets.engine import delta_io
n = int(sys.argv[2])
df = pl.DataFrame({"tenant": ["acme-fr"] * n, "year": ["2024"] * n, "x": pl.int_range(n, eager=True).cast(pl.Float64)})
print("writing", flush=True)
delta_io.write_slice(df, sys.argv[1], {"tenant": "acme-fr", "year": "2024"})
print("committed", flush=True)
"""


def _first_version(uri: str) -> pl.DataFrame:
    df = pl.DataFrame({"tenant": ["acme-fr", "globex-uk"], "year": ["2024", "2024"], "x": [1.0, 2.0]})
    delta_io.write_slice(df.head(1), uri, {"tenant": "acme-fr", "year": "2024"})
    delta_io.write_slice(df.tail(1), uri, {"tenant": "globex-uk", "year": "2024"})
    return delta_io.read_slices(uri).sort("tenant")


def test_killed_writer_leaves_the_previous_version(tmp_path):
    uri = str(tmp_path / "emissions")
    before = _first_version(uri)
    assert delta_io.table_version(uri) == 1
    # 40M rows: several seconds of Parquet writing before the commit; killed once it has started
    proc = subprocess.Popen([sys.executable, "-c", WRITER, uri, "40000000"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(1.0)
    assert proc.poll() is None, "the writer finished before it could be killed: make the slice larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # data files may have been left behind, but no commit: same version, same rows
    assert delta_io.table_version(uri) == 1
    assert delta_io.read_slices(uri).sort("tenant").equals(before)
    # the rerun (a smaller corrected slice) commits version 2 and replaces exactly its slice
    fixed = pl.DataFrame({"tenant": ["acme-fr"] * 3, "year": ["2024"] * 3, "x": [7.0, 8.0, 9.0]})
    assert delta_io.write_slice(fixed, uri, {"tenant": "acme-fr", "year": "2024"}) == 2
    after = delta_io.read_slices(uri).sort("tenant", "x")
    assert after["x"].to_list() == [7.0, 8.0, 9.0, 2.0] and after["tenant"].to_list()[-1] == "globex-uk"
