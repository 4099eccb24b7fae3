"""Factor-load benchmark: every published file a shipped mapping finds, loaded and normalised
through its YAML mapping, timed beside a bare polars read of the same file (no parsing, no
checks) in the same run.

    carbon-assets bench-factors [--factors-dir ../shared/factors] [--repeat 3]

Prints one line per file: factors kept, rows skipped (reported, with their row), best-of-N
seconds for the mapping load and for the bare read, and their ratio.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from carbon_assets.engine import factors


@dataclass(frozen=True)
class FileTiming:
    mapping: str
    file: str
    factors: int
    skipped: int
    load_s: float
    bare_s: float

    @property
    def ratio(self) -> float:
        return self.load_s / self.bare_s if self.bare_s > 0 else float("inf")


def best_of(fn, repeat: int) -> tuple[float, object]:
    """(fastest wall time of ``repeat`` calls, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bare_read(mapping: factors.Mapping, path: Path) -> pl.DataFrame:
    """The file as polars reads it with no mapping at all: the floor any loader pays."""
    read = mapping.spec["read"]
    if path.suffix.lower() == ".xlsx":
        return pl.read_excel(path, sheet_name=read.get("sheet"), infer_schema_length=0)
    return pl.read_csv(path, separator=read.get("separator", ","), infer_schema_length=0,
                       encoding="utf8-lossy" if read.get("encoding", "utf-8").lower() != "utf-8" else "utf8")


def time_file(mapping: factors.Mapping, path: Path, factors_dir: Path, repeat: int) -> FileTiming:
    one = factors.Mapping(path=mapping.path, spec={**mapping.spec, "files": [str(path.relative_to(factors_dir))]},
                          bases=mapping.bases)
    skipped: list[dict] = []

    def load():
        skipped.clear()
        return factors.read_source(one, factors_dir, skipped)

    load_s, df = best_of(load, repeat)
    bare_s, _ = best_of(lambda: bare_read(mapping, path), repeat)
    return FileTiming(mapping.path.name, path.name, df.height, len(skipped), load_s, bare_s)


def run(mappings_dir: Path, factors_dir: Path, repeat: int = 3, out=sys.stdout) -> list[FileTiming]:
    rows = []
    for mapping in factors.discover_mappings(mappings_dir):
        for path in mapping.files(factors_dir):
            if path.exists():
                rows.append(time_file(mapping, path, factors_dir, repeat))
    print(f"factor files under {factors_dir} (best of {repeat}):", file=out)
    print(f"{'mapping':30} {'file':58} {'factors':>8} {'skipped':>8} {'load s':>8} {'bare s':>8} {'ratio':>6}",
          file=out)
    for r in rows:
        print(f"{r.mapping:30} {r.file:58} {r.factors:8d} {r.skipped:8d} {r.load_s:8.3f} {r.bare_s:8.3f} "
              f"{r.ratio:6.1f}", file=out)
    return rows
