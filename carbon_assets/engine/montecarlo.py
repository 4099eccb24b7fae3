"""Monte Carlo over factor and activity-data uncertainty, each factor drawn once per sample.

Model. Line i (in finest group c, e.g. one (scope, category) of one tenant-year) has quantity q_i
in its factor's unit and uses factor f(i). Its emission is A_i * X_f(i), where X_f is the factor
(one draw per sample, shared by every line, group, tenant and year that uses it) and A_i the
activity quantity. A line without activity uncertainty has A_i = q_i. A line with
``quantity_uncertainty_pct`` u > 0 (half-width of a ~95% interval, as for factors) has
A_i = q_i * exp(sigma_i * z_i), sigma_i = ln(1 + u/100) / 1.96: lognormal with median = the
reported quantity, the same convention as the factor default and the Bilan Carbone
multiplicative interval. Activity errors are independent per line (stream keyed by
(seed, tenant, activity_id), see ``rng``), and independent of the factors.

Every output group G (finest groups and their roll-ups: scope subtotals, total) is a union of
finest groups, so for each sample s

    T[G, s] = sum_f C[G, f] X_f[s] + sum_{atoms a in G} R_a[s] X_f(a)[s]

C[G, f] sums the certain quantities per (group, factor) *before* sampling (exact, and the sum is
taken in a fixed order, so bit-reproducible). An *atom* a is one (finest group, factor) cell's
uncertain lines; R_a is their summed activity. Drawing one R_a per atom and adding it to every
group that contains the cell keeps each roll-up equal to the sum of its parts in every sample.

Aggregation approximation (``activity="aggregate"``, the default). The sum of a cell's
independent lognormal line activities is not lognormal; R_a is drawn from the distribution with
the *exact* mean and variance of that sum:
    m = sum_i q_i exp(sigma_i^2 / 2),    v = sum_i q_i^2 exp(sigma_i^2) (exp(sigma_i^2) - 1),
  - one uncertain line in the cell: its own lognormal (q_i, sigma_i): exact, and drawn from the
    line's own stream (the atom key is the line key), so it equals per-line sampling bit for bit;
  - several lines of one sign: moment-matched lognormal (Fenton-Wilkinson),
    s^2 = ln(1 + v/m^2), median m exp(-s^2/2) (signed);
  - lines of mixed signs: moment-matched normal (m, sqrt v).
The stream of a multi-line atom is keyed by the wrapping sum of its lines' keys (a function of
(seed, tenant, activity ids of the cell)). Mean, variance and the correlation structure (factors
shared, activity independent per line) are exact; only the shape of each cell's activity sum is
approximated, which matters little once the factor and the other cells' terms are added (tested
against ``activity="lines"``, exact per-line sampling, where every uncertain line is its own atom;
that mode is for validation: it costs one draw per uncertain line per sample).

Distributions (codes shared with the Rust kernel; p1 is always the published value):
- NONE (0):       X = p1.
- LOGNORMAL (1):  X = p1 * exp(p2 * z); p1 = median, p2 = sigma_ln.
- NORMAL (2):     X = p1 + p2 * z; p1 = mean, p2 = sd (absolute). Negative draws are kept as
                  drawn (not truncated or resampled), so the mean stays p1 and the variance p2^2;
                  a factor whose normal reading can go negative is a modelling choice made upstream.
- TRIANGULAR (3): symmetric, mode p1, half-width p2 (min p1 - p2, max p1 + p2), by inverse CDF of
                  one uniform u per draw: (p1 - p2) + p2 sqrt(2u) if u < 1/2, else
                  (p1 + p2) - p2 sqrt(2(1 - u)).
- UNIFORM (4):    centre p1, half-width p2, by inverse CDF: p1 + p2 (2u - 1).
z is the stream's standard normal number s, u its uniform number 2s (``rng``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from carbon_assets.engine import rng

DIST_NONE, DIST_LOGNORMAL, DIST_NORMAL, DIST_TRIANGULAR, DIST_UNIFORM = 0, 1, 2, 3, 4
DIST_CODES = {"none": DIST_NONE, "lognormal": DIST_LOGNORMAL, "normal": DIST_NORMAL,
              "triangular": DIST_TRIANGULAR, "uniform": DIST_UNIFORM}
PERCENTILES = (2.5, 5.0, 50.0, 95.0, 97.5)
ACTIVITY_MODES = ("aggregate", "lines")

_I64 = np.zeros(0, dtype=np.int64)
_F64 = np.zeros(0, dtype=np.float64)


def _empty(dtype) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass(frozen=True)
class McProblem:
    """Sparse linear model over factors and activity atoms.

    Columns of the model: 0 .. n_factors-1 are the factors X_f; n_factors + a is atom a's product
    R_a * X_{atom_factor[a]}. ``coef_*`` give T[g] = sum_k coef_value[k] * column[coef_factor[k]].
    """

    factor_ids: tuple[str, ...]
    dist: np.ndarray  # int8 [n_factors]
    p1: np.ndarray  # float64 [n_factors]
    p2: np.ndarray  # float64 [n_factors]
    groups: tuple[tuple, ...]  # one label tuple per output group
    coef_group: np.ndarray  # int64 [nnz]
    coef_factor: np.ndarray  # int64 [nnz], column index (factor, or n_factors + atom)
    coef_value: np.ndarray  # float64 [nnz], quantity in factor units (1.0 for atom columns)
    # activity atoms (empty without activity uncertainty)
    atom_names: tuple[str, ...] = ()
    atom_factor: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    atom_dist: np.ndarray = field(default_factory=lambda: _empty(np.int8))
    atom_p1: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    atom_p2: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    atom_quantity: np.ndarray = field(default_factory=lambda: _empty(np.float64))  # sum of q_i (deterministic)
    atom_mean: np.ndarray = field(default_factory=lambda: _empty(np.float64))  # exact mean of the line sum
    atom_var: np.ndarray = field(default_factory=lambda: _empty(np.float64))  # exact variance of the line sum
    atom_line_hash: np.ndarray = field(default_factory=lambda: _empty(np.uint64))  # rng.line_hashes, by atom
    atom_line_start: np.ndarray = field(default_factory=lambda: _empty(np.int64))  # first line of each atom
    n_lines: np.ndarray | None = None  # lines per group, when built from lines
    # sums of squared quantities, for analytic (Bilan Carbone) intervals: per coefficient of a factor
    # column sum q_i^2 of its certain lines; per atom sum q_i^2 and sum q_i^2 ln^2(1 + u_i)
    coef_q2: np.ndarray | None = None
    atom_q2: np.ndarray = field(default_factory=lambda: _empty(np.float64))
    atom_q2_lnsa2: np.ndarray = field(default_factory=lambda: _empty(np.float64))

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def n_factors(self) -> int:
        return len(self.factor_ids)

    @property
    def n_atoms(self) -> int:
        return len(self.atom_factor)

    def deterministic(self) -> np.ndarray:
        """Group totals with every factor and quantity at its published / reported value."""
        col_value = np.concatenate([self.p1, self.atom_quantity * self.p1[self.atom_factor]])
        out = np.zeros(self.n_groups)
        np.add.at(out, self.coef_group, self.coef_value * col_value[self.coef_factor])
        return out

    def published_values(self) -> np.ndarray:
        # p1 is the published value for every distribution (median, mean, mode or centre)
        return self.p1.copy()

    def stream_keys(self, seed: int) -> np.ndarray:
        return rng.stream_keys(seed, "factor", self.factor_ids)

    def atom_keys(self, seed: int) -> np.ndarray:
        """Per atom: the wrapping sum of its lines' keys (a single line's atom has the line's key)."""
        if self.n_atoms == 0:
            return _empty(np.uint64)
        keys = rng.line_keys(seed, self.atom_line_hash)
        with np.errstate(over="ignore"):
            return np.add.reduceat(keys, self.atom_line_start).astype(np.uint64)

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.coef_value, (self.coef_group, self.coef_factor)),
                             shape=(self.n_groups, self.n_factors + self.n_atoms))


