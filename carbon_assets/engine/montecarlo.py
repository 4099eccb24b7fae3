"""Monte Carlo over factor uncertainty, with each factor drawn once per sample.

The inventory is linear in the factors: for every output group g (a report line or the total),
T[g, s] = sum_f Q[g, f] * X_f[s], where Q[g, f] is the activity quantity (in the factor's unit)
summed over the group's lines that use factor f, and X_f[s] is factor f's draw in sample s.
Summing quantities per (group, factor) *before* sampling is exact, and drawing X_f once per
sample and sharing it across every line and group is what makes shared factors perfectly
correlated (drawing per line would shrink the spread wrongly).

Draws come from counter-based streams keyed by (seed, factor_id) (see ``rng``), so a factor's
draws do not depend on chunking, thread count, which groups are requested, or the tenant/year.

Distributions (codes shared with the Rust kernel):
- NONE (0):       X = p1 (the published value).
- LOGNORMAL (1):  X = p1 * exp(p2 * z); p1 = median (= published value), p2 = sigma_ln.
- NORMAL (2):     X = p1 + p2 * z; p1 = mean, p2 = sd. Negative draws are kept as drawn (not
                  truncated), so the mean stays equal to p1; callers choose normal knowingly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from carbon_assets.engine import rng

DIST_NONE, DIST_LOGNORMAL, DIST_NORMAL = 0, 1, 2
DIST_CODES = {"none": DIST_NONE, "lognormal": DIST_LOGNORMAL, "normal": DIST_NORMAL}
PERCENTILES = (2.5, 5.0, 50.0, 95.0, 97.5)


@dataclass(frozen=True)
class McProblem:
    """Sparse linear model: groups x factors coefficients plus one distribution per factor."""

    factor_ids: tuple[str, ...]
    dist: np.ndarray  # int8 [n_factors]
    p1: np.ndarray  # float64 [n_factors]
    p2: np.ndarray  # float64 [n_factors]
    groups: tuple[tuple, ...]  # one label tuple per output group
    coef_group: np.ndarray  # int64 [nnz]
    coef_factor: np.ndarray  # int64 [nnz]
    coef_value: np.ndarray  # float64 [nnz], quantity in factor units

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def deterministic(self) -> np.ndarray:
        """Group totals with every factor at its published (deterministic) value."""
        out = np.zeros(self.n_groups)
        np.add.at(out, self.coef_group, self.coef_value * self.published_values()[self.coef_factor])
        return out

    def published_values(self) -> np.ndarray:
        # lognormal p1 is the median = published value; normal p1 is the mean = published value
        return self.p1.copy()

    def stream_keys(self, seed: int) -> np.ndarray:
        return np.array([rng.stream_key(seed, "factor", f) for f in self.factor_ids], dtype=np.uint64)


def build_problem(lines: pl.DataFrame, group_cols: list[str], with_total: bool = True) -> McProblem:
    """Build the model from matched emission lines.

    ``lines`` needs: factor_id, dist, dist_p1, dist_p2, quantity_in_factor_unit and the
    ``group_cols``. Group labels are tuples of the group columns; the total group (if asked) is
    labelled with None in every column and comes last.
    """
    factors = (
        lines.select("factor_id", "dist", "dist_p1", "dist_p2").unique("factor_id").sort("factor_id")
    )
    f_index = {f: i for i, f in enumerate(factors["factor_id"].to_list())}
    per_group = (
        lines.group_by([*group_cols, "factor_id"])
        .agg(pl.col("quantity_in_factor_unit").sum().alias("q"))
        .sort([*group_cols, "factor_id"], nulls_last=True)
    )
    labels = per_group.select(group_cols).unique(maintain_order=True).rows()
    g_index = {lab: i for i, lab in enumerate(labels)}
    cg = [g_index[r[:-2]] for r in per_group.select([*group_cols, "factor_id", "q"]).rows()]
    cf = [f_index[f] for f in per_group["factor_id"].to_list()]
    cq = per_group["q"].to_list()
    if with_total:
        total = lines.group_by("factor_id").agg(pl.col("quantity_in_factor_unit").sum().alias("q"))
        total = total.sort("factor_id")
        labels = [*labels, tuple(None for _ in group_cols)]
        cg += [len(labels) - 1] * total.height
        cf += [f_index[f] for f in total["factor_id"].to_list()]
        cq += total["q"].to_list()
    return McProblem(
        factor_ids=tuple(factors["factor_id"].to_list()),
        dist=np.array([DIST_CODES[d] for d in factors["dist"].to_list()], dtype=np.int8),
        p1=factors["dist_p1"].to_numpy().astype(np.float64),
        p2=factors["dist_p2"].to_numpy().astype(np.float64),
        groups=tuple(labels),
        coef_group=np.asarray(cg, dtype=np.int64),
        coef_factor=np.asarray(cf, dtype=np.int64),
        coef_value=np.asarray(cq, dtype=np.float64),
    )


def factor_draws(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Turn standard normals z [n_factors, n] into factor draws."""
    p1c, p2c, d = p1[:, None], p2[:, None], dist[:, None]
    out = np.where(d == DIST_LOGNORMAL, p1c * np.exp(p2c * z), p1c + p2c * z)
    return np.where(d == DIST_NONE, p1c, out)


