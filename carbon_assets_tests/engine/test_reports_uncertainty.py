"""Report-level uncertainty outputs: Bilan Carbone analytic interval, activity uncertainty end to end,
"improve next" ranking, tornado swings, charts."""

import math

import numpy as np
import polars as pl
import pytest

from carbon_assets import bench
from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine import plots, reports
from carbon_assets.engine.params import CalcParams
from carbon_assets.engine.sensitivity import tornado


def _emissions(rows) -> pl.DataFrame:
    """Matched emission lines from (scope, category, factor_id, dist, p1, p2, quantity, u%) tuples."""
    base = bench.synthetic_emissions(len(rows), 1, seed=0)
    cols = ["scope", "category", "factor_id", "dist", "dist_p1", "dist_p2", "quantity_in_factor_unit",
            "quantity_uncertainty_pct"]
    over = pl.DataFrame(rows, schema=dict.fromkeys(cols, None) | {
        "scope": pl.String, "category": pl.String, "factor_id": pl.String, "dist": pl.String,
        "dist_p1": pl.Float64, "dist_p2": pl.Float64, "quantity_in_factor_unit": pl.Float64,
        "quantity_uncertainty_pct": pl.Float64}, orient="row")
    return base.with_columns(over).with_columns(
        (pl.col("quantity_in_factor_unit") * pl.col("dist_p1")).alias("em_kgco2e"))


def test_bilan_carbone_interval_by_hand():
    """Line 1: 1000 kWh x 0.1 kg/kWh, factor +-10% (lognormal), activity +-20%: E1 = 100, s1 = exp(sqrt(ln^2 1.1
    + ln^2 1.2)). Line 2: 100 x 3.0, normal factor with 1.96 sd = 30% of 3.0, no activity uncertainty: E2 = 300,
    s2 = 1.3. Same scope and category: E = 400, ln s = sqrt(100^2 ln^2 s1 + 300^2 ln^2 s2) / 400."""
    em = _emissions([
        ("1", "fuel", "F1", "lognormal", 0.1, math.log(1.1) / 1.959963984540054, 1000.0, 20.0),
        ("1", "fuel", "F2", "normal", 3.0, 0.3 * 3.0 / 1.959963984540054, 100.0, None),
    ])
    out = reports.distributions(em, "bench", "2025", CalcParams(mc_samples=200, mc_seed=1))
    ln_s1 = math.sqrt(math.log(1.1) ** 2 + math.log(1.2) ** 2)
    s = math.exp(math.sqrt((100 * ln_s1) ** 2 + (300 * math.log(1.3)) ** 2) / 400)
    assert s == pytest.approx(1.2255, abs=5e-4)  # by hand: ln s1 = 0.2057, ln s = sqrt(20.57^2 + 78.71^2)/400 = 0.2034
    for scope, cat in (("1", "fuel"), ("1", "all"), ("total", "total")):
        r = out.filter(pl.col("scope") == scope, pl.col("category") == cat).row(0, named=True)
        assert r["deterministic_kgco2e"] == pytest.approx(400.0, rel=1e-12)
        assert r["bc_factor"] == pytest.approx(s, rel=1e-12)
        assert r["bc_low_kgco2e"] == pytest.approx(400.0 / s, rel=1e-12)
        assert r["bc_high_kgco2e"] == pytest.approx(400.0 * s, rel=1e-12)
        assert r["n_lines"] == 2


def test_bilan_carbone_interval_triangular_uniform_and_non_positive_total():
    em = _emissions([
        ("1", "a", "T", "triangular", 2.0, 1.0, 10.0, None),   # u = (1 - sqrt .05) * 1/2
        ("2", "b", "U", "uniform", 2.0, 1.0, 10.0, None),      # u = 0.95 * 1/2
        ("3", "c", "R", "none", -1.0, 0.0, 5.0, None),          # a removal: E = -5
    ])
    out = reports.distributions(em, "bench", "2025", CalcParams(mc_samples=50))
    row = {(r["scope"], r["category"]): r for r in out.iter_rows(named=True)}
    assert row[("1", "a")]["bc_factor"] == pytest.approx(1 + (1 - math.sqrt(0.05)) / 2, rel=1e-12)
    assert row[("2", "b")]["bc_factor"] == pytest.approx(1 + 0.95 / 2, rel=1e-12)
    assert row[("3", "c")]["bc_factor"] is None and row[("3", "c")]["bc_low_kgco2e"] is None


def test_distributions_with_activity_uncertainty_end_to_end():
    em = bench.synthetic_emissions(2000, 40, seed=5)
    assert (em["quantity_uncertainty_pct"] > 0).sum() > 300
    params = CalcParams(mc_samples=4000, mc_seed=7)
    out = reports.distributions(em, "bench", "2025", params, backend="numpy")
    no_act = reports.distributions(em.with_columns(pl.lit(None, pl.Float64).alias("quantity_uncertainty_pct")),
                                   "bench", "2025", params, backend="numpy")
    tot = out.filter(pl.col("scope") == "total").row(0, named=True)
    tot0 = no_act.filter(pl.col("scope") == "total").row(0, named=True)
    assert tot["deterministic_kgco2e"] == pytest.approx(tot0["deterministic_kgco2e"], rel=1e-12)
    assert tot["std_kgco2e"] > tot0["std_kgco2e"]  # activity uncertainty widens the interval
    assert tot["p2_5_kgco2e"] < tot["median_kgco2e"] < tot["p97_5_kgco2e"]
    assert tot["bc_low_kgco2e"] < tot["deterministic_kgco2e"] < tot["bc_high_kgco2e"]
    if mc.kernel_available():
        rust = reports.distributions(em, "bench", "2025", params, backend="rust")
        np.testing.assert_allclose(rust["p97_5_kgco2e"].to_numpy(), out["p97_5_kgco2e"].to_numpy(), rtol=1e-12)