def fixed_order_sums(lines: pl.DataFrame, keys: list[str], value: str | list[str],
                     order: list[str] | None = None) -> pl.DataFrame:
    """Sums of ``value`` (one column or several) per ``keys``, sorted by ``keys``, reproducible to the bit.

    A hash group-by sums in an order that varies between runs (last-bit differences); here rows are
    sorted by the keys and then by the values (and ``order``) themselves, so each segment is summed in
    an order that depends only on the multiset of rows, never on input order or thread count. A single
    value column comes out as "q"; several keep their names.
    """
    values = [value] if isinstance(value, str) else list(value)
    ordered = lines.select(*keys, *values, *(order or [])).sort([*keys, *values, *(order or [])], nulls_last=True)
    if ordered.height == 0:
        out = ordered.select(*keys, *values)
        return out.rename({value: "q"}) if isinstance(value, str) else out
    seg = ordered.select(pl.struct(keys).rle_id().alias("seg"))["seg"].to_numpy() if keys else \
        np.zeros(ordered.height, dtype=np.uint32)
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    cols = [pl.Series(v, np.add.reduceat(ordered[v].to_numpy().astype(np.float64), starts), dtype=pl.Float64)
            for v in values]
    out = ordered[starts].select(keys).with_columns(cols)
    return out.rename({value: "q"}) if isinstance(value, str) else out


