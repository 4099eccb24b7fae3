"""Backfill benchmark: N tenants x Y years launched as one asset backfill through the UI's GraphQL
mutation on a real `dagster dev` (webserver + daemon) with the project's dagster.yaml run queue
(4 runs at once, 2 backfill runs at once, 1 run per tenant at a time).

    carbon-assets bench-backfill [--tenants 50] [--years 2022 2023 2024 2025]

Every tenant gets a copy of the demo tenant acme-fr's files (each year's inbox folder gets the
2024 files with their dates moved to that year). Prints the total wall time, the per-partition
overhead (wall time / partitions) beside the mean run duration, and checks the queue limits held:
no two runs of one tenant overlapped, never more than 2 backfill runs at once.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from carbon_assets import devserver, runner, settings

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}"""
BACKFILL_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) { ... on PartitionBackfill { status } }
}"""
DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class BackfillResult:
    partitions: int
    wall_s: float
    status: str
    run_statuses: dict[str, int]
    mean_run_s: float
    max_backfill_concurrency: int
    tenant_overlaps: int  # runs of one tenant that started before the previous one ended (must be 0)


def prepare_data(root: Path, tenants: list[str], years: list[str]) -> Path:
    """A data folder like data/ whose inbox holds ``tenants`` x ``years`` copies of acme-fr 2024."""
    src = settings.data_dir()
    data = root / "data"
    shutil.copytree(src, data, ignore=shutil.ignore_patterns("inbox", "lake", "exports", "registry.sqlite"))
    for tenant in tenants:
        for year in years:
            dst = data / "inbox" / tenant / year
            dst.mkdir(parents=True)
            for f in sorted((src / "inbox" / "acme-fr" / "2024").iterdir()):
                (dst / f.name).write_text(f.read_text(encoding="utf-8").replace("2024-", f"{year}-"),
                                          encoding="utf-8")
    return data


def _overlaps(intervals: list[tuple[float, float]]) -> int:
    spans = sorted(intervals)
    return sum(1 for (_, e0), (s1, _) in itertools.pairwise(spans) if s1 < e0)


def _max_concurrency(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    live = best = 0
    for _, d in events:
        live += d
        best = max(best, live)
    return best


def run(tenants: list[str], years: list[str], root: Path, timeout_s: float = 3600.0,
        executor: str = "in_process") -> BackfillResult:
    """``executor``: in_process (a partition's steps in its run process; small partitions) or
    multiprocess (one process per step, Dagster's default: pays an interpreter start per step)."""
    import dagster as dg

    data = prepare_data(root, tenants, years)
    home = devserver.dagster_home(root)
    carbon = devserver.carbon_env(root, data)
    with settings.env(carbon):
        from carbon_assets.definitions import defs

        d = defs()
        with dg.DagsterInstance.from_config(str(home)) as inst:
            runner.materialize_factors(d, inst, log_level="WARNING")
            inst.add_dynamic_partitions("tenants", tenants)
        assets = sorted(d.resolve_job_def("tenant_year_job").asset_layer.selected_asset_keys)
    keys = [str(dg.MultiPartitionKey({"tenant": t, "year": y})) for t in tenants for y in years]
    with devserver.running(home, carbon) as server:
        t0 = time.monotonic()
        launched = server.graphql(LAUNCH_BACKFILL, {"backfillParams": {
            "assetSelection": [{"path": k.path} for k in assets], "partitionNames": keys,
            "runConfigData": {"execution": {"config": {executor: {}}}},
            "title": f"bench {len(tenants)} tenants x {len(years)} years"}})["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill not launched: {launched}")
        backfill_id, status = launched["backfillId"], None
        while time.monotonic() - t0 < timeout_s:
            status = server.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]["status"]
            if status in DONE:
                break
            time.sleep(2)
        wall = time.monotonic() - t0
    with dg.DagsterInstance.from_config(str(home)) as inst:
        records = inst.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        statuses: dict[str, int] = {}
        by_tenant: dict[str, list[tuple[float, float]]] = {}
        spans = []
        for r in records:
            statuses[r.dagster_run.status.value] = statuses.get(r.dagster_run.status.value, 0) + 1
            if r.start_time and r.end_time:
                spans.append((r.start_time, r.end_time))
                by_tenant.setdefault(r.dagster_run.tags["dagster/partition/tenant"], []).append(spans[-1])
    return BackfillResult(
        partitions=len(keys), wall_s=wall, status=str(status), run_statuses=statuses,
        mean_run_s=sum(e - s for s, e in spans) / len(spans) if spans else float("nan"),
        max_backfill_concurrency=_max_concurrency(spans),
        tenant_overlaps=sum(_overlaps(v) for v in by_tenant.values()))


def main(n_tenants: int, years: list[str], timeout_s: float = 7200.0, executor: str = "in_process",
         out=sys.stdout) -> BackfillResult:
    tenants = [f"tenant-{i:03d}" for i in range(n_tenants)]
    with tempfile.TemporaryDirectory(prefix="carbon_backfill_") as tmp:
        res = run(tenants, years, Path(tmp), timeout_s=timeout_s, executor=executor)
    print(f"backfill {n_tenants} tenants x {len(years)} years = {res.partitions} partitions ({executor} executor): "
          f"{res.status}, "
          f"runs {res.run_statuses}", file=out)
    print(f"  total wall time        {res.wall_s:8.1f} s", file=out)
    print(f"  per partition (wall)   {res.wall_s / res.partitions:8.2f} s   "
          f"(mean run duration {res.mean_run_s:.2f} s; 2 backfill runs at a time)", file=out)
    print(f"  max backfill runs at once {res.max_backfill_concurrency}; overlapping runs of one tenant "
          f"{res.tenant_overlaps}", file=out)
    return res
