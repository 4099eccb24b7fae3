import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from carbon_assets import bench
from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine import reports
from carbon_assets.engine.sensitivity import factor_moments, group_moments, moments, sobol_indices


def _problem():
    medians, sigmas = np.array([0.2, 2.5, 0.05]), np.array([0.05, 0.2, 0.4])
    return mc.McProblem(
        factor_ids=("F0", "F1", "F2"), dist=np.array([1, 1, 1], np.int8), p1=medians, p2=sigmas,
        groups=(("total",),), coef_group=np.zeros(3, np.int64), coef_factor=np.arange(3, dtype=np.int64),
        coef_value=np.array([1000.0, 30.0, 900.0]))


def test_factor_moments_lognormal():
    p = _problem()
    m, v = factor_moments(p)
    assert m[1] == pytest.approx(2.5 * math.exp(0.02))
    assert v[1] == pytest.approx(2.5**2 * math.exp(0.04) * math.expm1(0.04))


def test_moments_of_every_distribution_match_scipy():
    dist = np.array([mc.DIST_NONE, mc.DIST_LOGNORMAL, mc.DIST_NORMAL, mc.DIST_TRIANGULAR, mc.DIST_UNIFORM], np.int8)
    p1, p2 = np.array([3.0, 2.0, -1.0, 5.0, 4.0]), np.array([9.0, 0.3, 0.5, 2.0, 1.0])
    m, v = moments(dist, p1, p2)
    ref = [stats.lognorm(s=0.3, scale=2.0), stats.norm(-1.0, 0.5), stats.triang(c=0.5, loc=3.0, scale=4.0),
           stats.uniform(loc=3.0, scale=2.0)]
    assert (m[0], v[0]) == (3.0, 0.0)
    np.testing.assert_allclose(m[1:], [d.mean() for d in ref], rtol=1e-12)
    np.testing.assert_allclose(v[1:], [d.var() for d in ref], rtol=1e-12)


def test_linear_model_s1_equals_st_and_sums_to_one():
    idx = sobol_indices(_problem())
    np.testing.assert_allclose(idx["s1"].to_numpy(), idx["st"].to_numpy())
    assert idx["s1"].sum() == pytest.approx(1.0)


def _lines() -> pl.DataFrame:
    """A small inventory: 6 factors of four distributions, 3 categories, activity uncertainty on some lines
    (including a factor used in two categories, so the total has two activity cells on it)."""
    rows = [  # scope, category, factor, dist, p1, p2, quantity, u%
        ("1", "fuel", "F0", "lognormal", 0.2, 0.05, 1000.0, 40.0),
        ("1", "fuel", "F0", "lognormal", 0.2, 0.05, 400.0, 20.0),
        ("1", "fuel", "F1", "normal", 2.5, 0.4, 30.0, None),
        ("2", "power", "F2", "triangular", 0.05, 0.03, 900.0, 30.0),
        ("2", "power", "F3", "uniform", 0.3, 0.1, 100.0, 50.0),
        ("3", "goods", "F4", "lognormal", 0.5, 0.6, 80.0, 60.0),
        ("3", "goods", "F2", "triangular", 0.05, 0.03, 500.0, 0.0),
        ("3", "goods", "F5", "lognormal", 1.2, 0.25, 50.0, 25.0),
        ("3", "goods", "F0", "lognormal", 0.2, 0.05, 700.0, 35.0),
    ]
    cols = ["scope", "category", "factor_id", "dist", "dist_p1", "dist_p2", "quantity_in_factor_unit",
            "quantity_uncertainty_pct"]
    df = pl.DataFrame(rows, schema=cols, orient="row")
    return df.with_columns(pl.lit("acme").alias("tenant"), pl.format("A{}", pl.int_range(pl.len())).alias("activity_id"))


def _report_problem(lines: pl.DataFrame) -> mc.McProblem:
    return mc.build_problem(lines, reports.GROUP_COLS, with_total=False, rollups=reports.ROLLUPS)


def test_activity_uncertainty_makes_st_exceed_s1_and_indices_are_exact_variance_shares():
    p = _report_problem(_lines())
    assert p.n_factors + p.n_atoms >= 10
    idx = sobol_indices(p)
    t = p.groups.index((reports.TOTAL, reports.TOTAL))
    tot = idx.filter(pl.col("group_index") == t)
    assert set(tot["input_kind"]) == {"factor", "activity"}
    assert (tot["st"] >= tot["s1"] - 1e-15).all() and (tot["st"] > tot["s1"] + 1e-6).any()
    # sum of S1 + pure interactions = 1: sum S1 + sum over (factor, atom) pairs v_X v_a / V = 1
    _, var = group_moments(p)
    s1_sum = tot["s1"].sum()
    interactions = (tot.filter(pl.col("input_kind") == "activity")["st"] - tot.filter(
        pl.col("input_kind") == "activity")["s1"]).sum()
    assert s1_sum + interactions == pytest.approx(1.0, rel=1e-12)
    assert tot["variance_share_kg2"].max() <= var[t]


def test_group_moments_match_a_large_monte_carlo():
    p = _report_problem(_lines())
    mean, var = group_moments(p)
    n = 200_000
    t = mc.group_totals_numpy(p, seed=3, n_samples=n)
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(t.mean(axis=1) - mean) < 4 * se_mean)
    np.testing.assert_allclose(t.var(axis=1), var, rtol=0.03)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::scipy.stats.DegenerateDataWarning")
def test_closed_form_matches_scipy_sampling_estimator():
    """Closed-form S1/ST vs scipy.stats.sobol_indices on the report model (>= 10 inputs: factors of four
    distributions and activity cells, whose products make S1 < ST), every output group, inside scipy's
    99% BCa bootstrap interval."""
    p = _report_problem(_lines())
    names = p.factor_ids + p.atom_names
    assert len(names) >= 10
    exact_s1, exact_st = bench.closed_form_matrix(p)
    # n stays moderate: scipy's BCa bootstrap jackknifes n x n indices (2**15 needs 8 GiB)
    res = bench.scipy_sobol(p, n=2**12, seed=11, result=True)
    boot = res.bootstrap(confidence_level=0.99, n_resamples=300)
    lo1, hi1 = boot.first_order.confidence_interval.low, boot.first_order.confidence_interval.high
    lot, hit = boot.total_order.confidence_interval.low, boot.total_order.confidence_interval.high
    inside1 = (lo1 <= exact_s1) & (exact_s1 <= hi1)
    insidet = (lot <= exact_st) & (exact_st <= hit)
    t = p.groups.index((reports.TOTAL, reports.TOTAL))
    assert inside1[t].all() and insidet[t].all(), (names, exact_s1[t], lo1[t], hi1[t], exact_st[t], lot[t], hit[t])
    # every group x each input it depends on (for the others both are exactly 0 and the interval is
    # degenerate): all 40 pairs inside their 99% intervals
    used = exact_st > 0
    assert used.sum() >= 25
    assert inside1[used].all() and insidet[used].all()
    assert np.all(np.abs(res.first_order[~used]) < 1e-12) and np.all(np.abs(res.total_order[~used]) < 1e-12)
    assert np.abs(res.first_order - exact_s1).max() < 0.05 and np.abs(res.total_order - exact_st).max() < 0.05
