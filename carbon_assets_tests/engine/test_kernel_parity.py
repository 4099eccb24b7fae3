"""Parity of the Rust kernel (carbon_assets._kernel) with the numpy reference path."""

from __future__ import annotations

import numpy as np
import pytest

from carbon_assets.engine import montecarlo as mc
from carbon_assets.engine import rng

_kernel = pytest.importorskip(
    "carbon_assets._kernel",
    reason="Rust kernel carbon_assets._kernel is not built (run `pip install -e .` from the project root)",
)

SEED = 20240607
N_SAMPLES = 1000


def _problem(n_factors: int = 50, n_groups: int = 8, nnz: int = 400, seed: int = 7) -> mc.McProblem:
    gen = np.random.default_rng(seed)
    dist = gen.choice([mc.DIST_NONE, mc.DIST_LOGNORMAL, mc.DIST_NORMAL], size=n_factors).astype(np.int8)
    dist[:4] = [mc.DIST_NONE, mc.DIST_LOGNORMAL, mc.DIST_NORMAL, mc.DIST_NORMAL]
    p1 = gen.uniform(0.05, 5.0, size=n_factors)
    p2 = np.where(dist == mc.DIST_LOGNORMAL, gen.uniform(0.05, 0.6, size=n_factors), 0.0)
    p2 = np.where(dist == mc.DIST_NORMAL, p1 * gen.uniform(0.02, 0.3, size=n_factors), p2)
    p2[0] = np.nan  # ignored for 'none': X = p1 whatever p2 is
    p1[3], p2[3] = -0.8, 0.2  # a negative-valued normal factor (e.g. a removal)
    # coefficients in random order (groups interleaved, duplicate (group, factor) pairs allowed);
    # every factor used at least once
    factor = np.concatenate([np.arange(n_factors), gen.integers(0, n_factors, size=nnz - n_factors)])
    gen.shuffle(factor)
    return mc.McProblem(
        factor_ids=tuple(f"F{i:03d}" for i in range(n_factors)),
        dist=dist,
        p1=p1,
        p2=p2,
        groups=tuple((f"g{i}",) for i in range(n_groups)),
        coef_group=gen.integers(0, n_groups, size=nnz).astype(np.int64),
        coef_factor=factor.astype(np.int64),
        coef_value=gen.uniform(0.1, 100.0, size=nnz),
    )


def _call(p: mc.McProblem, n_samples: int, sample_start: int = 0, threads: int = 0, **over) -> np.ndarray:
    """The kernel on problem ``p`` (by keyword), with some arrays replaced by ``over``."""
    arrays = {
        "keys": p.stream_keys(SEED),
        "dist": p.dist,
        "p1": p.p1,
        "p2": p.p2,
        "coef_group": p.coef_group,
        "coef_factor": p.coef_factor,
        "coef_value": p.coef_value,
    }
    arrays.update(over)
    return _kernel.mc_group_totals(
        **arrays, n_groups=p.n_groups, n_samples=n_samples, sample_start=sample_start, threads=threads
    )


@pytest.fixture(scope="module")
def problem() -> mc.McProblem:
    return _problem()


def test_matches_numpy_reference(problem):
    want = mc.group_totals_numpy(problem, SEED, N_SAMPLES)
    got = mc.group_totals_rust(problem, SEED, N_SAMPLES, threads=1)
    assert got.shape == (problem.n_groups, N_SAMPLES)
    assert got.dtype == np.float64 and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(np.isfinite(got))
    # the draws really vary and the negative factor is kept as drawn
    assert np.all(got.std(axis=1) > 0)


def test_auto_backend_uses_kernel(problem):
    assert mc.kernel_available()
    assert mc.kernel_version() == _kernel.__version__
    np.testing.assert_array_equal(
        mc.group_totals(problem, SEED, 64, backend="auto"), mc.group_totals_rust(problem, SEED, 64)
    )


