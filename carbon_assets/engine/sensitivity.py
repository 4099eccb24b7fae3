"""Exact Sobol indices for the inventory model.

For output group G the model (see ``montecarlo``) is Y = sum_f X_f * B_f with
B_f = C[G, f] + sum_{atoms a in G on factor f} R_a: X_f the factor (drawn once, shared), R_a the
uncertain activity of one (finest group, factor) cell. All inputs (factors, activity atoms) are
independent, and the terms X_f B_f involve disjoint inputs, so with m = mean and v = variance,
m_B = C + sum_a m_a and v_B = sum_a v_a:

    Var Y     = sum_f [ (m_B^2 + v_B)(m_X^2 + v_X) - m_B^2 m_X^2 ]
    S1(X_f) = m_B^2 v_X / Var Y          ST(X_f) = (m_B^2 + v_B) v_X / Var Y
    S1(R_a) = m_X^2 v_a / Var Y          ST(R_a) = (m_X^2 + v_X) v_a / Var Y

(first order Var E[Y | input] / Var Y, total E Var[Y | all other inputs] / Var Y). With no
activity uncertainty the model is linear and S1 = ST; with it, ST - S1 = v_X v_a / Var Y is the
factor x activity interaction, counted in the total index of both. An atom is a group of lines
(their summed activity); its indices are the closed indices of that group of inputs, exact
whatever the shape of the lines' distribution, since only means and variances enter.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from carbon_assets.engine.montecarlo import (
    DIST_LOGNORMAL,
    DIST_NONE,
    DIST_NORMAL,
    DIST_TRIANGULAR,
    DIST_UNIFORM,
    McProblem,
)

SENSITIVITY_SCHEMA = {
    "group_index": pl.Int64, "input": pl.String, "input_kind": pl.String, "s1": pl.Float64, "st": pl.Float64,
    "variance_share_kg2": pl.Float64,
}


def moments(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each distribution (codes of ``montecarlo``)."""
    s2 = p2 * p2
    mean = np.where(dist == DIST_LOGNORMAL, p1 * np.exp(s2 / 2), p1)
    var = np.select(
        [dist == DIST_LOGNORMAL, dist == DIST_NORMAL, dist == DIST_TRIANGULAR, dist == DIST_UNIFORM],
        [p1 * p1 * np.exp(s2) * np.expm1(s2), s2, s2 / 6.0, s2 / 3.0], 0.0)
    return mean, np.where(dist == DIST_NONE, 0.0, var)


def factor_moments(problem: McProblem) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each factor's distribution."""
    return moments(problem.dist, problem.p1, problem.p2)


