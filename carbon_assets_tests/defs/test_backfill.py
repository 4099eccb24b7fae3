"""An asset backfill of several tenants x years through the UI's GraphQL mutation on `dagster dev`
runs to completion under the project's run queue: never two runs of one tenant at once, never more
than two backfill runs at once (bench_backfill does the same at 50 x 4)."""

from carbon_assets import bench_backfill


def test_backfill_under_run_queue_limits(tmp_path):
    tenants, years = ["t-a", "t-b"], ["2023", "2024"]
    res = bench_backfill.run(tenants, years, tmp_path, timeout_s=600)
    assert res.status in ("COMPLETED_SUCCESS", "COMPLETED") and res.run_statuses == {"SUCCESS": 4}
    assert res.tenant_overlaps == 0 and 1 <= res.max_backfill_concurrency <= 2
    # every tenant-year got its report, dates moved into its year by prepare_data
    for t in tenants:
        for y in years:
            assert (tmp_path / "exports" / t / y / "inventory.json").exists()


def test_overlap_and_concurrency_counting():
    spans = [(0.0, 2.0), (1.0, 3.0), (3.0, 4.0), (3.5, 5.0), (3.6, 3.7)]
    assert bench_backfill._max_concurrency(spans) == 3
    assert bench_backfill._overlaps([(0.0, 1.0), (1.0, 2.0)]) == 0 and bench_backfill._overlaps(spans[:2]) == 1