def test_single_factor_draws_match_rng_streams():
    # one coefficient of 1.0 per factor, one group per factor: T = X, so z itself for N(0, 1)
    keys = np.array(
        [0, 1, 0xFFFFFFFFFFFFFFFF, rng.stream_key(42, "factor", "DEFRA:1_100_1004_6"), 0x198E4B9F38EF956F],
        dtype=np.uint64,
    )  # the last key's word 0 has all top 53 bits set: u1 == 1.0 exactly, z == 0
    n = len(keys)
    start, count = 999_990, 20
    got = _kernel.mc_group_totals(
        keys,
        np.full(n, mc.DIST_NORMAL, dtype=np.int8),
        np.zeros(n),
        np.ones(n),
        np.arange(n, dtype=np.int64),
        np.arange(n, dtype=np.int64),
        np.ones(n),
        n,
        count,
        start,
        0,
    )
    want = rng.standard_normals(keys, start, count)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    z0 = _kernel.mc_group_totals(
        keys[-1:], np.array([2], np.int8), np.zeros(1), np.ones(1),
        np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1), 1, 1, 0, 0,
    )  # fmt: skip
    assert z0[0, 0] == 0.0 and rng.standard_normals(keys[-1:], 0, 1)[0, 0] == 0.0


def test_thread_count_does_not_change_bits(problem):
    one = mc.group_totals_rust(problem, SEED, N_SAMPLES, threads=1)
    two = mc.group_totals_rust(problem, SEED, N_SAMPLES, threads=2)
    default = mc.group_totals_rust(problem, SEED, N_SAMPLES, threads=0)
    assert one.tobytes() == two.tobytes()
    assert one.tobytes() == default.tobytes()


def test_sample_range_split_does_not_change_bits(problem):
    whole = _call(problem, N_SAMPLES, 0)
    halves = np.concatenate([_call(problem, 500, 0), _call(problem, 500, 500)], axis=1)
    assert whole.tobytes() == np.ascontiguousarray(halves).tobytes()
    odd = np.concatenate([_call(problem, 333, 0, threads=2), _call(problem, 667, 333, threads=1)], axis=1)
    assert whole.tobytes() == np.ascontiguousarray(odd).tobytes()


def test_empty_sample_range(problem):
    out = _call(problem, 0)
    assert out.shape == (problem.n_groups, 0)


def test_bad_group_index_raises(problem):
    cg = problem.coef_group.copy()
    cg[5] = problem.n_groups
    with pytest.raises(ValueError, match=r"coef_group\[5\] = 8 is out of range"):
        _call(problem, 10, coef_group=cg)


def test_bad_factor_index_raises(problem):
    cf = problem.coef_factor.copy()
    cf[0] = -1
    with pytest.raises(ValueError, match=r"coef_factor\[0\] = -1 is out of range"):
        _call(problem, 10, coef_factor=cf)


def test_bad_dist_code_raises(problem):
    dist = problem.dist.copy()
    dist[7] = 9
    with pytest.raises(ValueError, match="unknown distribution code 9 for factor 7"):
        _call(problem, 10, dist=dist)


def test_length_mismatch_raises(problem):
    with pytest.raises(ValueError, match="p2 has length 49"):
        _call(problem, 10, p2=problem.p2[:-1])
    with pytest.raises(ValueError, match="coef_value has length"):
        _call(problem, 10, coef_value=problem.coef_value[:-1])


def test_wrong_dtype_raises_type_error(problem):
    with pytest.raises(TypeError, match="coef_group must be a 1-D numpy array of dtype int64"):
        _call(problem, 10, coef_group=problem.coef_group.astype(np.int32))


def test_version_is_a_non_empty_string():
    assert isinstance(_kernel.__version__, str) and _kernel.__version__


# --------------------------------------------------- all five distributions and activity atoms