def _line_sigma(lines: pl.DataFrame) -> pl.Expr:
    if "quantity_uncertainty_pct" not in lines.columns:
        return pl.lit(0.0, pl.Float64)
    u = pl.col("quantity_uncertainty_pct").cast(pl.Float64).fill_nan(None)
    return pl.when(u.is_not_null() & (u > 0)).then((u / 100.0).log1p() / 1.96).otherwise(0.0)


Rollup = dict | Callable[[tuple], tuple | None]


def build_problem(lines: pl.DataFrame, group_cols: list[str], with_total: bool = True,
                  rollups: Sequence[Rollup] = (), activity: str = "aggregate") -> McProblem:
    """Build the model from matched emission lines.

    ``lines`` needs factor_id, dist, dist_p1, dist_p2, quantity_in_factor_unit and ``group_cols``;
    with ``quantity_uncertainty_pct`` (and tenant, activity_id for the streams) activity uncertainty
    is modelled. Groups: each distinct ``group_cols`` tuple (a finest group), each ``rollups``
    entry applied to it (a dict column -> label, e.g. {"category": "all"}, or a callable from the
    finest label tuple to the rolled-up label tuple, or to None when that finest group does not roll
    into that level), and, with ``with_total``, the total labelled None in every column. A rolled-up
    label equal to a finest label is the same group: keep the levels' labels distinct (e.g. with a
    level column). Labels are sorted (nulls last).
    ``activity``: "aggregate" (one atom per (finest group, factor)) or "lines" (exact per-line
    sampling); see the module docs.
    """
    if activity not in ACTIVITY_MODES:
        raise ValueError(f"activity must be one of {ACTIVITY_MODES}, not {activity!r}")
    levels: list[Rollup] = [r if callable(r) else dict(r) for r in rollups]
    levels += [{c: None for c in group_cols}] if with_total else []
    factors = lines.select("factor_id", "dist", "dist_p1", "dist_p2").unique("factor_id").sort("factor_id")
    fids = factors["factor_id"]
    nf = fids.len()
    f_pos = pl.Series("i", range(nf), dtype=pl.Int64)
    lines = lines.with_columns(_line_sigma(lines).alias("__sigma"))
    certain = lines.filter(pl.col("__sigma") == 0.0)
    uncertain = lines.filter(pl.col("__sigma") > 0.0)
    # finest groups: labels and line counts
    counts = lines.group_by(group_cols).len().sort(group_cols, nulls_last=True)
    finest = counts.select(group_cols).rows()

    def rolled(label: tuple, level: Rollup) -> tuple | None:
        if callable(level):
            return level(label)
        return tuple(level.get(c, v) for c, v in zip(group_cols, label))

    all_labels = set(finest)
    for level in levels:
        all_labels.update(r for g in finest if (r := rolled(g, level)) is not None)
    labels = pl.DataFrame(list(all_labels), schema={c: lines.schema[c] for c in group_cols}, orient="row") \
        .sort(group_cols, nulls_last=True).rows()
    g_index = {g: i for i, g in enumerate(labels)}
    # each finest group's destination groups (itself, then every roll-up)
    dest = {g: [g_index[g]] + [g_index[r] for lv in levels if (r := rolled(g, lv)) is not None]
            for g in finest}
    n_lines = np.zeros(len(labels), dtype=np.int64)
    for g, n in zip(finest, counts["len"].to_list()):
        for d in dest[g]:
            n_lines[d] += n

    # certain part: fixed-order sums per (finest group, factor), then per destination group
    certain = certain.select(*group_cols, "factor_id", pl.col("quantity_in_factor_unit").alias("q"),
                             (pl.col("quantity_in_factor_unit") ** 2).alias("q2"))
    cells = fixed_order_sums(certain, [*group_cols, "factor_id"], ["q", "q2"])
    cell_f = cells["factor_id"].replace_strict(fids, f_pos, return_dtype=pl.Int64).to_numpy()
    cell_g = [tuple(r) for r in cells.select(group_cols).rows()]
    dg_rows = [(d, f) for g, f in zip(cell_g, cell_f) for d in dest[g]]
    rep = np.array([len(dest[g]) for g in cell_g], dtype=np.int64)
    if dg_rows:
        dg = np.array(dg_rows, dtype=np.int64)
        frame = pl.DataFrame({"g": dg[:, 0], "f": dg[:, 1], "q": np.repeat(cells["q"].to_numpy(), rep),
                              "q2": np.repeat(cells["q2"].to_numpy(), rep)})
        summed = fixed_order_sums(frame, ["g", "f"], ["q", "q2"])
        coef_g, coef_f, coef_v = summed["g"].to_numpy(), summed["f"].to_numpy(), summed["q"].to_numpy()
        coef_q2 = summed["q2"].to_numpy()
    else:
        coef_g, coef_f, coef_v, coef_q2 = _I64, _I64, _F64, _F64

    atoms = _atoms(uncertain, group_cols, fids, f_pos, activity)
    if atoms is not None:
        a_cell = atoms["cell"]
        ag = [d for g in a_cell for d in dest[g]]
        af = np.repeat(nf + np.arange(len(a_cell), dtype=np.int64), [len(dest[g]) for g in a_cell])
        coef_g = np.concatenate([coef_g, np.array(ag, dtype=np.int64)])
        coef_f = np.concatenate([coef_f, af])
        coef_v = np.concatenate([coef_v, np.ones(len(ag))])
        coef_q2 = np.concatenate([coef_q2, np.zeros(len(ag))])
    order = np.lexsort((coef_f, coef_g))
    extra = {} if atoms is None else {k: v for k, v in atoms.items() if k != "cell"}
    return McProblem(
        factor_ids=tuple(fids.to_list()),
        dist=np.array([DIST_CODES[d] for d in factors["dist"].to_list()], dtype=np.int8),
        p1=factors["dist_p1"].to_numpy().astype(np.float64),
        p2=factors["dist_p2"].to_numpy().astype(np.float64),
        groups=tuple(labels),
        coef_group=coef_g[order].astype(np.int64),
        coef_factor=coef_f[order].astype(np.int64),
        coef_value=coef_v[order].astype(np.float64),
        coef_q2=coef_q2[order].astype(np.float64),
        n_lines=n_lines,
        **extra,
    )