def group_moments(problem: McProblem) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of each group total (the variance is the indices' denominator)."""
    m_x, _, _, _, _, _, pg, pf, m_b, _, total = _terms(problem)
    return np.bincount(pg, weights=m_x[pf] * m_b, minlength=problem.n_groups), total


def _terms(problem: McProblem):
    m_x, v_x = factor_moments(problem)
    nf = problem.n_factors
    col = problem.coef_factor
    is_atom = col >= nf
    a = np.where(is_atom, col - nf, 0)
    f = np.where(is_atom, problem.atom_factor[a] if problem.n_atoms else 0, col)
    c = problem.coef_value
    mb_k = np.where(is_atom, c * (problem.atom_mean[a] if problem.n_atoms else 0.0), c)
    vb_k = np.where(is_atom, c * c * (problem.atom_var[a] if problem.n_atoms else 0.0), 0.0)
    pair, inv = np.unique(problem.coef_group * nf + f, return_inverse=True)
    m_b = np.bincount(inv, weights=mb_k, minlength=pair.size)
    v_b = np.bincount(inv, weights=vb_k, minlength=pair.size)
    pg, pf = pair // nf, pair % nf
    term = (m_b**2 + v_b) * (m_x[pf] ** 2 + v_x[pf]) - m_b**2 * m_x[pf] ** 2
    total = np.bincount(pg, weights=term, minlength=problem.n_groups)
    return m_x, v_x, is_atom, a, f, vb_k, pg, pf, m_b, v_b, total


def sobol_indices(problem: McProblem) -> pl.DataFrame:
    """One row per (group, input) with non-zero variance: first-order and total indices.

    Inputs are named by factor id (input_kind "factor") and by atom name ("activity:...",
    input_kind "activity"); ``variance_share_kg2`` is the input's total-effect variance. Rows sorted by
    group, then ST descending, then input name.
    """
    m_x, v_x, is_atom, a, f, vb_k, pg, pf, m_b, v_b, total = _terms(problem)
    nf = problem.n_factors
    denom = np.where(total > 0, total, np.nan)
    fshare = (m_b**2 + v_b) * v_x[pf]
    keep = fshare > 0
    ak = np.flatnonzero(is_atom & (vb_k > 0))
    g_a, f_a, v_a = problem.coef_group[ak], f[ak], vb_k[ak]
    group = np.concatenate([pg[keep], g_a]).astype(np.int64)
    name_idx = np.concatenate([pf[keep], nf + a[ak]])  # into factor_ids + atom_names
    s1 = np.concatenate([m_b[keep] ** 2 * v_x[pf[keep]] / denom[pg[keep]], m_x[f_a] ** 2 * v_a / denom[g_a]])
    share = np.concatenate([fshare[keep], (m_x[f_a] ** 2 + v_x[f_a]) * v_a])
    st = share / denom[group]
    names = np.array(problem.factor_ids + problem.atom_names, dtype=str)
    name_rank = np.empty(names.size, dtype=np.int64)
    name_rank[np.argsort(names, kind="stable")] = np.arange(names.size)
    order = np.lexsort((name_rank[name_idx], -st, group))
    name_idx = name_idx[order]
    return pl.DataFrame({
        "group_index": group[order],
        "input": pl.Series(names.tolist(), dtype=pl.String).gather(name_idx),
        "input_kind": pl.Series(["factor", "activity"], dtype=pl.String).gather((name_idx >= nf).astype(np.int64)),
        "s1": s1[order], "st": st[order], "variance_share_kg2": share[order],
    }, schema=SENSITIVITY_SCHEMA)


def quantiles(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray, prob: float) -> np.ndarray:
    """The ``prob`` quantile of each distribution (codes of ``montecarlo``; sign-aware for lognormal p1 < 0)."""
    from scipy.special import ndtri

    z = float(ndtri(prob))
    logn = p1 * np.exp(p2 * np.where(p1 < 0, -z, z))
    tri = np.where(prob < 0.5, (p1 - p2) + p2 * np.sqrt(2.0 * prob), (p1 + p2) - p2 * np.sqrt(2.0 * (1.0 - prob)))
    return np.select([dist == DIST_LOGNORMAL, dist == DIST_NORMAL, dist == DIST_TRIANGULAR, dist == DIST_UNIFORM],
                     [logn, p1 + p2 * z, tri, p1 + p2 * (2.0 * prob - 1.0)], p1)


def tornado(problem: McProblem, group_index: int, top: int = 12, prob: float = 0.025) -> pl.DataFrame:
    """One-at-a-time swings of group ``group_index``'s expected total: E[Y | input at its ``prob`` and
    1 - ``prob`` quantiles], every other input left random. Exact for this model: E[Y | X_f = x] =
    E[Y] + m_B (x - m_X) for a factor, E[Y | R_a = r] = E[Y] + m_X (r - m_a) for an activity cell.
    Rows sorted by swing, largest first (at most ``top``)."""
    m_x, v_x, is_atom, a, f, vb_k, pg, pf, m_b, _, _ = _terms(problem)
    mean_y = float(np.sum((m_x[pf] * m_b)[pg == group_index]))
    sel = (pg == group_index) & (v_x[pf] > 0)
    fx = pf[sel]
    lo_x = quantiles(problem.dist[fx], problem.p1[fx], problem.p2[fx], prob)
    hi_x = quantiles(problem.dist[fx], problem.p1[fx], problem.p2[fx], 1.0 - prob)
    f_lo, f_hi = mean_y + m_b[sel] * (lo_x - m_x[fx]), mean_y + m_b[sel] * (hi_x - m_x[fx])
    ak = np.flatnonzero(is_atom & (vb_k > 0) & (problem.coef_group == group_index))
    at, c = a[ak], problem.coef_value[ak]
    if ak.size:
        lo_r = quantiles(problem.atom_dist[at], problem.atom_p1[at], problem.atom_p2[at], prob)
        hi_r = quantiles(problem.atom_dist[at], problem.atom_p1[at], problem.atom_p2[at], 1.0 - prob)
        a_lo = mean_y + m_x[f[ak]] * c * (lo_r - problem.atom_mean[at])
        a_hi = mean_y + m_x[f[ak]] * c * (hi_r - problem.atom_mean[at])
    else:
        a_lo = a_hi = np.zeros(0)
    names = [problem.factor_ids[i] for i in fx] + [problem.atom_names[i] for i in at]
    out = pl.DataFrame({
        "input": pl.Series(names, dtype=pl.String),
        "input_kind": pl.Series(["factor"] * fx.size + ["activity"] * at.size, dtype=pl.String),
        "low_kgco2e": np.concatenate([f_lo, a_lo]).astype(np.float64),
        "high_kgco2e": np.concatenate([f_hi, a_hi]).astype(np.float64),
    }).with_columns(pl.lit(mean_y).alias("mean_kgco2e"),
                    (pl.col("high_kgco2e") - pl.col("low_kgco2e")).abs().alias("swing_kgco2e"))
    return out.sort(["swing_kgco2e", "input"], descending=[True, False]).head(top)