def test_sensitivity_has_activity_inputs_and_improve_next_ranks_by_s1():
    em = bench.synthetic_emissions(500, 10, seed=2).with_columns(pl.lit(60.0).alias("quantity_uncertainty_pct"))
    sens = reports.sensitivity(em, "bench", "2025")
    assert set(sens["input_kind"]) == {"factor", "activity"}
    rank = reports.improve_next(sens, 5)
    assert rank["rank"].to_list() == [1, 2, 3, 4, 5]
    s1 = rank["s1"].to_list()
    assert s1 == sorted(s1, reverse=True)
    assert s1[0] == sens.filter(pl.col("scope") == "total")["s1"].max()


def test_tornado_swings_are_exact_conditional_means():
    """One lognormal factor on 1000 units: E[Y | X = its 2.5th percentile] = 1000 * x_lo."""
    p = mc.McProblem(factor_ids=("F", "G"), dist=np.array([1, 4], np.int8), p1=np.array([0.5, 2.0]),
                     p2=np.array([0.2, 1.0]), groups=(("t",),), coef_group=np.zeros(2, np.int64),
                     coef_factor=np.arange(2, dtype=np.int64), coef_value=np.array([1000.0, 10.0]))
    t = tornado(p, 0)
    assert t["input"].to_list() == ["F", "G"]
    mean = 1000 * 0.5 * math.exp(0.02) + 10 * 2.0
    f = t.row(0, named=True)
    assert f["mean_kgco2e"] == pytest.approx(mean)
    assert f["low_kgco2e"] == pytest.approx(mean + 1000 * (0.5 * math.exp(-1.959963984540054 * 0.2) - 0.5 * math.exp(0.02)))
    g = t.row(1, named=True)  # uniform 2 +- 1: percentiles 1.05 and 2.95
    assert (g["low_kgco2e"], g["high_kgco2e"]) == pytest.approx((mean - 9.5, mean + 9.5))


def test_charts_are_png_markdown_images():
    rs = np.random.default_rng(0)
    png = plots.histogram_png(rs.lognormal(8, 0.2, 2000), 3000.0, "total", interval=(2000.0, 4000.0),
                              bc_interval=(2100.0, 3900.0))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    md = plots.markdown_image(png, "hist")
    assert md.startswith("![hist](data:image/png;base64,iVBOR")
    t = pl.DataFrame({"input": ["a", "b"], "low_kgco2e": [1.0, 2.0], "high_kgco2e": [5.0, 3.0],
                      "mean_kgco2e": [2.5, 2.5]})
    assert plots.tornado_png(t, "t")[:4] == b"\x89PNG"


def test_samples_frame_long_table():
    em = bench.synthetic_emissions(300, 10, seed=1)
    _, problem, totals = reports.simulate(em, "bench", "2025", CalcParams(mc_samples=20), backend="numpy")
    s = reports.samples_frame(problem, totals, "bench", "2025")
    assert s.height == problem.n_groups * 20
    tot = s.filter(pl.col("scope") == "total").sort("sample")["kgco2e"].to_numpy()
    assert tot.tobytes() == totals[problem.groups.index(("total", "total"))].tobytes()


def test_bilan_carbone_quality_scores_to_uncertainty_by_hand():
    from carbon_assets.engine import data_quality as dq

    assert dq.tier_uncertainty_pct(5) == 0.0
    # tier 3: U = 1.1, 1.2, 1.02, 1.1, 1.05 -> ln^2 sum = 0.0091 + 0.0332 + 0.0004 + 0.0091 + 0.0024
    s3 = math.exp(math.sqrt(sum(math.log(u) ** 2 for u in (1.1, 1.2, 1.02, 1.1, 1.05))))
    assert dq.tier_uncertainty_pct(3) == pytest.approx((s3 - 1) * 100, rel=1e-12)
    assert dq.tier_uncertainty_pct(3) == pytest.approx(26.2, abs=0.1)
    mixed = {"reliability": 1, "technical": 5, "geographic": 5, "temporal": 5, "completeness": 5}
    assert dq.uncertainty_pct(mixed) == pytest.approx(50.0, rel=1e-12)  # only reliability 1.5 counts
    with pytest.raises(ValueError, match="scored 1-5"):
        dq.uncertainty_pct({**mixed, "technical": 0})
    lines = pl.DataFrame({"quantity_uncertainty_pct": [7.0, None, None], "data_quality_tier": [1, 3, None]})
    out = dq.fill_from_tier(lines)["quantity_uncertainty_pct"].to_list()
    assert out[0] == 7.0 and out[1] == pytest.approx(dq.tier_uncertainty_pct(3)) and out[2] is None


def test_data_quality_tier_feeds_the_monte_carlo():
    em = bench.synthetic_emissions(400, 10, seed=4).with_columns(pl.lit(None, pl.Float64).alias("quantity_uncertainty_pct"))
    params = CalcParams(mc_samples=2000)
    base = reports.distributions(em, "bench", "2025", params, backend="numpy")
    tiered = reports.distributions(em.with_columns(pl.lit(1).alias("data_quality_tier")), "bench", "2025", params,
                                   backend="numpy")
    std = {r["scope"] + r["category"]: r["std_kgco2e"] for r in base.iter_rows(named=True)}
    for r in tiered.iter_rows(named=True):
        assert r["std_kgco2e"] > std[r["scope"] + r["category"]]