def _atoms(uncertain: pl.DataFrame, group_cols: list[str], fids: pl.Series, f_pos: pl.Series,
           activity: str) -> dict | None:
    """Activity atoms of the uncertain lines (see the module docs), or None when there are none."""
    if uncertain.height == 0:
        return None
    tenants = uncertain["tenant"] if "tenant" in uncertain.columns else pl.repeat("", uncertain.height, eager=True)
    if "activity_id" in uncertain.columns:
        ids = uncertain["activity_id"]
    else:  # no ids (synthetic input): the row's content stands in, so equal rows share a stream
        ids = uncertain.select(pl.concat_str([pl.col(c).cast(pl.String) for c in uncertain.columns],
                                             separator="|", ignore_nulls=True)).to_series()
    u = uncertain.select(
        *group_cols, "factor_id",
        pl.col("quantity_in_factor_unit").cast(pl.Float64).alias("q"), pl.col("__sigma").alias("s"),
        pl.Series("h", rng.line_hashes(tenants.to_list(), ids.to_list()), dtype=pl.UInt64),
        ids.cast(pl.String).rename("id"),
    )
    keys = [*group_cols, "factor_id"] if activity == "aggregate" else [*group_cols, "factor_id", "h"]
    u = u.sort([*keys, "q", "s", "h"], nulls_last=True)
    seg = u.select(pl.struct(keys).rle_id().alias("seg"))["seg"].to_numpy()
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    n_per = np.diff(np.r_[starts, u.height])
    q, s = u["q"].to_numpy(), u["s"].to_numpy()
    s2 = s * s
    m = q * np.exp(s2 / 2)  # line means and variances (lognormal, median q)
    v = q * q * np.exp(s2) * np.expm1(s2)
    q_sum, m_sum, v_sum = (np.add.reduceat(x, starts) for x in (q, m, v))
    lnsa = 1.96 * s  # ln(1 + u)
    q2_sum, q2_lnsa2_sum = np.add.reduceat(q * q, starts), np.add.reduceat(q * q * lnsa * lnsa, starts)
    pos = np.maximum.reduceat(q > 0, starts).astype(bool)
    neg = np.maximum.reduceat(q < 0, starts).astype(bool)
    single = n_per == 1
    mixed = pos & neg
    with np.errstate(divide="ignore", invalid="ignore"):
        fw_s2 = np.log1p(v_sum / (m_sum * m_sum))
        fw_median = m_sum * np.exp(-fw_s2 / 2)
    dist = np.where(mixed, DIST_NORMAL, DIST_LOGNORMAL).astype(np.int8)
    p1 = np.where(single, q[starts], np.where(mixed, m_sum, fw_median))
    p2 = np.where(single, s[starts], np.where(mixed, np.sqrt(v_sum), np.sqrt(fw_s2)))
    zero = (m_sum == 0) & ~mixed  # all-zero quantities: nothing uncertain
    dist[zero], p1[zero], p2[zero] = DIST_NONE, 0.0, 0.0
    heads = u[starts]
    cell = [tuple(r) for r in heads.select(group_cols).rows()]
    fid = heads["factor_id"].to_list()
    if activity == "aggregate":
        names = tuple(f"activity:{'/'.join('' if x is None else str(x) for x in c)}|{f}" for c, f in zip(cell, fid))
    else:
        names = tuple(f"activity:{i}" for i in heads["id"].to_list())
    return {
        "cell": cell,
        "atom_names": names,
        "atom_factor": heads["factor_id"].replace_strict(fids, f_pos, return_dtype=pl.Int64).to_numpy().astype(np.int64),
        "atom_dist": dist,
        "atom_p1": p1.astype(np.float64),
        "atom_p2": p2.astype(np.float64),
        "atom_quantity": q_sum.astype(np.float64),
        "atom_mean": m_sum.astype(np.float64),
        "atom_var": v_sum.astype(np.float64),
        "atom_q2": q2_sum.astype(np.float64),
        "atom_q2_lnsa2": q2_lnsa2_sum.astype(np.float64),
        "atom_line_hash": u["h"].to_numpy().astype(np.uint64),
        "atom_line_start": starts.astype(np.int64),
    }


