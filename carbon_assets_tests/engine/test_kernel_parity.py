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
    dist[7] = 3
    with pytest.raises(ValueError, match="unknown distribution code 3 for factor 7"):
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
