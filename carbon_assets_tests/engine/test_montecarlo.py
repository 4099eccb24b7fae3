import math

import numpy as np
import polars as pl
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


# ------------------------------------------------------------------ distributions


def test_triangular_and_uniform_by_inverse_cdf_of_one_uniform():
    keys = np.array([rng.stream_key(42, "factor", "T"), rng.stream_key(42, "factor", "U")], np.uint64)
    dist = np.array([mc.DIST_TRIANGULAR, mc.DIST_UNIFORM], np.int8)
    p1, p2 = np.array([5.0, 4.0]), np.array([2.0, 1.0])
    x = mc.draws(dist, p1, p2, keys, 0, 200_000)
    u = rng.sample_uniforms(keys, 0, 200_000)
    # same uniform, analytic inverse CDFs (scipy's), within rounding
    np.testing.assert_allclose(x[0], stats.triang(c=0.5, loc=3.0, scale=4.0).ppf(u[0]), rtol=1e-12)
    np.testing.assert_allclose(x[1], stats.uniform(loc=3.0, scale=2.0).ppf(u[1]), rtol=1e-12)
    assert 3.0 <= x[0].min() and x[0].max() <= 7.0 and 3.0 <= x[1].min() and x[1].max() <= 5.0
    assert stats.kstest(x[0], stats.triang(c=0.5, loc=3.0, scale=4.0).cdf).pvalue > 1e-4
    assert stats.kstest(x[1], stats.uniform(loc=3.0, scale=2.0).cdf).pvalue > 1e-4
    # draws are a function of the sample index only: any chunk gives the same values
    assert mc.draws(dist, p1, p2, keys, 1234, 10).tobytes() == x[:, 1234:1244].tobytes()


def test_normal_negative_draws_are_kept_not_truncated():
    """A normal factor whose interval crosses zero: negative draws stay, so mean and sd are exactly p1, p2."""
    p = _problem(["N"], [mc.DIST_NORMAL], [0.1], [0.1], [(0, 0, 1.0)])
    t = mc.group_totals_numpy(p, seed=8, n_samples=100_000)[0]
    assert (t < 0).mean() == pytest.approx(stats.norm.cdf(-1.0), abs=0.005)
    assert t.mean() == pytest.approx(0.1, abs=4 * 0.1 / math.sqrt(t.size))
    assert t.std() == pytest.approx(0.1, rel=0.01)


# ------------------------------------------------------------------ activity uncertainty


def _lines(n_per_cell=(1, 20, 3), u=(30.0, 25.0, 10.0), seed=0, tenant="acme", year="2024"):
    """Lines in three (scope, category) cells on two factors (one shared by two cells)."""
    rs = np.random.default_rng(seed)
    rows = []
    cells = [("1", "fuel", "F0"), ("3", "goods", "F1"), ("3", "travel", "F0")]
    for (scope, cat, f), n, pct in zip(cells, n_per_cell, u):
        for _ in range(n):
            rows.append((scope, cat, f, float(rs.uniform(10, 1000)), pct))
    rows.append(("1", "fuel", "F1", 50.0, None))  # a certain line
    df = pl.DataFrame(rows, schema=["scope", "category", "factor_id", "quantity_in_factor_unit",
                                    "quantity_uncertainty_pct"], orient="row")
    fac = pl.DataFrame({"factor_id": ["F0", "F1"], "dist": ["lognormal", "normal"], "dist_p1": [0.25, 2.0],
                        "dist_p2": [0.1, 0.3]})
    return df.join(fac, on="factor_id").with_columns(
        pl.lit(tenant).alias("tenant"), pl.format(f"{year}-{{}}", pl.int_range(pl.len())).alias("activity_id"))


def _report(lines, activity="aggregate"):
    return mc.build_problem(lines, ["scope", "category"], with_total=False,
                            rollups=[{"category": "all"}, {"scope": "total", "category": "total"}], activity=activity)


def test_activity_atoms_one_per_cell_and_exact_moments():
    from carbon_assets.engine.sensitivity import group_moments

    lines = _lines()
    p = _report(lines)
    assert p.n_atoms == 3 and p.groups[-1] == ("total", "total")
    assert p.groups == (("1", "all"), ("1", "fuel"), ("3", "all"), ("3", "goods"), ("3", "travel"), ("total", "total"))
    assert p.n_lines.tolist() == [2, 2, 23, 20, 3, 25]
    agg_mean, agg_var = group_moments(p)
    exact_mean, exact_var = group_moments(_report(lines, activity="lines"))
    np.testing.assert_allclose(agg_mean, exact_mean, rtol=1e-12)
    np.testing.assert_allclose(agg_var, exact_var, rtol=1e-12)
    # by hand for the single-line cell ("1", "fuel", F0): lognormal activity sigma = ln 1.3 / 1.96
    q = lines.filter(pl.col("category") == "fuel", pl.col("factor_id") == "F0")["quantity_in_factor_unit"][0]
    a = p.atom_names.index("activity:1/fuel|F0")
    assert p.atom_dist[a] == mc.DIST_LOGNORMAL and p.atom_p1[a] == q
    assert p.atom_p2[a] == pytest.approx(math.log(1.3) / 1.96, rel=1e-15)
    s2 = p.atom_p2[a] ** 2
    assert p.atom_mean[a] == pytest.approx(q * math.exp(s2 / 2)) and p.atom_var[a] == pytest.approx(
        q * q * math.exp(s2) * math.expm1(s2))
    # deterministic value unchanged by activity uncertainty: sum q * published factor
    det = (lines["quantity_in_factor_unit"] * lines["dist_p1"]).sum()
    assert p.deterministic()[-1] == pytest.approx(det, rel=1e-12)