def group_totals_numpy(problem: McProblem, seed: int, n_samples: int, chunk: int = 2048) -> np.ndarray:
    """Reference path: [n_groups, n_samples] totals, in sample chunks to bound memory."""
    keys = problem.stream_keys(seed)
    a = sp.csr_matrix(
        (problem.coef_value, (problem.coef_group, problem.coef_factor)),
        shape=(problem.n_groups, len(problem.factor_ids)),
    )
    out = np.empty((problem.n_groups, n_samples))
    for start in range(0, n_samples, chunk):
        n = min(chunk, n_samples - start)
        z = rng.standard_normals(keys, start, n)
        out[:, start : start + n] = a @ factor_draws(problem.dist, problem.p1, problem.p2, z)
    return out


def kernel_available() -> bool:
    try:
        from carbon_assets import _kernel  # noqa: F401
    except ImportError:
        return False
    return True


def kernel_version() -> str:
    """Version of the Rust kernel, or 'none' when the numpy path is the only one."""
    try:
        from carbon_assets import _kernel
    except ImportError:
        return "none"
    return str(_kernel.__version__)


def group_totals_rust(problem: McProblem, seed: int, n_samples: int, threads: int = 0) -> np.ndarray:
    """Fused sampling + aggregation in the Rust kernel (same streams as the numpy path)."""
    from carbon_assets import _kernel

    return _kernel.mc_group_totals(
        problem.stream_keys(seed),
        problem.dist,
        problem.p1,
        problem.p2,
        problem.coef_group,
        problem.coef_factor,
        problem.coef_value,
        problem.n_groups,
        n_samples,
        0,
        threads,
    )


def group_totals(problem: McProblem, seed: int, n_samples: int, backend: str = "auto") -> np.ndarray:
    """Totals by the kernel when importable (or when asked), numpy otherwise."""
    if backend == "rust" or (backend == "auto" and kernel_available()):
        return group_totals_rust(problem, seed, n_samples)
    if backend not in ("auto", "numpy"):
        raise ValueError(f"backend must be auto, rust or numpy, not {backend!r}")
    return group_totals_numpy(problem, seed, n_samples)


def summarize(totals: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, std and percentiles per group row of ``totals``."""
    p = np.percentile(totals, PERCENTILES, axis=1)
    return {
        "mean": totals.mean(axis=1),
        "std": totals.std(axis=1, ddof=1) if totals.shape[1] > 1 else np.zeros(totals.shape[0]),
        "p2_5": p[0],
        "p5": p[1],
        "median": p[2],
        "p95": p[3],
        "p97_5": p[4],
    }
