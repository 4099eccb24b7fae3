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


def fixed_order_sums(lines: pl.DataFrame, keys: list[str], value: str) -> pl.DataFrame:
    """Sum of ``value`` per ``keys`` as column "q", sorted by ``keys``, reproducible to the bit.

    A hash group-by sums in an order that varies between runs (last-bit differences); here rows are
    sorted by the keys and then by the value itself, so each segment is summed in an order that
    depends only on the multiset of values, never on input order or thread count.
    """
    ordered = lines.select(*keys, value).sort([*keys, value], nulls_last=True)
    if ordered.height == 0:
        return ordered.rename({value: "q"})
    seg = ordered.select(pl.struct(keys).rle_id().alias("seg"))["seg"].to_numpy()
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    q = np.add.reduceat(ordered[value].to_numpy().astype(np.float64), starts)
    return ordered[starts].select(keys).with_columns(pl.Series("q", q, dtype=pl.Float64))


def build_problem(lines: pl.DataFrame, group_cols: list[str], with_total: bool = True) -> McProblem:
    """Build the model from matched emission lines.

    ``lines`` needs: factor_id, dist, dist_p1, dist_p2, quantity_in_factor_unit and the
    ``group_cols``. Group labels are tuples of the group columns; the total group (if asked) is
    labelled with None in every column and comes last.
    """
    factors = (
        lines.select("factor_id", "dist", "dist_p1", "dist_p2").unique("factor_id").sort("factor_id")
    )
    fids = factors["factor_id"]
    f_pos = pl.Series("i", range(fids.len()), dtype=pl.Int64)
    per_group = fixed_order_sums(lines, [*group_cols, "factor_id"], "quantity_in_factor_unit")
    labels = per_group.select(group_cols).unique(maintain_order=True).rows()
    # per_group is sorted by the group columns, so equal labels are contiguous and the run id of the
    # label is its index in ``labels`` (first-appearance order); vectorised, no per-row Python
    cg = [per_group.select(pl.struct(group_cols).rle_id()).to_series().cast(pl.Int64).to_numpy()]
    cf = [per_group["factor_id"].replace_strict(fids, f_pos, return_dtype=pl.Int64).to_numpy()]
    cq = [per_group["q"].to_numpy()]
    if with_total:
        total = fixed_order_sums(lines, ["factor_id"], "quantity_in_factor_unit")
        labels = [*labels, tuple(None for _ in group_cols)]
        cg.append(np.full(total.height, len(labels) - 1, dtype=np.int64))
        cf.append(total["factor_id"].replace_strict(fids, f_pos, return_dtype=pl.Int64).to_numpy())
        cq.append(total["q"].to_numpy())
    return McProblem(
        factor_ids=tuple(factors["factor_id"].to_list()),
        dist=np.array([DIST_CODES[d] for d in factors["dist"].to_list()], dtype=np.int8),
        p1=factors["dist_p1"].to_numpy().astype(np.float64),
        p2=factors["dist_p2"].to_numpy().astype(np.float64),
        groups=tuple(labels),
        coef_group=np.concatenate(cg).astype(np.int64),
        coef_factor=np.concatenate(cf).astype(np.int64),
        coef_value=np.concatenate(cq).astype(np.float64),
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
