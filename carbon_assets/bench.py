"""Benchmarks of the uncertainty engine (``carbon-assets bench [--quick]``).

Each benchmark generates its inputs deterministically (seeded) and times competing approaches
side by side in the same run, so the ratios are meaningful even on a noisy machine:

- ``bench_naive``: naive per-line sampling (one independent factor draw per line per sample, plus
  an activity draw for lines with ``quantity_uncertainty_pct``: the first design sketch) vs the
  engine (``reports.distributions``) on the same emissions frame.
- ``bench_kernel``: Rust kernel vs the numpy reference (``group_totals_numpy``), on the problem
  built from realistic lines and on a worst case where every line is its own coefficient.
- ``bench_sobol``: closed-form Sobol indices vs scipy's sampling estimator on the same model (factors
  and activity cells as inputs).
- ``bench_distributions``: the whole ``emission_distributions`` computation in a fresh subprocess,
  with its wall time and peak RSS (VmHWM, so native allocations count too).

Timings never fail anything; only errors give a non-zero exit.
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from carbon_assets.engine import montecarlo, reports, rng
from carbon_assets.engine.emissions import EMISSION_SCHEMA
from carbon_assets.engine.params import CalcParams

# (scope, scope3_category, category, activity_key prefix, factor unit)
CATEGORIES = [
    ("1", None, "Stationary combustion", "fuel.stationary", "kWh"),
    ("1", None, "Mobile combustion", "fuel.mobile", "litre"),
    ("1", None, "Fugitive emissions", "refrigerant", "kg"),
    ("2", None, "Purchased electricity", "electricity.grid", "kWh"),
    ("2", None, "Purchased heat and steam", "heat.network", "kWh"),
    ("3", 1, "Purchased goods and services", "goods", "EUR"),
    ("3", 2, "Capital goods", "capital", "EUR"),
    ("3", 3, "Fuel- and energy-related activities", "electricity.td_losses", "kWh"),
    ("3", 4, "Upstream transportation", "freight", "tonne.km"),
    ("3", 5, "Waste generated in operations", "waste", "tonne"),
    ("3", 6, "Business travel", "travel", "passenger.km"),
    ("3", 7, "Employee commuting", "commuting", "passenger.km"),
]
NAMESPACES = ["DEFRA", "ADEME", "EPA", "custom"]
SITES = [f"site-{i:02d}" for i in range(40)]
REGIONS = ["FR", "GB", "DE", "US", "ES", None]


# ----------------------------------------------------------------------------------------- inputs


def synthetic_factors(
    n_factors: int, seed: int = 0, dists: tuple[float, float, float] = (0.7, 0.2, 0.1)
) -> pl.DataFrame:
    """Factor table: factor_id, category index, dist, dist_p1, dist_p2 (shares of lognormal/normal/none)."""
    r = np.random.default_rng([seed, 1])
    kind = r.choice(3, size=n_factors, p=np.asarray(dists) / sum(dists))
    value = np.exp(r.uniform(math.log(0.005), math.log(5.0), n_factors))  # published value, kgCO2e/unit
    u95 = r.uniform(0.05, 0.5, n_factors)  # +-5% .. +-50% at 95%
    dist = np.array(["lognormal", "normal", "none"])[kind]
    p2 = np.where(kind == 0, np.log1p(u95) / 1.96, np.where(kind == 1, value * u95 / 1.96, 0.0))
    ns = np.array(NAMESPACES)[r.integers(0, len(NAMESPACES), n_factors)]
    return pl.DataFrame(
        {
            "factor_id": [f"{n}:{i:06d}" for n, i in zip(ns, range(n_factors))],
            "cat": np.arange(n_factors) % len(CATEGORIES),
            "namespace": ns,
            "dist": dist,
            "dist_p1": value,
            "dist_p2": p2,
        }
    )


def synthetic_emissions(
    n_lines: int,
    n_factors: int = 2000,
    seed: int = 0,
    dists: tuple[float, float, float] = (0.7, 0.2, 0.1),
    own_factor: bool = False,
) -> pl.DataFrame:
    """A matched emissions frame with every column of ``EMISSION_SCHEMA``, realistic in shape.

    Each factor belongs to one category (as a factor belongs to one activity key); lines pick
    factors with Zipf-like popularity (``own_factor``: line i uses factor i mod n_factors) and
    quantities are lognormal. Deterministic in ``seed``.
    """
    fac = synthetic_factors(n_factors, seed, dists)
    r = np.random.default_rng([seed, 2])
    pop = 1.0 / np.arange(1, n_factors + 1)
    fidx = (
        np.arange(n_lines) % n_factors if own_factor else r.choice(n_factors, size=n_lines, p=pop / pop.sum())
    )
    quantity = np.exp(r.normal(math.log(100.0), 1.5, n_lines))
    conversion = np.where(r.random(n_lines) < 0.2, 1000.0, 1.0)
    cat = fac["cat"].to_numpy()[fidx]
    cats = pl.DataFrame(
        {
            "scope": [c[0] for c in CATEGORIES],
            "scope3_category": pl.Series([c[1] for c in CATEGORIES], dtype=pl.Int64),
            "category": [c[2] for c in CATEGORIES],
            "activity_key": [c[3] for c in CATEGORIES],
            "factor_unit": [c[4] for c in CATEGORIES],
        }
    )
    f = fac[fidx]
    c = cats[cat]
    q_fu = quantity / conversion
    row = np.arange(n_lines)
    df = (
        pl.DataFrame(
            {
                "row": row,
                "date_ord": r.integers(0, 365, n_lines),
                "site": pl.Series(SITES, dtype=pl.String).gather(r.integers(0, len(SITES), n_lines)),
                "region": pl.Series(REGIONS, dtype=pl.String).gather(r.integers(0, len(REGIONS), n_lines)),
                "quantity": quantity,
                "conversion": conversion,
                "quantity_in_factor_unit": q_fu,
                "quantity_uncertainty_pct": np.where(r.random(n_lines) < 0.3, 10.0, 0.0),
            }
        )
        .hstack(c)
        .hstack(f.drop("cat"))
    )
    df = df.with_columns(
        pl.lit("bench").alias("tenant"),
        pl.lit("2025").alias("year"),
        pl.format("A{}", pl.col("row")).alias("activity_id"),
        (pl.date(2025, 1, 1) + pl.duration(days=pl.col("date_ord"))).alias("date"),
        pl.concat_str(pl.col("activity_key"), pl.lit(" line "), pl.col("row").cast(pl.String)).alias(
            "description"
        ),
        pl.lit(None, dtype=pl.String).alias("requested_factor_id"),
        pl.col("factor_unit").alias("unit"),
        pl.lit("activities/bench.csv").alias("source_file"),
        pl.lit("sha256-" + "0" * 64).alias("source_sha256"),
        (pl.col("row") + 2).alias("source_row"),
        pl.lit("matched").alias("match_status"),
        pl.concat_str(pl.lit("namespace "), pl.col("namespace"), pl.lit(" (rank 1)")).alias("match_note"),
        pl.col("dist_p1").alias("factor_value"),
        pl.lit("AR6").alias("gwp_set"),
        pl.lit("as_published").alias("gwp_status"),
        (pl.col("quantity_in_factor_unit") * pl.col("dist_p1")).alias("em_kgco2e"),
    )
    # columns the generator does not model (other parts of the schema evolve) are null
    return df.select([pl.col(k).cast(v) if k in df.columns else pl.lit(None, v).alias(k)
                      for k, v in EMISSION_SCHEMA.items()])


# ------------------------------------------------------------------------------------------ naive


def naive_group_totals(
    emissions: pl.DataFrame,
    groups: tuple[tuple, ...],
    n_samples: int,
    seed: int = 0,
    chunk: int = 256,
    streams: str = "pcg64",
) -> np.ndarray:
    """The first design sketch: one independent factor draw per line per sample (and, for a line with
    ``quantity_uncertainty_pct``, one activity draw, lognormal as in the engine), summed per report
    group. [n_groups, n_samples]; samples in chunks so memory stays bounded.

    ``streams="pcg64"``: numpy's PCG64 + ziggurat normals, the fastest naive possible.
    ``streams="counter"``: the engine's counter-based streams (``rng``), one stream per line.

    ``groups`` are (scope, category) labels as in ``reports.problem_for(...).groups``; a line
    counts in its (scope, category), its (scope, "all") and ("total", "total").
    """
    lines = reports.matched_lines(emissions)
    # lines sorted by distribution, so each kind is a contiguous block transformed in place
    code = lines["dist"].replace_strict(montecarlo.DIST_CODES, return_dtype=pl.Int8).to_numpy()
    order = np.argsort(code, kind="stable")
    code = code[order]
    q = lines["quantity_in_factor_unit"].to_numpy()[order]
    p1 = lines["dist_p1"].to_numpy()[order]
    p2 = lines["dist_p2"].to_numpy()[order]
    u_pct = lines["quantity_uncertainty_pct"].fill_null(0.0).to_numpy()[order]
    unc = np.flatnonzero(u_pct > 0)
    s_a = np.log1p(u_pct[unc] / 100.0) / 1.96
    bounds = np.searchsorted(code, list(range(6)) + [99])
    blocks = {c: slice(bounds[c], bounds[c + 1]) for c in range(5)}
    g_index = {g: i for i, g in enumerate(groups)}
    scope, cat = lines["scope"].to_list(), lines["category"].to_list()
    n = lines.height
    rows = np.concatenate(
        [
            [g_index[(scope[i], cat[i])] for i in order],
            [g_index[(scope[i], reports.ALL)] for i in order],
            np.full(n, g_index[(reports.TOTAL, reports.TOTAL)]),
        ]
    )
    ind = sp.csr_matrix((np.ones(3 * n), (rows, np.tile(np.arange(n), 3))), shape=(len(groups), n))
    if streams not in ("pcg64", "counter"):
        raise ValueError(f"streams must be pcg64 or counter, not {streams!r}")
    gen = np.random.default_rng(seed)
    keys = akeys = None
    if streams == "counter":
        keys = np.array([rng.stream_key(seed, "line", str(i)) for i in order], dtype=np.uint64)
        ids = lines["activity_id"].to_numpy()[order][unc]
        akeys = rng.line_keys(seed, rng.line_hashes(lines["tenant"].to_numpy()[order][unc], ids))
    qp1, qp2 = q * p1, q * p2
    logn, norm = blocks[montecarlo.DIST_LOGNORMAL], blocks[montecarlo.DIST_NORMAL]
    tri, uni, none = (blocks[c] for c in (montecarlo.DIST_TRIANGULAR, montecarlo.DIST_UNIFORM,
                                          montecarlo.DIST_NONE))
    out = np.empty((len(groups), n_samples))
    for start in range(0, n_samples, chunk):
        k = min(chunk, n_samples - start)
        if keys is None:
            z = gen.standard_normal((n, k))
            za = gen.standard_normal((unc.size, k))
            u = z[tri.start:uni.stop]
            u[:] = gen.random(u.shape)
        else:
            z = rng.standard_normals(keys, start, k)
            za = rng.standard_normals(akeys, start, k)
            z[tri.start:uni.stop] = rng.sample_uniforms(keys[tri.start:uni.stop], start, k)
        z[logn] *= p2[logn, None]
        np.exp(z[logn], out=z[logn])
        z[logn] *= qp1[logn, None]
        z[norm] *= qp2[norm, None]
        z[norm] += qp1[norm, None]
        zt = z[tri]
        z[tri] = np.where(zt < 0.5, (p1[tri, None] - p2[tri, None]) + p2[tri, None] * np.sqrt(2.0 * zt),
                          (p1[tri, None] + p2[tri, None]) - p2[tri, None] * np.sqrt(2.0 * (1.0 - zt))) * q[tri, None]
        z[uni] = (p1[uni, None] + p2[uni, None] * (2.0 * z[uni] - 1.0)) * q[uni, None]
        z[none] = qp1[none, None]
        if unc.size:
            za *= s_a[:, None]
            z[unc] *= np.exp(za)
        out[:, start : start + k] = ind @ z
    return out


# ------------------------------------------------------------------------------------------ timing


def _time(fn, repeat: int = 1):
    """(best seconds, last result) over ``repeat`` runs."""
    best, res = math.inf, None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


@dataclass
class Result:
    name: str
    size: str
    rows: list[tuple[str, float]]  # (approach, seconds); first row is the fast one
    ratio: float | None  # slow / fast
    target: str
    met: bool | None
    extra: dict = field(default_factory=dict)


def bench_naive(
    n_lines: int = 100_000,
    n_samples: int = 10_000,
    n_factors: int = 2000,
    seed: int = 0,
    naive_samples: int | None = None,
    counter_samples: int = 1000,
) -> Result:
    """Engine (``reports.distributions``, rust and numpy backends) vs naive per-line sampling,
    with numpy's PCG64 (the fastest naive, the ratio that counts) and with the engine's own
    counter-based streams (same RNG cost per draw as the engine: the design's gain alone).

    A naive path run on fewer samples (``naive_samples``, ``counter_samples``) has its time
    scaled linearly to ``n_samples`` (its cost is per sample; the row label says so).
    """
    em = synthetic_emissions(n_lines, n_factors, seed)
    params = CalcParams(mc_samples=n_samples, mc_seed=42)
    t_rust, dist = _time(lambda: reports.distributions(em, "bench", "2025", params, backend="auto"), repeat=2)
    t_np, _ = _time(lambda: reports.distributions(em, "bench", "2025", params, backend="numpy"))
    groups = tuple(
        (r["scope"], r["category"]) for r in dist.select("scope", "category").iter_rows(named=True)
    )
    ns = n_samples if naive_samples is None else min(naive_samples, n_samples)
    t_naive, naive = _time(lambda: montecarlo.summarize(naive_group_totals(em, groups, ns, seed)))
    t_naive_full = t_naive * n_samples / ns
    label = "naive per-line draws, PCG64" + (
        "" if ns == n_samples else f" ({ns:,} samples, x{n_samples / ns:g})"
    )
    nc = min(counter_samples, n_samples)
    t_counter, _ = _time(
        lambda: montecarlo.summarize(naive_group_totals(em, groups, nc, seed, streams="counter"))
    )
    label_c = "naive per-line draws, counter streams" + (
        "" if nc == n_samples else f" ({nc:,} smp, x{n_samples / nc:g})"
    )
    total = dist.filter(pl.col("scope") == reports.TOTAL).row(0, named=True)
    ti = groups.index((reports.TOTAL, reports.TOTAL))
    ratio = t_naive_full / t_rust
    return Result(
        "engine vs naive",
        f"{n_lines:,} lines x {n_samples:,} samples, {n_factors:,} factors",
        [
            (f"engine distributions() [{dist['mc_backend'][0]}]", t_rust),
            ("engine distributions() [numpy]", t_np),
            (label_c, t_counter * n_samples / nc),
            (label, t_naive_full),
        ],
        ratio,
        ">= 100x",
        ratio >= 100,
        {
            "engine_total_std": total["std_kgco2e"],
            "naive_total_std": float(naive["std"][ti]),
            "numpy_engine_vs_naive_pcg64": t_naive_full / t_np,
        },
    )


def coefficient_problem(nnz: int, n_factors: int, n_groups: int, seed: int = 0) -> montecarlo.McProblem:
    """Worst case for the kernel: ``nnz`` distinct (group, factor) coefficients, i.e. every line
    its own coefficient (no aggregation possible), factors from ``synthetic_factors``."""
    fac = synthetic_factors(n_factors, seed)
    r = np.random.default_rng([seed, 3])
    cells = np.sort(r.choice(n_groups * n_factors, size=min(nnz, n_groups * n_factors), replace=False))
    return montecarlo.McProblem(
        factor_ids=tuple(fac["factor_id"].to_list()),
        dist=np.array([montecarlo.DIST_CODES[d] for d in fac["dist"].to_list()], dtype=np.int8),
        p1=fac["dist_p1"].to_numpy().copy(),
        p2=fac["dist_p2"].to_numpy().copy(),
        groups=tuple((str(g),) for g in range(n_groups)),
        coef_group=(cells // n_factors).astype(np.int64),
        coef_factor=(cells % n_factors).astype(np.int64),
        coef_value=np.exp(r.normal(math.log(100.0), 1.5, cells.size)),
    )


def bench_kernel(
    n_lines: int = 1_000_000,
    n_factors: int = 2000,
    n_samples: int = 10_000,
    n_groups: int = 1000,
    seed: int = 0,
) -> list[Result]:
    """Rust kernel vs numpy reference: (a) on the problem ``reports`` builds from ``n_lines`` realistic
    lines (a few thousand coefficients once aggregated), (b) on ``n_lines`` distinct coefficients."""
    out = []
    em = synthetic_emissions(n_lines, n_factors, seed)
    problems = [
        ("report problem", reports.problem_for(em)),
        ("1 coef per line", coefficient_problem(n_lines, n_factors, n_groups, seed)),
    ]
    del em
    for what, p in problems:
        t_r, a = _time(lambda p=p: montecarlo.group_totals_rust(p, 42, n_samples), repeat=3)
        t_n, b = _time(
            lambda p=p: montecarlo.group_totals_numpy(p, 42, n_samples),
            repeat=2 if p.coef_value.size < 100_000 else 1,
        )
        rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
        out.append(
            Result(
                f"rust kernel vs numpy ({what})",
                f"{n_lines:,} lines -> {p.coef_value.size:,} coefs, {len(p.factor_ids):,} factors, {p.n_groups:,} groups, "
                f"{n_samples:,} samples",
                [("rust kernel", t_r), ("numpy reference", t_n)],
                t_n / t_r,
                ">= 3x",
                t_n / t_r >= 3,
                {"max_rel_diff": rel},
            )
        )
        del a, b
    return out


def sobol_model(n_inputs: int = 20, seed: int = 0) -> montecarlo.McProblem:
    """The report model over ``n_inputs`` uncertain factors (lognormal and normal) and 400 lines, 30% of
    them with a 10% activity uncertainty (so activity cells are inputs too)."""
    em = synthetic_emissions(400, n_inputs, seed, dists=(0.7, 0.3, 0.0))
    return reports.problem_for(em)


def scipy_dists(dist: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> list:
    """scipy.stats frozen distributions equal to the engine's (codes of ``montecarlo``)."""
    from scipy import stats

    out = []
    for d, a, b in zip(dist, p1, p2):
        if d == montecarlo.DIST_LOGNORMAL and a > 0:
            out.append(stats.lognorm(s=b, scale=a))
        elif d == montecarlo.DIST_NORMAL:
            out.append(stats.norm(loc=a, scale=b))
        elif d == montecarlo.DIST_TRIANGULAR:
            out.append(stats.triang(c=0.5, loc=a - b, scale=2 * b))
        elif d == montecarlo.DIST_UNIFORM:
            out.append(stats.uniform(loc=a - b, scale=2 * b))
        else:
            raise ValueError(f"no scipy equivalent for distribution {d} ({a}, {b})")
    return out


def model_function(problem: montecarlo.McProblem):
    """Y = A [X; R * X[atom_factor]] as a function of inputs x [n_factors + n_atoms, n] (scipy's
    layout: factors then atoms), returning [n_groups, n]."""
    a = problem.matrix()
    nf, fa = problem.n_factors, problem.atom_factor

    def func(x: np.ndarray) -> np.ndarray:
        xf = x[:nf]
        return a @ np.vstack([xf, x[nf:] * xf[fa]]) if fa.size else a @ xf

    return func


def scipy_sobol(problem: montecarlo.McProblem, n: int, seed: int = 0, result: bool = False):
    """Sampling estimate (scipy.stats.sobol_indices, Saltelli/Jansen) of S1 and ST, [n_groups, n_inputs]
    with inputs = factors then activity atoms (``result``: scipy's result object instead)."""
    from scipy import stats

    dists = scipy_dists(problem.dist, problem.p1, problem.p2) + scipy_dists(
        problem.atom_dist, problem.atom_p1, problem.atom_p2)
    res = stats.sobol_indices(func=model_function(problem), n=n, dists=dists, rng=np.random.default_rng(seed))
    return res if result else (res.first_order, res.total_order)


def closed_form_matrix(problem: montecarlo.McProblem) -> tuple[np.ndarray, np.ndarray]:
    """S1 and ST from ``sensitivity.sobol_indices`` as [n_groups, n_factors + n_atoms]."""
    from carbon_assets.engine.sensitivity import sobol_indices

    df = sobol_indices(problem)
    idx = {f: i for i, f in enumerate(problem.factor_ids + problem.atom_names)}
    s1, st = np.zeros((problem.n_groups, len(idx))), np.zeros((problem.n_groups, len(idx)))
    for g, f, a, b in df.select("group_index", "input", "s1", "st").iter_rows():
        s1[g, idx[f]], st[g, idx[f]] = a, b
    return s1, st


def bench_sobol(n_inputs: int = 20, n: int = 2**15, seed: int = 0) -> Result:
    from carbon_assets.engine.sensitivity import sobol_indices

    p = sobol_model(n_inputs, seed)
    t_cf, _ = _time(lambda: sobol_indices(p), repeat=20)
    t_sc, (s1, st) = _time(lambda: scipy_sobol(p, n, seed))
    c1, ct = closed_form_matrix(p)
    ratio = t_sc / t_cf
    return Result(
        "closed-form Sobol vs sampling",
        f"{n_inputs} factors + {p.n_atoms} activity cells, {p.n_groups} outputs, scipy n={n:,} "
        f"({n * (n_inputs + p.n_atoms + 2):,} model runs)",
        [("closed form (sensitivity.sobol_indices)", t_cf), ("scipy.stats.sobol_indices", t_sc)],
        ratio,
        ">= 1000x",
        ratio >= 1000,
        {"max_abs_err_s1": float(np.max(np.abs(s1 - c1))), "max_abs_err_st": float(np.max(np.abs(st - ct)))},
    )


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def distributions_child(n_lines: int, n_samples: int, n_factors: int, seed: int) -> dict:
    """Runs in the subprocess: build the frame, reset the peak-RSS mark, time distributions()."""
    em = synthetic_emissions(n_lines, n_factors, seed)
    params = CalcParams(mc_samples=n_samples, mc_seed=42)
    reports.distributions(em.head(1000), "bench", "2025", params)  # warm imports / kernel thread pool
    gc.collect()
    rss_input, hwm_setup = _status_kib("VmRSS"), _status_kib("VmHWM")
    try:  # reset VmHWM to the current RSS (Linux >= 4.0), so the run's own peak is visible
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        reset = False
    t0 = time.perf_counter()
    out = reports.distributions(em, "bench", "2025", params)
    secs = time.perf_counter() - t0
    hwm_run = _status_kib("VmHWM")  # without the reset: the whole process's peak
    return {
        "seconds": secs,
        "rss_with_input_kib": rss_input,
        "peak_during_run_kib": hwm_run if reset else -1,
        "peak_whole_process_kib": max(hwm_setup, hwm_run),
        "backend": out["mc_backend"][0],
        "groups": out.height,
        "frame_mb": em.estimated_size() / 2**20,
    }


def bench_distributions(
    n_lines: int = 1_000_000, n_samples: int = 10_000, n_factors: int = 2000, seed: int = 0
) -> Result:
    """Whole ``reports.distributions`` in a fresh interpreter, with peak RSS from /proc VmHWM (so
    native allocations count): during the run (input frame resident), and over the whole process
    (building the synthetic input frame included). Without a VmHWM reset only the latter exists."""
    code = (
        "import json,sys; from carbon_assets.bench import distributions_child as c; "
        f"print(json.dumps(c({n_lines}, {n_samples}, {n_factors}, {seed})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"distributions subprocess failed ({proc.returncode}):\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    whole_mb = r["peak_whole_process_kib"] / 1024
    peak_mb = r["peak_during_run_kib"] / 1024 if r["peak_during_run_kib"] > 0 else whole_mb
    met = r["seconds"] < 5 and peak_mb < 2048
    return Result(
        "emission_distributions (fresh process)",
        f"{n_lines:,} lines x {n_samples:,} samples, {n_factors:,} factors",
        [(f"reports.distributions() [{r['backend']}]", r["seconds"])],
        None,
        "< 5 s and < 2 GB peak",
        met,
        {
            "peak_rss_during_run_mb": round(peak_mb, 1),
            "rss_with_input_mb": round(r["rss_with_input_kib"] / 1024, 1),
            "peak_rss_whole_process_mb": round(whole_mb, 1),
            "input_frame_mb": round(r["frame_mb"], 1),
            "report_rows": r["groups"],
        },
    )


# --------------------------------------------------------------------------------------------- run

FULL = {
    "naive": {"n_lines": 100_000, "n_samples": 10_000, "n_factors": 2000},
    "kernel": {"n_lines": 1_000_000, "n_factors": 2000, "n_samples": 10_000, "n_groups": 1000},
    "sobol": {"n_inputs": 20, "n": 2**15},
    "distributions": {"n_lines": 1_000_000, "n_samples": 10_000, "n_factors": 2000},
}
QUICK = {  # the full line counts, 10x fewer samples (and a smaller scipy n): about 10-20 s in all
    "naive": {"n_lines": 100_000, "n_samples": 1000, "n_factors": 2000},
    "kernel": {"n_lines": 1_000_000, "n_factors": 2000, "n_samples": 1000, "n_groups": 1000},
    "sobol": {"n_inputs": 20, "n": 2**12},
    "distributions": {"n_lines": 1_000_000, "n_samples": 1000, "n_factors": 2000},
}
BENCHES = {
    "naive": bench_naive,
    "kernel": bench_kernel,
    "sobol": bench_sobol,
    "distributions": bench_distributions,
}


def format_table(results: list[Result], quick: bool = False) -> str:
    """Seconds per approach and ratio to the first (fast) approach; targets apply to full sizes."""
    lines = [f"{'benchmark':<44} {'approach':<52} {'seconds':>9} {'ratio':>9}  target / met"]
    lines.append("-" * len(lines[0]) + "-" * 12)
    for res in results:
        lines.append(f"{res.name:<44} [{res.size}]")
        for i, (approach, secs) in enumerate(res.rows):
            ratio = f"{secs / res.rows[0][1]:.1f}x" if i else ""
            met = "n/a at quick sizes" if quick else ("yes" if res.met else "NO")
            tail = f"  {res.target}: {met}" if i == len(res.rows) - 1 else ""
            lines.append(f"{'':<44} {approach:<52} {secs:>9.4f} {ratio:>9}{tail}")
        if res.extra:
            lines.append(f"{'':<44} " + ", ".join(f"{k}={_fmt(v)}" for k, v in res.extra.items()))
    return "\n".join(lines)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run(quick: bool = False, only: list[str] | None = None, out=None) -> list[Result]:
    """Run the benchmarks (all, or those named in ``only``) and print progress and the table."""
    out = sys.stdout if out is None else out
    sizes = QUICK if quick else FULL
    results: list[Result] = []
    print(
        f"carbon-assets bench ({'quick' if quick else 'full'}); cpus={os.cpu_count()}, "
        f"kernel={montecarlo.kernel_version()}",
        file=out,
        flush=True,
    )
    for name, fn in BENCHES.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        r = fn(**sizes[name])
        results.extend(r if isinstance(r, list) else [r])
        print(f"  {name}: done in {time.perf_counter() - t0:.1f} s", file=out, flush=True)
    print(format_table(results, quick), file=out, flush=True)
    return results