def draws(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray, keys: np.ndarray, sample_start: int,
          n_samples: int) -> np.ndarray:
    """[len(keys), n_samples] draws of each distribution on its stream (the kernel's formulas)."""
    out = np.empty((len(keys), n_samples))
    for code in np.unique(dist):
        rows = np.flatnonzero(dist == code)
        a, b = p1[rows, None], p2[rows, None]
        if code in (DIST_LOGNORMAL, DIST_NORMAL):
            z = rng.standard_normals(keys[rows], sample_start, n_samples)
            out[rows] = a * np.exp(b * z) if code == DIST_LOGNORMAL else a + b * z
        elif code in (DIST_TRIANGULAR, DIST_UNIFORM):
            u = rng.sample_uniforms(keys[rows], sample_start, n_samples)
            if code == DIST_TRIANGULAR:
                out[rows] = np.where(u < 0.5, (a - b) + b * np.sqrt(2.0 * u), (a + b) - b * np.sqrt(2.0 * (1.0 - u)))
            else:
                out[rows] = a + b * (2.0 * u - 1.0)
        elif code == DIST_NONE:
            out[rows] = a
        else:
            raise ValueError(f"unknown distribution code {code}")
    return out


def factor_draws(problem: McProblem, seed: int, sample_start: int, n_samples: int) -> np.ndarray:
    """Draws of every factor, [n_factors, n_samples]."""
    return draws(problem.dist, problem.p1, problem.p2, problem.stream_keys(seed), sample_start, n_samples)