def test_single_line_cells_equal_per_line_sampling_bit_for_bit():
    lines = _lines(n_per_cell=(1, 1, 1))
    a = mc.group_totals_numpy(_report(lines), 42, 3000)
    b = mc.group_totals_numpy(_report(lines, activity="lines"), 42, 3000)
    assert a.tobytes() == b.tobytes()


def test_aggregated_activity_matches_per_line_sampling():
    """The moment-matched cell aggregate vs exact per-line sampling: equal means and variances (analytic),
    and percentiles of every report group within 1% (both MC, 100k samples, independent streams)."""
    lines = _lines(n_per_cell=(1, 20, 3), u=(30.0, 60.0, 40.0))
    n = 100_000
    agg = mc.group_totals_numpy(_report(lines), 42, n)
    per_line = mc.group_totals_numpy(_report(lines, activity="lines"), 42, n)
    for pct in (2.5, 5, 50, 95, 97.5):
        np.testing.assert_allclose(np.percentile(agg, pct, axis=1), np.percentile(per_line, pct, axis=1),
                                   rtol=0.01)
    np.testing.assert_allclose(agg.std(axis=1), per_line.std(axis=1), rtol=0.02)


def test_activity_adds_independent_variance_per_line():
    """20 lines, each +-u on its own quantity, one certain factor: the activity variances add (independent
    lines), unlike factor variance which would scale with the square of the summed quantity."""
    lines = _lines(n_per_cell=(0, 20, 0), u=(0, 20.0, 0)).with_columns(
        pl.lit("none").alias("dist"), pl.lit(0.0).alias("dist_p2"))
    p = _report(lines, activity="lines")
    t = mc.group_totals_numpy(p, 5, 100_000)
    g = p.groups.index(("3", "goods"))
    q = lines.filter(pl.col("category") == "goods")["quantity_in_factor_unit"].to_numpy()
    s2 = (math.log(1.2) / 1.96) ** 2
    sd = 2.0 * math.sqrt(((q**2) * math.exp(s2) * math.expm1(s2)).sum())
    assert t[g].std() == pytest.approx(sd, rel=0.01)


def test_roll_ups_equal_the_sum_of_their_parts_in_every_sample():
    p = _report(_lines())
    t = mc.group_totals_numpy(p, 1, 2000)
    gi = {g: i for i, g in enumerate(p.groups)}
    np.testing.assert_allclose(t[gi[("3", "all")]], t[gi[("3", "goods")]] + t[gi[("3", "travel")]], rtol=1e-12)
    np.testing.assert_allclose(t[gi[("total", "total")]], t[gi[("1", "all")]] + t[gi[("3", "all")]], rtol=1e-12)


# ------------------------------------------------------------------ reproducible streams (issue item 3)


def test_identical_for_any_chunk_size_with_activity_atoms():
    p = _report(_lines())
    ref = mc.group_totals_numpy(p, 9, 1500, chunk=1500)
    for chunk in (1, 7, 256, 4096):
        assert mc.group_totals_numpy(p, 9, 1500, chunk=chunk).tobytes() == ref.tobytes()


def test_identical_for_any_subset_of_output_groups():
    """A group's samples depend only on its own lines: the problem built from scope 3 alone gives the
    scope 3 groups bit for bit (factor streams keyed by factor id, activity by (tenant, activity_id))."""
    lines = _lines()
    full = _report(lines)
    sub = _report(lines.filter(pl.col("scope") == "3"))
    a, b = mc.group_totals_numpy(full, 7, 1000), mc.group_totals_numpy(sub, 7, 1000)
    for g in (("3", "goods"), ("3", "travel"), ("3", "all")):
        assert a[full.groups.index(g)].tobytes() == b[sub.groups.index(g)].tobytes()


def test_row_order_does_not_change_samples():
    lines = _lines()
    ref = mc.group_totals_numpy(_report(lines), 3, 500)
    shuffled = lines.sample(fraction=1.0, shuffle=True, seed=1)
    assert mc.group_totals_numpy(_report(shuffled), 3, 500).tobytes() == ref.tobytes()


def test_activity_streams_keyed_by_tenant_and_activity_id():
    h = rng.line_hashes(["acme", "acme", "globex"], ["A1", "A2", "A1"])
    assert len(set(h.tolist())) == 3
    assert rng.line_keys(42, h).tobytes() == rng.line_keys(42, rng.line_hashes(["acme", "acme", "globex"],
                                                                               ["A1", "A2", "A1"])).tobytes()
    assert not np.any(rng.line_keys(42, h) == rng.line_keys(43, h))