def _atom_problem(n_lines: int = 3000, seed: int = 3) -> mc.McProblem:
    """The report model of synthetic lines on factors of all five distributions, with activity
    uncertainty on part of the lines (multi-line and single-line cells, normal and lognormal atoms)."""
    import polars as pl

    from carbon_assets.engine import reports

    gen = np.random.default_rng(seed)
    nf = 60
    codes = np.arange(nf) % 5
    names = np.array(list(mc.DIST_CODES))[[list(mc.DIST_CODES.values()).index(c) for c in codes]]
    p1 = gen.uniform(0.05, 5.0, nf)
    p2 = np.where(codes == mc.DIST_LOGNORMAL, 0.3, 0.2 * p1)
    f = gen.integers(0, nf, n_lines)
    q = gen.lognormal(3, 1, n_lines) * np.where(gen.random(n_lines) < 0.05, -1, 1)  # a few negative lines
    lines = pl.DataFrame({
        "scope": gen.choice(["1", "2", "3"], n_lines), "category": gen.choice(["a", "b", "c", "d"], n_lines),
        "factor_id": [f"F{i:02d}" for i in f], "dist": names[f], "dist_p1": p1[f], "dist_p2": p2[f],
        "quantity_in_factor_unit": q, "quantity_uncertainty_pct": np.where(gen.random(n_lines) < 0.4, 20.0, np.nan),
        "tenant": "acme", "activity_id": [f"A{i}" for i in range(n_lines)],
    })
    return mc.build_problem(lines, reports.GROUP_COLS, with_total=False, rollups=reports.ROLLUPS)


@pytest.fixture(scope="module")
def atom_problem() -> mc.McProblem:
    p = _atom_problem()
    assert p.n_atoms > 20 and set(np.unique(p.dist)) == {0, 1, 2, 3, 4}
    assert {mc.DIST_LOGNORMAL, mc.DIST_NORMAL} <= set(np.unique(p.atom_dist))
    return p


def test_atoms_and_all_distributions_match_numpy(atom_problem):
    want = mc.group_totals_numpy(atom_problem, SEED, N_SAMPLES)
    got = mc.group_totals_rust(atom_problem, SEED, N_SAMPLES)
    assert np.all(np.isfinite(got)) and np.all(got.std(axis=1) > 0)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_triangular_and_uniform_draws_are_bit_identical_to_numpy():
    keys = np.array([rng.stream_key(1, "factor", f"F{i}") for i in range(4)], np.uint64)
    dist = np.array([3, 4, 3, 4], np.int8)
    p1, p2 = np.array([5.0, 4.0, -2.0, 0.1]), np.array([2.0, 1.0, 0.5, 0.3])
    n = len(keys)
    got = _kernel.mc_group_totals(keys, dist, p1, p2, np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64),
                                  np.ones(n), n, 500, 77, 0)
    assert got.tobytes() == mc.draws(dist, p1, p2, keys, 77, 500).tobytes()


def test_atoms_identical_for_any_thread_count_and_split(atom_problem):
    one = mc.group_totals_rust(atom_problem, SEED, N_SAMPLES, threads=1)
    two = mc.group_totals_rust(atom_problem, SEED, N_SAMPLES, threads=2)
    assert one.tobytes() == two.tobytes()
    parts = np.concatenate([mc.group_totals_rust(atom_problem, SEED, 333, threads=2),
                            mc.group_totals_rust(atom_problem, SEED, N_SAMPLES - 333, threads=1, sample_start=333)],
                           axis=1)
    assert one.tobytes() == np.ascontiguousarray(parts).tobytes()


def test_bad_atom_arguments_raise(atom_problem):
    p = atom_problem
    kw = {"atom_keys": p.atom_keys(SEED), "atom_dist": p.atom_dist, "atom_p1": p.atom_p1, "atom_p2": p.atom_p2,
          "atom_factor": p.atom_factor.copy()}
    kw["atom_factor"][2] = p.n_factors
    with pytest.raises(ValueError, match=r"atom_factor\[2\]"):
        _call(p, 10, **kw)
    kw["atom_factor"] = p.atom_factor[:-1]
    with pytest.raises(ValueError, match="atom_factor has length"):
        _call(p, 10, **kw)