def group_totals_numpy(problem: McProblem, seed: int, n_samples: int, chunk: int = 2048) -> np.ndarray:
    """Reference path: [n_groups, n_samples] totals, in sample chunks to bound memory."""
    keys = problem.stream_keys(seed)
    akeys = problem.atom_keys(seed)
    a = problem.matrix()
    out = np.empty((problem.n_groups, n_samples))
    for start in range(0, n_samples, chunk):
        n = min(chunk, n_samples - start)
        x = draws(problem.dist, problem.p1, problem.p2, keys, start, n)
        if problem.n_atoms:
            r = draws(problem.atom_dist, problem.atom_p1, problem.atom_p2, akeys, start, n)
            x = np.vstack([x, r * x[problem.atom_factor]])
        out[:, start : start + n] = a @ x
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


def group_totals_rust(problem: McProblem, seed: int, n_samples: int, threads: int = 0,
                      sample_start: int = 0) -> np.ndarray:
    """Fused sampling + aggregation in the Rust kernel (same streams as the numpy path)."""
    from carbon_assets import _kernel

    kw = {}
    if problem.n_atoms:
        kw = {"atom_keys": problem.atom_keys(seed), "atom_dist": problem.atom_dist, "atom_p1": problem.atom_p1,
              "atom_p2": problem.atom_p2, "atom_factor": problem.atom_factor}
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
        sample_start,
        threads,
        **kw,
    )


def resolve_backend(backend: str = "auto") -> str:
    if backend not in ("auto", "numpy", "rust"):
        raise ValueError(f"backend must be auto, rust or numpy, not {backend!r}")
    return "rust" if backend == "rust" or (backend == "auto" and kernel_available()) else "numpy"


def group_totals(problem: McProblem, seed: int, n_samples: int, backend: str = "auto") -> np.ndarray:
    """Totals by the kernel when importable (or when asked), numpy otherwise."""
    if resolve_backend(backend) == "rust":
        return group_totals_rust(problem, seed, n_samples)
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
