import math

import numpy as np
import pytest
from scipy import stats

from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine.sensitivity import factor_moments, sobol_indices


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


def test_linear_model_s1_equals_st_and_sums_to_one():
    idx = sobol_indices(_problem())
    np.testing.assert_allclose(idx["s1"].to_numpy(), idx["st"].to_numpy())
    assert idx["s1"].sum() == pytest.approx(1.0)


def test_closed_form_matches_scipy_sampling_estimator():
    """Y = sum X_f B_f with lognormal factors X and normal activities B (products: S1 < ST)."""
    p = _problem()
    b_sd = np.array([150.0, 6.0, 90.0])
    idx = sobol_indices(p, activity_var=b_sd**2)
    exact = {r["input"]: (r["s1"], r["st"]) for r in idx.to_dicts()}
    dists = [stats.lognorm(s=s, scale=m) for m, s in zip(p.p1, p.p2)]
    dists += [stats.norm(loc=q, scale=s) for q, s in zip(p.coef_value, b_sd)]

    def model(x):
        return (x[:3] * x[3:]).sum(axis=0)[None, :]  # shape (n_outputs, n)

    # n stays moderate: scipy's BCa bootstrap jackknifes n x n indices (2**15 needs 8 GiB)
    res = stats.sobol_indices(func=model, n=2**12, dists=dists, rng=np.random.default_rng(11))
    boot = res.bootstrap(confidence_level=0.99, n_resamples=200)
    names = ["F0", "F1", "F2", "activity:F0", "activity:F1", "activity:F2"]
    for i, name in enumerate(names):
        s1, st = exact[name]
        assert boot.first_order.confidence_interval.low[i] - 0.01 <= s1 <= boot.first_order.confidence_interval.high[i] + 0.01
        assert boot.total_order.confidence_interval.low[i] - 0.01 <= st <= boot.total_order.confidence_interval.high[i] + 0.01
        assert st >= s1
    assert exact["F2"][1] > exact["F2"][0]  # interaction with its activity shows in ST only
