"""Exact Sobol indices for the inventory model.

Each group total is Y = sum_f X_f * B_f: X_f the factor (drawn once, shared), B_f the group's
activity quantity on that factor (in the factor's unit). X_f and B_f are independent inputs, and
the terms are independent across f, so with m = mean and v = variance:

    Var Y            = sum_f [ (m_B^2 + v_B)(m_X^2 + v_X) - m_B^2 m_X^2 ]
    S1(X_f) = m_B^2 v_X / Var Y          ST(X_f) = (m_B^2 + v_B) v_X / Var Y
    S1(B_f) = m_X^2 v_B / Var Y          ST(B_f) = (m_X^2 + v_X) v_B / Var Y

With no activity uncertainty (v_B = 0) the model is linear and S1 = ST for every factor.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from carbon_assets.engine.montecarlo import DIST_LOGNORMAL, DIST_NONE, McProblem

SENSITIVITY_SCHEMA = {
    "group_index": pl.Int64, "input": pl.String, "input_kind": pl.String, "s1": pl.Float64, "st": pl.Float64,
    "variance_share_kg2": pl.Float64,
}


def factor_moments(problem: McProblem) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each factor's distribution."""
    p1, p2 = problem.p1, problem.p2
    s2 = p2 * p2
    mean = np.where(problem.dist == DIST_LOGNORMAL, p1 * np.exp(s2 / 2), p1)
    var = np.where(problem.dist == DIST_LOGNORMAL, p1 * p1 * np.exp(s2) * np.expm1(s2), s2)
    var = np.where(problem.dist == DIST_NONE, 0.0, var)
    return mean, var


def sobol_indices(problem: McProblem, activity_var: np.ndarray | None = None) -> pl.DataFrame:
    """One row per (group, input) with non-zero variance: first-order and total indices."""
    m_x, v_x = factor_moments(problem)
    m_b = problem.coef_value
    v_b = np.zeros_like(m_b) if activity_var is None else np.asarray(activity_var, dtype=np.float64)
    f = problem.coef_factor
    term_var = (m_b**2 + v_b) * (m_x[f] ** 2 + v_x[f]) - m_b**2 * m_x[f] ** 2
    total_var = np.zeros(problem.n_groups)
    np.add.at(total_var, problem.coef_group, term_var)
    denom = total_var[problem.coef_group]
    safe = np.where(denom > 0, denom, np.nan)
    rows = {
        "group_index": np.concatenate([problem.coef_group, problem.coef_group]),
        "input": [problem.factor_ids[i] for i in f] + [f"activity:{problem.factor_ids[i]}" for i in f],
        "input_kind": ["factor"] * len(f) + ["activity"] * len(f),
        "s1": np.concatenate([m_b**2 * v_x[f] / safe, m_x[f] ** 2 * v_b / safe]),
        "st": np.concatenate([(m_b**2 + v_b) * v_x[f] / safe, (m_x[f] ** 2 + v_x[f]) * v_b / safe]),
        "variance_share_kg2": np.concatenate([(m_b**2 + v_b) * v_x[f], (m_x[f] ** 2 + v_x[f]) * v_b]),
    }
    df = pl.DataFrame(rows, schema=SENSITIVITY_SCHEMA)
    return df.filter(pl.col("variance_share_kg2") > 0).sort(["group_index", "st", "input"], descending=[False, True, False])