def test_same_factor_same_draws_in_two_years_and_year_over_year_spread():
    """Two years of one tenant with different activities use factor F0: identical F0 draws in both years, so
    the year-over-year change has the small spread of (q2 - q1) X, not of two independent draws."""
    y1 = _lines(n_per_cell=(3, 0, 0), u=(0, 0, 0), seed=1, year="2023")
    y2 = _lines(n_per_cell=(3, 0, 0), u=(0, 0, 0), seed=2, year="2024")
    p1_, p2_ = _report(y1), _report(y2)
    f1, f2 = mc.factor_draws(p1_, 42, 0, 5000), mc.factor_draws(p2_, 42, 0, 5000)
    assert f1[p1_.factor_ids.index("F0")].tobytes() == f2[p2_.factor_ids.index("F0")].tobytes()
    n = 50_000
    t1 = mc.group_totals_numpy(p1_, 42, n)[p1_.groups.index(("1", "fuel"))]
    t2 = mc.group_totals_numpy(p2_, 42, n)[p2_.groups.index(("1", "fuel"))]
    q1 = y1.filter(pl.col("factor_id") == "F0")["quantity_in_factor_unit"].sum()
    q2 = y2.filter(pl.col("factor_id") == "F0")["quantity_in_factor_unit"].sum()
    s2 = 0.1**2
    sd_x = 0.25 * math.sqrt(math.exp(s2) * math.expm1(s2))
    assert (t2 - t1).std() == pytest.approx(abs(q2 - q1) * sd_x, rel=0.02)
    independent = math.hypot(q1, q2) * sd_x
    assert (t2 - t1).std() < 0.5 * independent


# ------------------------------------------------------------------ validated numbers (issue item 5)


def test_sum_of_lognormals_mean_and_variance_within_three_standard_errors():
    """12 independent lognormal factors, each on its own line: E and Var of the sum are analytic."""
    rs = np.random.default_rng(2)
    nf = 12
    med, sig, q = rs.uniform(0.1, 3, nf), rs.uniform(0.05, 0.8, nf), rs.uniform(10, 500, nf)
    p = _problem([f"F{i}" for i in range(nf)], [1] * nf, med, sig, [(0, i, q[i]) for i in range(nf)])
    n = 200_000
    t = mc.group_totals_numpy(p, 11, n)[0]
    mean = (q * med * np.exp(sig**2 / 2)).sum()
    var = (q**2 * med**2 * np.exp(sig**2) * np.expm1(sig**2)).sum()
    assert abs(t.mean() - mean) < 3 * math.sqrt(var / n)
    m4 = ((t - t.mean()) ** 4).mean()
    se_var = math.sqrt((m4 - t.var() ** 2) / n)
    assert abs(t.var(ddof=1) - var) < 3 * se_var


def test_single_lognormal_factor_percentiles_within_one_percent():
    median, sigma, q = 0.052, math.log(1.3) / 1.96, 1000.0
    p = _problem(["F"], [1], [median], [sigma], [(0, 0, q)])
    s = mc.summarize(mc.group_totals_numpy(p, 42, 100_000))
    for key, pct in (("p2_5", 2.5), ("p5", 5), ("median", 50), ("p95", 95), ("p97_5", 97.5)):
        analytic = q * median * math.exp(stats.norm.ppf(pct / 100) * sigma)
        assert s[key][0] == pytest.approx(analytic, rel=0.01)


def test_batch_stream_keys_equal_single_keys():
    names = ["DEFRA:1_100_1004_6", 'a"b', "x\\y", "é ü", "tab\there", "ctrl\x01", "del\x7f", "", "F1"]
    want = np.array([rng.stream_key(42, "factor", n) for n in names], np.uint64)
    assert rng.stream_keys(42, "factor", names).tobytes() == want.tobytes()


def test_box_muller_pairs_use_both_branches():
    """Normals 2p and 2p+1 are r cos(theta) and r sin(theta) of pair p (words 4p, 4p+1): uncorrelated,
    and any chunk start (odd or even) gives the same values."""
    keys = np.array([rng.stream_key(3, "factor", "F")], np.uint64)
    z = rng.standard_normals(keys, 0, 100_001)[0]
    u1, u2 = rng.uniforms(keys[0], np.uint64(4) * 7), rng.uniforms(keys[0], np.uint64(4) * 7 + np.uint64(1))
    r = math.sqrt(-2 * math.log(u1))
    assert z[14] == pytest.approx(r * math.cos(rng.TWO_PI * u2), rel=1e-15)
    assert z[15] == pytest.approx(r * math.sin(rng.TWO_PI * u2), rel=1e-15)
    assert abs(np.corrcoef(z[0:-1:2], z[1::2])[0, 1]) < 4 / math.sqrt(50_000)
    for start in (1, 2, 77):
        assert rng.standard_normals(keys, start, 50)[0].tobytes() == z[start : start + 50].tobytes()
