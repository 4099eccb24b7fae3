"""The benchmark harness on tiny sizes: well-formed results and agreement of the naive and engine
paths where they should agree. No timing assertions."""

import math

import numpy as np
import polars as pl
import pytest

from carbon_assets import bench, cli
from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine import reports
from carbon_assets.engine.emissions import EMISSION_SCHEMA
from carbon_assets.engine.sensitivity import group_moments


def _well_formed(res: bench.Result, n_rows: int) -> None:
    assert isinstance(res, bench.Result) and res.name and res.size and res.target
    assert len(res.rows) == n_rows
    assert all(isinstance(a, str) and math.isfinite(s) and s > 0 for a, s in res.rows)
    assert res.ratio is None or (math.isfinite(res.ratio) and res.ratio > 0)
    assert isinstance(res.met, bool)


def test_synthetic_emissions_is_deterministic_and_has_the_emission_schema():
    a, b = bench.synthetic_emissions(500, 20, seed=3), bench.synthetic_emissions(500, 20, seed=3)
    assert a.schema == pl.Schema(EMISSION_SCHEMA)
    assert a.equals(b) and not a.equals(bench.synthetic_emissions(500, 20, seed=4))
    assert a.height == 500 and (a["match_status"] == "matched").all()
    assert a["factor_id"].n_unique() <= 20 and a.null_count()["quantity_in_factor_unit"][0] == 0
    # a factor belongs to one category, with one distribution
    assert a.group_by("factor_id").agg(pl.col("category").n_unique(), pl.col("dist_p1").n_unique())[
        :, 1:
    ].max().row(0) == (1, 1)


def test_naive_and_engine_agree_when_every_line_has_its_own_factor():
    """Independent factors, one per line: per-line draws are the right model, so naive and engine
    agree in mean (and spread) within sampling error, and both match the analytic mean."""
    em = bench.synthetic_emissions(300, 300, seed=1, own_factor=True)
    assert em["factor_id"].n_unique() == 300
    n = 20_000
    p = reports.problem_for(em)
    eng = mc.group_totals(p, seed=5, n_samples=n)
    naive = bench.naive_group_totals(em, p.groups, n, seed=5)
    counter = bench.naive_group_totals(em, p.groups, n, seed=5, streams="counter")
    analytic, _ = group_moments(p)
    for other in (naive, counter):
        se = np.sqrt(eng.var(axis=1) / n + other.var(axis=1) / n)
        assert np.all(np.abs(eng.mean(axis=1) - other.mean(axis=1)) < 5 * se)
        np.testing.assert_allclose(other.std(axis=1), eng.std(axis=1), rtol=0.05)
        assert np.all(np.abs(other.mean(axis=1) - analytic) < 5 * other.std(axis=1) / math.sqrt(n))


def test_naive_understates_spread_when_lines_share_a_factor():
    """100 lines on one lognormal factor: same mean, but per-line draws shrink the total's sd by ~sqrt(100)."""
    em = bench.synthetic_emissions(100, 1, seed=2, dists=(1, 0, 0)).with_columns(
        pl.lit(None, pl.Float64).alias("quantity_uncertainty_pct"))  # factor uncertainty only
    n = 20_000
    p = reports.problem_for(em)
    eng = mc.group_totals(p, seed=5, n_samples=n)
    naive = bench.naive_group_totals(em, p.groups, n, seed=5)
    t = p.groups.index((reports.TOTAL, reports.TOTAL))
    se = math.sqrt(eng[t].var() / n + naive[t].var() / n)
    assert abs(eng[t].mean() - naive[t].mean()) < 5 * se
    q = em["quantity_in_factor_unit"].to_numpy()
    expected_ratio = q.sum() / math.sqrt((q**2).sum())  # sd(shared) / sd(independent) for a common sigma
    assert eng[t].std() / naive[t].std() == pytest.approx(expected_ratio, rel=0.1)
    assert expected_ratio > 2


def test_bench_naive_tiny():
    res = bench.bench_naive(n_lines=2000, n_samples=200, n_factors=50, naive_samples=100, counter_samples=50)
    _well_formed(res, 4)
    assert "x2" in res.rows[3][0] and "x4" in res.rows[2][0]  # extrapolation is labelled
    assert res.extra["engine_total_std"] > res.extra["naive_total_std"] > 0


def test_bench_kernel_tiny():
    if not mc.kernel_available():
        pytest.skip("Rust kernel not built")
    out = bench.bench_kernel(n_lines=5000, n_factors=40, n_samples=100, n_groups=30)
    assert len(out) == 2
    for res in out:
        _well_formed(res, 2)
        assert res.extra["max_rel_diff"] < 1e-12


def test_coefficient_problem_has_distinct_pairs():
    p = bench.coefficient_problem(nnz=500, n_factors=40, n_groups=30, seed=1)
    assert p.coef_value.size == 500 and p.n_groups == 30 and len(p.factor_ids) == 40
    assert np.unique(p.coef_group * 40 + p.coef_factor).size == 500


def test_bench_sobol_tiny_and_closer_than_sampling_noise():
    res = bench.bench_sobol(n_inputs=10, n=2**11)
    _well_formed(res, 2)
    assert res.extra["max_abs_err_s1"] < 0.05 and res.extra["max_abs_err_st"] < 0.05


def test_bench_distributions_tiny_subprocess():
    res = bench.bench_distributions(n_lines=3000, n_samples=100, n_factors=30)
    _well_formed(res, 1)
    assert res.extra["report_rows"] > 3
    assert res.extra["peak_rss_whole_process_mb"] > 10


def test_table_and_cli_parser():
    res = bench.Result("x", "tiny", [("fast", 0.5), ("slow", 2.0)], 4.0, ">= 3x", True)
    table = bench.format_table([res])
    assert "4.0x" in table and ">= 3x: yes" in table
    assert "n/a at quick sizes" in bench.format_table([res], quick=True)
    args = cli.build_parser().parse_args(["bench", "--quick", "--only", "sobol"])
    assert args.quick and args.only == ["sobol"] and args.func is cli.cmd_bench


def test_cli_bench_runs_one_quick_benchmark(capsys, monkeypatch):
    monkeypatch.setitem(bench.QUICK, "sobol", {"n_inputs": 10, "n": 2**8})
    assert cli.main(["bench", "--quick", "--only", "sobol"]) == cli.EXIT_OK
    assert "closed-form Sobol vs sampling" in capsys.readouterr().out
