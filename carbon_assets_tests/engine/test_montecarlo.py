import math

import numpy as np
import pytest
from scipy import stats

from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine import rng


def _problem(factor_ids, dist, p1, p2, coefs, groups=None) -> mc.McProblem:
    g, f, q = zip(*coefs)
    n_groups = max(g) + 1
    return mc.McProblem(
        factor_ids=tuple(factor_ids), dist=np.array(dist, dtype=np.int8), p1=np.array(p1, float),
        p2=np.array(p2, float), groups=tuple(groups or [(str(i),) for i in range(n_groups)]),
        coef_group=np.array(g, np.int64), coef_factor=np.array(f, np.int64), coef_value=np.array(q, float))


def test_uniforms_strictly_inside_unit_interval_and_normals_standard():
    u = rng.uniforms(np.array([rng.stream_key(1, "x")], np.uint64), np.arange(200_000, dtype=np.uint64))
    assert 0.0 < u.min() and u.max() < 1.0
    z = rng.standard_normals(np.array([rng.stream_key(7, "f")], np.uint64), 0, 200_000)[0]
    assert abs(z.mean()) < 4 / math.sqrt(z.size) and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_single_lognormal_factor_matches_analytic_moments():
    """FR grid 0.052 kgCO2e/kWh, +-10% (95%) -> sigma_ln = ln(1.1)/1.96; 100 MWh."""
    median, sigma, q, n = 0.052, math.log(1.1) / 1.96, 100_000.0, 200_000
    p = _problem(["custom:ADEME-42513"], [mc.DIST_LOGNORMAL], [median], [sigma], [(0, 0, q)])
    t = mc.group_totals_numpy(p, seed=42, n_samples=n)[0]
    s2 = sigma**2
    mean = q * median * math.exp(s2 / 2)
    sd = q * median * math.sqrt(math.exp(s2) * math.expm1(s2))
    assert abs(t.mean() - mean) < 3 * sd / math.sqrt(n)
    assert t.std() == pytest.approx(sd, rel=0.01)
    dist = stats.lognorm(s=sigma, scale=q * median)
    for pct in (5, 95):
        analytic = q * median * math.exp(stats.norm.ppf(pct / 100) * sigma)
        se = math.sqrt(pct / 100 * (1 - pct / 100) / n) / dist.pdf(analytic)  # quantile standard error
        assert abs(np.percentile(t, pct) - analytic) < 4 * se
        assert np.percentile(t, pct) == pytest.approx(analytic, rel=0.01)


def test_shared_factor_is_drawn_once_per_sample():
    """Two groups on one factor move together (correlation 1); drawing per line would decorrelate them."""
    p = _problem(["F"], [mc.DIST_LOGNORMAL], [2.0], [0.3], [(0, 0, 10.0), (1, 0, 5.0)])
    t = mc.group_totals_numpy(p, seed=1, n_samples=5000)
    np.testing.assert_allclose(t[0], 2 * t[1], rtol=1e-15)


def test_total_variance_of_two_lines_on_one_factor_is_not_shrunk():
    """Total of 2 lines sharing a factor: sd = 2x one line's sd (independent draws would give sqrt 2)."""
    p = _problem(["F"], [mc.DIST_NORMAL], [1.0], [0.1], [(0, 0, 1.0), (0, 0, 1.0)])
    t = mc.group_totals_numpy(p, seed=3, n_samples=100_000)[0]
    assert t.std() == pytest.approx(0.2, rel=0.02)


def test_normal_and_none_distributions():
    p = _problem(["A", "B"], [mc.DIST_NORMAL, mc.DIST_NONE], [-1.0, 3.0], [0.5, 99.0], [(0, 0, 1.0), (1, 1, 2.0)])
    t = mc.group_totals_numpy(p, seed=5, n_samples=50_000)
    assert np.all(t[1] == 6.0)  # 'none' ignores p2
    assert t[0].mean() == pytest.approx(-1.0, abs=4 * 0.5 / math.sqrt(50_000))  # negative draws kept


def test_results_do_not_depend_on_chunking_or_groups_requested():
    rs = np.random.default_rng(0)
    nf = 20
    coefs = [(g, int(f), float(q)) for g in range(4) for f, q in zip(rs.choice(nf, 6, replace=False),
                                                                   rs.uniform(1, 100, 6))]
    p = _problem([f"F{i}" for i in range(nf)], [1] * nf, rs.uniform(0.1, 2, nf), rs.uniform(0.01, 0.4, nf), coefs)
    a = mc.group_totals_numpy(p, 9, 1000, chunk=1000)
    b = mc.group_totals_numpy(p, 9, 1000, chunk=37)
    assert a.tobytes() == b.tobytes()
    only_g2 = _problem(p.factor_ids, p.dist, p.p1, p.p2, [(0, f, q) for g, f, q in coefs if g == 2])
    assert mc.group_totals_numpy(only_g2, 9, 1000)[0].tobytes() == a[2].tobytes()


def test_same_factor_same_draws_in_any_problem():
    """Draws are keyed by (seed, factor_id): the factor gets the same draws in two different years."""
    y1 = _problem(["DEFRA:7_400_4000_5"], [1], [0.20705], [0.05], [(0, 0, 1.0)])
    y2 = _problem(["custom:x", "DEFRA:7_400_4000_5"], [1, 1], [1.0, 0.20705], [0.1, 0.05], [(0, 1, 1.0)])
    assert mc.group_totals_numpy(y1, 42, 500).tobytes() == mc.group_totals_numpy(y2, 42, 500).tobytes()


def test_deterministic_value_uses_published_values():
    p = _problem(["A", "B"], [1, 2], [0.5, 2.0], [0.2, 0.3], [(0, 0, 10.0), (0, 1, 1.0)])
    assert p.deterministic()[0] == pytest.approx(7.0)


def test_problem_quantities_do_not_depend_on_row_order():
    """Group sums are taken in a fixed order: shuffled input rows give bit-identical coefficients."""
    import polars as pl

    rs = np.random.default_rng(4)
    n = 50_000
    lines = pl.DataFrame({
        "scope": rs.choice(["1", "2", "3"], n), "category": rs.choice(["a", "b"], n),
        "factor_id": [f"F{i}" for i in rs.integers(0, 40, n)], "dist": ["lognormal"] * n,
        "dist_p1": 0.0, "dist_p2": 0.1, "quantity_in_factor_unit": rs.lognormal(3, 2, n),
    }).with_columns(pl.col("dist_p1") + pl.col("factor_id").str.slice(1).cast(pl.Float64) / 10 + 0.1)
    ref = mc.build_problem(lines, ["scope", "category"])
    for seed in range(5):
        p = mc.build_problem(lines.sample(fraction=1.0, shuffle=True, seed=seed), ["scope", "category"])
        assert p.groups == ref.groups and p.factor_ids == ref.factor_ids
        assert p.coef_value.tobytes() == ref.coef_value.tobytes()
        assert p.coef_group.tobytes() == ref.coef_group.tobytes()
    by_hand = lines.filter(pl.col("factor_id") == "F7")["quantity_in_factor_unit"].to_numpy()
    total_f7 = ref.coef_value[(ref.coef_group == len(ref.groups) - 1) & (ref.coef_factor == ref.factor_ids.index("F7"))]
    assert total_f7[0] == pytest.approx(by_hand.sum(), rel=1e-12)
