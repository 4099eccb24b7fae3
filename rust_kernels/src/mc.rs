//! Fused Monte-Carlo sampling + sparse aggregation (no Python dependency).
//!
//! Computes `T[g, s] = sum_k coef_value[k] * X[coef_factor[k], s]` over the coefficients `k`
//! with `coef_group[k] == g`, accumulated in the given coefficient order. Columns
//! `0 .. n_factors` of `X` are the factors' draws; column `n_factors + a` is activity atom
//! `a`'s draw times its factor's draw, `R[a, s] * X[atom_factor[a], s]` (an atom is the
//! uncertain activity quantity of one (group, factor) cell, see `carbon_assets/engine/montecarlo.py`).
//! Draws follow `montecarlo.draws`: none p1; lognormal p1*exp(p2*z); normal p1+p2*z;
//! triangular and uniform by inverse CDF of the stream's uniform number `2s`.
//! Coefficients repeating a (group, factor) pair are first summed into the pair's first
//! occurrence (in the given order), as the numpy path's sparse matrix does.
//!
//! Samples are processed in blocks of `block` consecutive samples. Per block a worker draws the
//! factors it needs into a buffer `[used factors x block]` and accumulates the groups into a buffer
//! `[n_groups x block]`; nothing of size nnz x samples is ever allocated. Every sample's result
//! is produced by the same sequence of IEEE operations whatever block, lane or thread computes
//! it (`acc = acc + v * x`, starting from 0.0, in coefficient order; Rust never contracts to
//! FMA), so the output is bit-identical for any thread count and any split of the sample range.

use std::fmt;

use rayon::prelude::*;

use crate::{fastmath, rng};

pub const DIST_NONE: i8 = 0;
pub const DIST_LOGNORMAL: i8 = 1;
pub const DIST_NORMAL: i8 = 2;
pub const DIST_TRIANGULAR: i8 = 3;
pub const DIST_UNIFORM: i8 = 4;

/// Standard normal number `sample` of stream `key`: the words of `rng::standard_normal`, with the
/// vectorisable `fastmath` log and cos (within an ulp of libm's, see `fastmath`).
#[inline(always)]
pub fn fast_normal(key: u64, sample: u64) -> f64 {
    let (r, sin, cos) = fast_pair(key, sample / 2);
    r * if sample & 1 == 0 { cos } else { sin }
}

/// Box-Muller pair `p` of stream `key`: (radius, sin theta, cos theta); normals 2p = r cos, 2p+1 = r sin.
#[inline(always)]
fn fast_pair(key: u64, p: u64) -> (f64, f64, f64) {
    let c = p.wrapping_mul(4);
    let u1 = rng::uniform(key, c);
    let u2 = rng::uniform(key, c.wrapping_add(1));
    let (sin, cos) = fastmath::sincos(rng::TWO_PI * u2);
    ((-2.0 * fastmath::ln(u1)).sqrt(), sin, cos)
}

/// Normals `s0 .. s0 + LANES` into `z`: one log and square root per pair when `s0` is even, else
/// per lane; the same bits either way.
#[inline(always)]
fn normal_lanes(key: u64, s0: u64, z: &mut [f64; LANES]) {
    if s0 & 1 == 0 {
        let (mut rc, mut rs) = ([0.0f64; LANES / 2], [0.0f64; LANES / 2]);
        for i in 0..LANES / 2 {
            let (r, sin, cos) = fast_pair(key, s0 / 2 + i as u64);
            rc[i] = r * cos;
            rs[i] = r * sin;
        }
        for i in 0..LANES / 2 {
            z[2 * i] = rc[i];
            z[2 * i + 1] = rs[i];
        }
    } else {
        for (j, zj) in z.iter_mut().enumerate() {
            *zj = fast_normal(key, s0 + j as u64);
        }
    }
}

/// exp with the libm fallback outside the fast path's range.
#[inline(always)]
fn exp_any(a: f64) -> f64 {
    if a.abs() > 700.0 {
        a.exp()
    } else {
        fastmath::exp(a)
    }
}

/// Draw number `sample` of distribution `dist` (p1, p2) on stream `key`: the formulas of numpy's
/// `montecarlo.draws` (same operations in the same order; log/cos/exp within an ulp of libm's).
#[inline(always)]
pub fn draw(dist: i8, key: u64, p1: f64, p2: f64, sample: u64) -> f64 {
    match dist {
        DIST_LOGNORMAL => p1 * exp_any(p2 * fast_normal(key, sample)),
        DIST_NORMAL => p1 + p2 * fast_normal(key, sample),
        DIST_TRIANGULAR => {
            let u = rng::uniform(key, sample.wrapping_mul(2));
            if u < 0.5 {
                (p1 - p2) + p2 * (2.0 * u).sqrt()
            } else {
                (p1 + p2) - p2 * (2.0 * (1.0 - u)).sqrt()
            }
        }
        DIST_UNIFORM => p1 + p2 * (2.0 * rng::uniform(key, sample.wrapping_mul(2)) - 1.0),
        _ => p1,
    }
}

/// Draws `s0 .. s0 + LANES` into `x`: the same values as `draw`, written as straight loops over the
/// lanes so they vectorise (the libm fallback of exp runs in a separate, rarely taken pass).
#[inline(always)]
fn draw_lanes(dist: i8, key: u64, p1: f64, p2: f64, s0: u64, x: &mut [f64; LANES]) {
    match dist {
        DIST_LOGNORMAL => {
            let mut a = [0.0f64; LANES];
            normal_lanes(key, s0, &mut a);
            for aj in a.iter_mut() {
                *aj *= p2;
            }
            for j in 0..LANES {
                x[j] = p1 * fastmath::exp(a[j]);
            }
            for j in 0..LANES {
                if a[j].abs() > 700.0 {
                    x[j] = p1 * a[j].exp();
                }
            }
        }
        DIST_NORMAL => {
            normal_lanes(key, s0, x);
            for xj in x.iter_mut() {
                *xj = p1 + p2 * *xj;
            }
        }
        DIST_TRIANGULAR => {
            for (j, xj) in x.iter_mut().enumerate() {
                let u = rng::uniform(key, (s0 + j as u64).wrapping_mul(2));
                let lo = (p1 - p2) + p2 * (2.0 * u).sqrt();
                let hi = (p1 + p2) - p2 * (2.0 * (1.0 - u)).sqrt();
                *xj = if u < 0.5 { lo } else { hi };
            }
        }
        DIST_UNIFORM => {
            for (j, xj) in x.iter_mut().enumerate() {
                *xj = p1 + p2 * (2.0 * rng::uniform(key, (s0 + j as u64).wrapping_mul(2)) - 1.0);
            }
        }
        _ => x.fill(p1),
    }
}

/// Fill `out[j]` with draw `s0 + j`, LANES at a time.
#[inline(always)]
fn fill_draws_generic(dist: i8, key: u64, p1: f64, p2: f64, s0: u64, out: &mut [f64]) {
    let mut buf = [0.0f64; LANES];
    for (c, chunk) in out.chunks_mut(LANES).enumerate() {
        draw_lanes(dist, key, p1, p2, s0 + (c * LANES) as u64, &mut buf);
        chunk.copy_from_slice(&buf[..chunk.len()]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_draws_avx2(dist: i8, key: u64, p1: f64, p2: f64, s0: u64, out: &mut [f64]) {
    fill_draws_generic(dist, key, p1, p2, s0, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn fill_draws_avx512(dist: i8, key: u64, p1: f64, p2: f64, s0: u64, out: &mut [f64]) {
    fill_draws_generic(dist, key, p1, p2, s0, out)
}

fn known_dist(d: i8) -> bool {
    matches!(
        d,
        DIST_NONE | DIST_LOGNORMAL | DIST_NORMAL | DIST_TRIANGULAR | DIST_UNIFORM
    )
}

/// Lanes (samples) accumulated together in registers.
const LANES: usize = 32;
/// Target size in bytes of a worker's factor-draw buffer (kept within a core's L2 cache).
const XBUF_TARGET_BYTES: usize = 524288;
/// Largest sample block.
const MAX_BLOCK: usize = 256;

/// Invalid input, reported to Python as `ValueError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

/// Every array in `arrays` must have the reference array's length `n` (one entry per `what`).
fn same_lengths(
    reference: &str,
    n: usize,
    what: &str,
    arrays: &[(&str, usize)],
) -> Result<(), KernelError> {
    for &(name, len) in arrays {
        if len != n {
            return err(format!(
                "{name} has length {len} but {reference} has length {n} (one entry per {what} expected)"
            ));
        }
    }
    Ok(())
}

fn err<T>(msg: String) -> Result<T, KernelError> {
    Err(KernelError(msg))
}

/// The model, borrowed from the caller's arrays (same layout as `montecarlo.McProblem`).
#[derive(Debug, Clone, Copy)]
pub struct Problem<'a> {
    pub keys: &'a [u64],
    pub dist: &'a [i8],
    pub p1: &'a [f64],
    pub p2: &'a [f64],
    /// Activity atoms: stream key, distribution and factor of each (may be empty).
    pub atom_keys: &'a [u64],
    pub atom_dist: &'a [i8],
    pub atom_p1: &'a [f64],
    pub atom_p2: &'a [f64],
    pub atom_factor: &'a [i64],
    pub coef_group: &'a [i64],
    pub coef_factor: &'a [i64],
    pub coef_value: &'a [f64],
    pub n_groups: usize,
}

/// A maximal run of consecutive coefficients with the same group.
#[derive(Debug, Clone, Copy)]
struct Run {
    group: usize,
    start: usize,
    end: usize,
}

/// Validated problem in the kernel's working layout.
#[derive(Debug)]
pub struct Prepared<'a> {
    problem: Problem<'a>,
    /// Rows of the draw buffer: one per factor that has a coefficient (ascending factor order).
    n_rows: usize,
    /// (row, factor) of the used factors with a random distribution (need draws).
    random_rows: Vec<(usize, usize)>,
    /// (row, factor) of the used factors with distribution `none` (constant rows).
    const_rows: Vec<(usize, usize)>,
    /// (row, atom, row of the atom's factor) of the used atoms, after all factor rows.
    atom_rows: Vec<(usize, usize, usize)>,
    /// Draw-buffer row and value of each coefficient after merging repeated (group, factor)
    /// pairs.
    row_idx: Vec<u32>,
    values: Vec<f64>,
    runs: Vec<Run>,
}

impl<'a> Prepared<'a> {
    pub fn n_groups(&self) -> usize {
        self.problem.n_groups
    }
}

/// Check lengths, indices and distribution codes; build the working layout.
pub fn prepare(problem: Problem<'_>) -> Result<Prepared<'_>, KernelError> {
    let n_factors = problem.keys.len();
    same_lengths(
        "keys",
        n_factors,
        "factor",
        &[
            ("dist", problem.dist.len()),
            ("p1", problem.p1.len()),
            ("p2", problem.p2.len()),
        ],
    )?;
    let nnz = problem.coef_group.len();
    same_lengths(
        "coef_group",
        nnz,
        "coefficient",
        &[
            ("coef_factor", problem.coef_factor.len()),
            ("coef_value", problem.coef_value.len()),
        ],
    )?;
    if n_factors > u32::MAX as usize {
        return err(format!(
            "too many factors: {n_factors} (at most {})",
            u32::MAX
        ));
    }
    for (f, &d) in problem.dist.iter().enumerate() {
        if !known_dist(d) {
            return err(format!(
                "unknown distribution code {d} for factor {f} (expected 0 = none, 1 = lognormal, 2 = normal, 3 = triangular, 4 = uniform)"
            ));
        }
    }
    let n_atoms = problem.atom_keys.len();
    same_lengths(
        "atom_keys",
        n_atoms,
        "atom",
        &[
            ("atom_dist", problem.atom_dist.len()),
            ("atom_p1", problem.atom_p1.len()),
            ("atom_p2", problem.atom_p2.len()),
            ("atom_factor", problem.atom_factor.len()),
        ],
    )?;
    for (a, (&d, &f)) in problem
        .atom_dist
        .iter()
        .zip(problem.atom_factor)
        .enumerate()
    {
        if !known_dist(d) {
            return err(format!("unknown distribution code {d} for atom {a}"));
        }
        if f < 0 || f as u64 >= n_factors as u64 {
            return err(format!(
                "atom_factor[{a}] = {f} is out of range [0, {n_factors})"
            ));
        }
    }
    let n_cols = n_factors + n_atoms;
    if n_cols > u32::MAX as usize {
        return err(format!("too many factors and atoms: {n_cols}"));
    }
    let n_groups = problem.n_groups;
    for k in 0..nnz {
        let g = problem.coef_group[k];
        if g < 0 || g as u64 >= n_groups as u64 {
            return err(format!(
                "coef_group[{k}] = {g} is out of range [0, {n_groups})"
            ));
        }
        let f = problem.coef_factor[k];
        if f < 0 || f as u64 >= n_cols as u64 {
            return err(format!(
                "coef_factor[{k}] = {f} is out of range [0, {n_cols})"
            ));
        }
    }
    let (kept, values) = merge_duplicates(
        problem.coef_group,
        problem.coef_factor,
        problem.coef_value,
        n_groups,
        n_cols,
    );
    // used columns; an used atom needs its factor's row too
    let mut row_of = vec![u32::MAX; n_cols];
    for &k in &kept {
        let c = problem.coef_factor[k] as usize;
        row_of[c] = 0;
        if c >= n_factors {
            row_of[problem.atom_factor[c - n_factors] as usize] = 0;
        }
    }
    let (mut random_rows, mut const_rows, mut atom_rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut n_rows = 0usize;
    for (c, row) in row_of.iter_mut().enumerate() {
        if *row != u32::MAX {
            *row = n_rows as u32;
            if c >= n_factors {
                atom_rows.push((n_rows, c - n_factors, 0usize));
            } else if problem.dist[c] == DIST_NONE {
                const_rows.push((n_rows, c));
            } else {
                random_rows.push((n_rows, c));
            }
            n_rows += 1;
        }
    }
    for entry in atom_rows.iter_mut() {
        entry.2 = row_of[problem.atom_factor[entry.1] as usize] as usize;
    }
    let mut row_idx = Vec::with_capacity(kept.len());
    let mut runs: Vec<Run> = Vec::new();
    for (i, &k) in kept.iter().enumerate() {
        let (g, f) = (
            problem.coef_group[k] as usize,
            problem.coef_factor[k] as usize,
        );
        row_idx.push(row_of[f]);
        match runs.last_mut() {
            Some(run) if run.group == g => run.end = i + 1,
            _ => runs.push(Run {
                group: g,
                start: i,
                end: i + 1,
            }),
        }
    }
    Ok(Prepared {
        problem,
        n_rows,
        random_rows,
        const_rows,
        atom_rows,
        row_idx,
        values,
        runs,
    })
}

/// Merge coefficients that repeat a (group, factor) pair, as scipy's COO -> CSR conversion in
/// the numpy path does: the repeats' values are added, in the given order, into the pair's first
/// occurrence, which keeps its place; later occurrences are dropped. Returns the kept positions
/// (ascending) and their merged values. Indices must already be validated.
///
/// Without this, a problem with many repeated pairs would do far more work than the numpy path
/// (e.g. 1M coefficients over 20 groups x 2,000 factors are only 40k distinct pairs).
fn merge_duplicates(
    cg: &[i64],
    cf: &[i64],
    cv: &[f64],
    n_groups: usize,
    n_factors: usize,
) -> (Vec<usize>, Vec<f64>) {
    let nnz = cg.len();
    // Fast path: pairs strictly increasing (as build_problem emits them per group) => no repeats.
    if (1..nnz).all(|k| (cg[k - 1], cf[k - 1]) < (cg[k], cf[k])) {
        return ((0..nnz).collect(), cv.to_vec());
    }
    // Bucket the coefficients by group (counting sort, stable), then per group find each
    // factor's first occurrence with a stamped table of size n_factors.
    let mut start = vec![0usize; n_groups + 1];
    for &g in cg {
        start[g as usize + 1] += 1;
    }
    for g in 0..n_groups {
        start[g + 1] += start[g];
    }
    let mut fill = start.clone();
    let mut by_group = vec![0usize; nnz];
    for (k, &g) in cg.iter().enumerate() {
        by_group[fill[g as usize]] = k;
        fill[g as usize] += 1;
    }
    let mut stamp = vec![usize::MAX; n_factors];
    let mut first = vec![0usize; n_factors];
    let mut keep = vec![true; nnz];
    let mut merged = cv.to_vec();
    for g in 0..n_groups {
        for &k in &by_group[start[g]..start[g + 1]] {
            let f = cf[k] as usize;
            if stamp[f] != g {
                stamp[f] = g;
                first[f] = k;
            } else {
                merged[first[f]] += cv[k];
                keep[k] = false;
            }
        }
    }
    let kept: Vec<usize> = (0..nnz).filter(|&k| keep[k]).collect();
    let values = kept.iter().map(|&k| merged[k]).collect();
    (kept, values)
}

/// Samples per block: a multiple of LANES whose draw buffer stays near XBUF_TARGET_BYTES.
/// (Any block size gives the same bits; this only affects speed.)
fn block_size(n_rows: usize, n_samples: usize) -> usize {
    let by_cache = XBUF_TARGET_BYTES / (8 * n_rows.max(1));
    let b = (by_cache / LANES * LANES).clamp(LANES, MAX_BLOCK);
    // no point in blocks (much) longer than the whole range
    b.min(n_samples.div_ceil(LANES).max(1) * LANES)
}

/// Raw output pointer shared by workers that write disjoint column ranges.
#[derive(Clone, Copy)]
struct OutPtr(*mut f64);
// SAFETY: workers write disjoint elements (distinct sample blocks) of one live allocation.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

struct Buffers {
    x: Vec<f64>,
    t: Vec<f64>,
}

/// Group totals for samples `sample_start .. sample_start + n_samples` into `out`
/// (row-major `[n_groups, n_samples]`), using the current rayon pool.
pub fn group_totals_into(
    prep: &Prepared<'_>,
    sample_start: u64,
    n_samples: usize,
    out: &mut [f64],
) {
    let n_groups = prep.n_groups();
    assert_eq!(
        out.len(),
        n_groups * n_samples,
        "output buffer has the wrong size"
    );
    if n_samples == 0 || n_groups == 0 {
        return;
    }
    let block = block_size(prep.n_rows, n_samples);
    let n_blocks = n_samples.div_ceil(block);
    let out_ptr = OutPtr(out.as_mut_ptr());
    let simd = Simd::detect();
    (0..n_blocks).into_par_iter().for_each_init(
        || Buffers {
            x: vec![0.0; prep.n_rows * block],
            t: vec![0.0; n_groups * block],
        },
        |bufs, b| {
            let first = b * block;
            let len = block.min(n_samples - first);
            compute_block(prep, simd, sample_start + first as u64, len, block, bufs);
            let ptr = out_ptr;
            for g in 0..n_groups {
                let src = &bufs.t[g * block..g * block + len];
                // SAFETY: row g, columns first..first+len lie inside `out` (checked size), and
                // no other block writes these columns.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        ptr.0.add(g * n_samples + first),
                        len,
                    );
                }
            }
        },
    );
}

/// Convenience wrapper: allocates and returns the `[n_groups, n_samples]` row-major output.
pub fn group_totals(prep: &Prepared<'_>, sample_start: u64, n_samples: usize) -> Vec<f64> {
    let mut out = vec![0.0; prep.n_groups() * n_samples];
    group_totals_into(prep, sample_start, n_samples, &mut out);
    out
}

/// Draw the needed factors for samples `s0 .. s0 + len` and accumulate every group.
/// Lanes `len .. block` of the buffers are padding (zeros) and are never copied out.
fn compute_block(
    prep: &Prepared<'_>,
    simd: Simd,
    s0: u64,
    len: usize,
    block: usize,
    bufs: &mut Buffers,
) {
    let p = &prep.problem;
    for &(r, f) in &prep.random_rows {
        let row = &mut bufs.x[r * block..(r + 1) * block];
        let (live, pad) = row.split_at_mut(len);
        simd.fill(p.dist[f], p.keys[f], p.p1[f], p.p2[f], s0, live);
        pad.fill(0.0);
    }
    for &(r, f) in &prep.const_rows {
        bufs.x[r * block..(r + 1) * block].fill(p.p1[f]);
    }
    // atom rows come after every factor row: R[a] * X[factor], the factor row already filled
    for &(r, a, fr) in &prep.atom_rows {
        let (head, tail) = bufs.x.split_at_mut(r * block);
        let xf = &head[fr * block..fr * block + len];
        let (live, pad) = tail[..block].split_at_mut(len);
        simd.fill(
            p.atom_dist[a],
            p.atom_keys[a],
            p.atom_p1[a],
            p.atom_p2[a],
            s0,
            live,
        );
        for (x, &f) in live.iter_mut().zip(xf) {
            *x *= f;
        }
        pad.fill(0.0);
    }
    bufs.t.fill(0.0);
    simd.accumulate(prep, block, &bufs.x, &mut bufs.t);
}

#[derive(Clone, Copy)]
enum Simd {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Simd {
    fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                return Simd::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
        }
        Simd::Baseline
    }

    /// Every path available on this CPU (for tests).
    #[cfg(test)]
    fn available() -> Vec<Simd> {
        let mut paths = vec![Simd::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                paths.push(Simd::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                paths.push(Simd::Avx512);
            }
        }
        paths
    }

    /// Draws `s0 ..` into `out`, compiled for the instruction set (same bits on every path).
    fn fill(self, dist: i8, key: u64, p1: f64, p2: f64, s0: u64, out: &mut [f64]) {
        match self {
            Simd::Baseline => fill_draws_generic(dist, key, p1, p2, s0, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only chosen when the CPU reports AVX2.
            Simd::Avx2 => unsafe { fill_draws_avx2(dist, key, p1, p2, s0, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only chosen when the CPU reports AVX-512F and DQ.
            Simd::Avx512 => unsafe { fill_draws_avx512(dist, key, p1, p2, s0, out) },
        }
    }

    /// The same scalar-semantics loop compiled for several instruction sets; all perform the
    /// identical IEEE operations per lane (no FMA: Rust never contracts `a + v * x`), so they
    /// give the same bits.
    fn accumulate(self, prep: &Prepared<'_>, block: usize, x: &[f64], t: &mut [f64]) {
        match self {
            Simd::Baseline => accumulate_generic(prep, block, x, t),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only chosen when the CPU reports AVX2.
            Simd::Avx2 => unsafe { accumulate_avx2(prep, block, x, t) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only chosen when the CPU reports AVX-512F.
            Simd::Avx512 => unsafe { accumulate_avx512(prep, block, x, t) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_avx2(prep: &Prepared<'_>, block: usize, x: &[f64], t: &mut [f64]) {
    accumulate_generic(prep, block, x, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn accumulate_avx512(prep: &Prepared<'_>, block: usize, x: &[f64], t: &mut [f64]) {
    accumulate_generic(prep, block, x, t)
}

/// T[g, lane] += v * X[f, lane] over the coefficients in order, LANES lanes at a time held in
/// registers across a run of coefficients of the same group.
#[inline(always)]
fn accumulate_generic(prep: &Prepared<'_>, block: usize, x: &[f64], t: &mut [f64]) {
    let values = &prep.values;
    let fidx = &prep.row_idx;
    debug_assert_eq!(block % LANES, 0);
    for run in &prep.runs {
        let idx = &fidx[run.start..run.end];
        let val = &values[run.start..run.end];
        let trow = &mut t[run.group * block..(run.group + 1) * block];
        for c in (0..block).step_by(LANES) {
            let tl: &mut [f64; LANES] = (&mut trow[c..c + LANES]).try_into().unwrap();
            let mut acc = *tl;
            for (&f, &v) in idx.iter().zip(val) {
                let off = f as usize * block + c;
                let xl: &[f64; LANES] = x[off..off + LANES].try_into().unwrap();
                for j in 0..LANES {
                    acc[j] += v * xl[j];
                }
            }
            *tl = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Owned {
        keys: Vec<u64>,
        dist: Vec<i8>,
        p1: Vec<f64>,
        p2: Vec<f64>,
        akeys: Vec<u64>,
        adist: Vec<i8>,
        ap1: Vec<f64>,
        ap2: Vec<f64>,
        afactor: Vec<i64>,
        cg: Vec<i64>,
        cf: Vec<i64>,
        cv: Vec<f64>,
        n_groups: usize,
    }

    impl Owned {
        fn problem(&self) -> Problem<'_> {
            Problem {
                keys: &self.keys,
                dist: &self.dist,
                p1: &self.p1,
                p2: &self.p2,
                atom_keys: &self.akeys,
                atom_dist: &self.adist,
                atom_p1: &self.ap1,
                atom_p2: &self.ap2,
                atom_factor: &self.afactor,
                coef_group: &self.cg,
                coef_factor: &self.cf,
                coef_value: &self.cv,
                n_groups: self.n_groups,
            }
        }

        /// Add `n_atoms` activity atoms (cycling through the distributions) and one coefficient
        /// per atom in a group derived from the atom index (appended after the factor coefficients).
        fn with_atoms(mut self, n_atoms: usize) -> Owned {
            let nf = self.keys.len();
            for a in 0..n_atoms {
                self.akeys.push(rng::word(999, a as u64));
                self.adist.push([1i8, 2, 3, 4, 0][a % 5]);
                self.ap1
                    .push(if a % 4 == 3 { -20.0 } else { 10.0 + a as f64 });
                self.ap2.push(if a % 5 == 0 { 0.2 } else { 1.5 });
                self.afactor.push(((a * 7) % nf) as i64);
                self.cg.push((a % self.n_groups) as i64);
                self.cf.push((nf + a) as i64);
                self.cv.push(1.0 + (a % 3) as f64);
            }
            self
        }
    }

    /// Small deterministic problem built from the stream words themselves.
    fn sample_problem(n_factors: usize, n_groups: usize, nnz: usize) -> Owned {
        let keys: Vec<u64> = (0..n_factors as u64).map(|i| rng::word(12345, i)).collect();
        let dist: Vec<i8> = (0..n_factors).map(|i| (i % 5) as i8).collect();
        let p1: Vec<f64> = (0..n_factors)
            .map(|i| if i % 7 == 2 { -3.0 } else { 1.0 + i as f64 })
            .collect();
        let p2: Vec<f64> = (0..n_factors).map(|i| 0.1 + 0.01 * i as f64).collect();
        let mut cg = Vec::new();
        let mut cf = Vec::new();
        let mut cv = Vec::new();
        for k in 0..nnz as u64 {
            let w = rng::word(777, k);
            cg.push(((k as usize * n_groups) / nnz) as i64); // sorted groups, like build_problem
            cf.push((w % n_factors as u64) as i64);
            cv.push(rng::uniform(778, k) * 100.0);
        }
        Owned {
            keys,
            dist,
            p1,
            p2,
            akeys: Vec::new(),
            adist: Vec::new(),
            ap1: Vec::new(),
            ap2: Vec::new(),
            afactor: Vec::new(),
            cg,
            cf,
            cv,
            n_groups,
        }
    }

    /// Repeated (group, factor) pairs summed into their first occurrence (HashMap version).
    fn merged(o: &Owned) -> Vec<(usize, usize, f64)> {
        let mut slot: std::collections::HashMap<(usize, usize), usize> =
            std::collections::HashMap::new();
        let mut out: Vec<(usize, usize, f64)> = Vec::new();
        for k in 0..o.cg.len() {
            let (g, f) = (o.cg[k] as usize, o.cf[k] as usize);
            match slot.get(&(g, f)) {
                Some(&i) => out[i].2 += o.cv[k],
                None => {
                    slot.insert((g, f), out.len());
                    out.push((g, f, o.cv[k]));
                }
            }
        }
        out
    }

    /// Straightforward reference: per sample, per (merged) coefficient, in order.
    fn naive(o: &Owned, sample_start: u64, n_samples: usize) -> Vec<f64> {
        let coefs = merged(o);
        let mut out = vec![0.0; o.n_groups * n_samples];
        let nf = o.keys.len();
        for s in 0..n_samples {
            let mut t = vec![0.0; o.n_groups];
            let smp = sample_start + s as u64;
            for &(g, c, v) in &coefs {
                let x = if c < nf {
                    naive_draw(o.dist[c], o.keys[c], o.p1[c], o.p2[c], smp)
                } else {
                    let a = c - nf;
                    let f = o.afactor[a] as usize;
                    naive_draw(o.adist[a], o.akeys[a], o.ap1[a], o.ap2[a], smp)
                        * naive_draw(o.dist[f], o.keys[f], o.p1[f], o.p2[f], smp)
                };
                t[g] += v * x;
            }
            for g in 0..o.n_groups {
                out[g * n_samples + s] = t[g];
            }
        }
        out
    }

    /// The distributions written out independently of `draw`.
    fn naive_draw(dist: i8, key: u64, p1: f64, p2: f64, s: u64) -> f64 {
        let z = fast_normal(key, s);
        let u = rng::uniform(key, 2 * s);
        match dist {
            DIST_NONE => p1,
            DIST_LOGNORMAL => p1 * exp_any(p2 * z),
            DIST_NORMAL => p1 + p2 * z,
            DIST_TRIANGULAR if u < 0.5 => (p1 - p2) + p2 * (2.0 * u).sqrt(),
            DIST_TRIANGULAR => (p1 + p2) - p2 * (2.0 * (1.0 - u)).sqrt(),
            _ => p1 + p2 * (2.0 * u - 1.0),
        }
    }

    #[test]
    fn atoms_match_naive_reference_bit_for_bit() {
        let o = sample_problem(20, 5, 300).with_atoms(40);
        let prep = prepare(o.problem()).unwrap();
        for &(start, n) in &[(0u64, 1usize), (0, 37), (5, 100), (1_000_000, 19)] {
            assert_eq!(
                bits(&group_totals(&prep, start, n)),
                bits(&naive(&o, start, n)),
                "start {start} n {n}"
            );
        }
        // one atom only, whose factor has no coefficient of its own
        let mut o = sample_problem(6, 2, 3).with_atoms(1);
        o.cg.drain(..3);
        o.cf.drain(..3);
        o.cv.drain(..3);
        let prep = prepare(o.problem()).unwrap();
        assert_eq!(bits(&group_totals(&prep, 2, 70)), bits(&naive(&o, 2, 70)));
    }

    #[test]
    fn simd_draw_paths_agree_with_scalar_draw() {
        let cases = [
            (DIST_LOGNORMAL, 2.0, 0.4),
            (DIST_LOGNORMAL, -3.0, 300.0), // |p2 z| > 700 for some draws: the libm fallback
            (DIST_NORMAL, -1.0, 0.5),
            (DIST_TRIANGULAR, 5.0, 2.0),
            (DIST_UNIFORM, 4.0, 1.0),
            (DIST_NONE, 7.0, 1.0),
        ];
        for (dist, p1, p2) in cases {
            for s0 in [16u64, 17] {
                // even start: pairs share a log; odd start: per lane; same bits as the scalar draw
                let want: Vec<f64> = (0..1000)
                    .map(|j| draw(dist, 4242, p1, p2, s0 + j))
                    .collect();
                for simd in Simd::available() {
                    let mut got = vec![0.0; 1000];
                    simd.fill(dist, 4242, p1, p2, s0, &mut got);
                    assert_eq!(bits(&got), bits(&want), "dist {dist} start {s0}");
                }
            }
        }
        assert!((0..1000).any(|j| (300.0 * fast_normal(4242, 17 + j)).abs() > 700.0));
    }

    #[test]
    fn fast_normals_within_an_ulp_or_so_of_libm_normals() {
        for j in 0..200_000u64 {
            let (a, b) = (fast_normal(99, j), rng::standard_normal(99, j));
            assert!((a - b).abs() <= 4e-16 * (1.0 + b.abs()), "{j}: {a} vs {b}");
        }
    }

    #[test]
    fn triangular_and_uniform_stay_in_range_with_right_moments() {
        let n = 200_000u64;
        for (dist, var) in [(DIST_TRIANGULAR, 4.0 / 6.0), (DIST_UNIFORM, 4.0 / 3.0)] {
            let xs: Vec<f64> = (0..n).map(|s| draw(dist, 77, 5.0, 2.0, s)).collect();
            assert!(xs.iter().all(|&x| (3.0..=7.0).contains(&x)));
            let mean = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
            assert!(
                (mean - 5.0).abs() < 4.0 * (var / n as f64).sqrt(),
                "{dist} mean {mean}"
            );
            assert!((v / var - 1.0).abs() < 0.01, "{dist} var {v}");
        }
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn matches_naive_reference_bit_for_bit() {
        let o = sample_problem(20, 5, 300);
        let prep = prepare(o.problem()).unwrap();
        for &(start, n) in &[(0u64, 1usize), (0, 37), (5, 100), (1_000_000, 19)] {
            assert_eq!(
                bits(&group_totals(&prep, start, n)),
                bits(&naive(&o, start, n)),
                "start {start} n {n}"
            );
        }
    }

    #[test]
    fn simd_paths_agree() {
        let o = sample_problem(30, 4, 200);
        let prep = prepare(o.problem()).unwrap();
        let block = 32;
        let x: Vec<f64> = (0..30 * block)
            .map(|i| rng::uniform(5, i as u64) - 0.3)
            .collect();
        let mut want = vec![0.0; 4 * block];
        Simd::Baseline.accumulate(&prep, block, &x, &mut want);
        assert!(want.iter().all(|&v| v != 0.0));
        for simd in Simd::available() {
            let mut got = vec![0.0; 4 * block];
            simd.accumulate(&prep, block, &x, &mut got);
            assert_eq!(bits(&got), bits(&want));
        }
    }

    #[test]
    fn identical_for_any_thread_count_and_split() {
        let o = sample_problem(50, 8, 400);
        let prep = prepare(o.problem()).unwrap();
        let n = 1000;
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let a = one.install(|| group_totals(&prep, 0, n));
        let b = three.install(|| group_totals(&prep, 0, n));
        assert_eq!(bits(&a), bits(&b));
        // split [0, 1000) as [0, 333) + [333, 1000)
        let left = group_totals(&prep, 0, 333);
        let right = group_totals(&prep, 333, n - 333);
        for g in 0..o.n_groups {
            assert_eq!(
                bits(&a[g * n..g * n + 333]),
                bits(&left[g * 333..(g + 1) * 333])
            );
            assert_eq!(
                bits(&a[g * n + 333..(g + 1) * n]),
                bits(&right[g * (n - 333)..(g + 1) * (n - 333)])
            );
        }
    }

    #[test]
    fn non_consecutive_groups_and_unused_factors() {
        let mut o = sample_problem(10, 3, 30);
        // interleave groups so runs are short and groups recur
        for k in 0..o.cg.len() {
            o.cg[k] = (k % 3) as i64;
        }
        o.cf.iter_mut().for_each(|f| *f %= 5); // factors 5..10 unused
        let prep = prepare(o.problem()).unwrap();
        assert_eq!(bits(&group_totals(&prep, 3, 50)), bits(&naive(&o, 3, 50)));
    }

    #[test]
    fn repeated_pairs_are_merged_in_order() {
        let cg = [1i64, 0, 1, 1, 0, 2, 1];
        let cf = [3i64, 3, 0, 3, 3, 1, 0];
        let cv = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 0.1];
        let (kept, values) = merge_duplicates(&cg, &cf, &cv, 3, 4);
        assert_eq!(kept, vec![0, 1, 2, 5]);
        assert_eq!(values, vec![1.0 + 8.0, 2.0 + 16.0, 4.0 + 0.1, 32.0]);
        // strictly increasing pairs: nothing to merge
        let (kept, values) = merge_duplicates(&[0, 0, 1], &[0, 2, 1], &[1.0, 2.0, 3.0], 2, 3);
        assert_eq!((kept, values), (vec![0, 1, 2], vec![1.0, 2.0, 3.0]));
        // sorted with adjacent repeats
        let (kept, values) =
            merge_duplicates(&[0, 0, 1, 1], &[2, 2, 1, 1], &[1.0, 2.0, 3.0, 4.0], 2, 3);
        assert_eq!((kept, values), (vec![0, 2], vec![3.0, 7.0]));
    }

    #[test]
    fn empty_shapes() {
        let mut o = sample_problem(5, 2, 10);
        let prep = prepare(o.problem()).unwrap();
        assert!(group_totals(&prep, 0, 0).is_empty());
        o.cg.clear();
        o.cf.clear();
        o.cv.clear();
        let prep = prepare(o.problem()).unwrap();
        assert!(group_totals(&prep, 0, 7).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn validation_errors() {
        let o = sample_problem(5, 2, 10);
        let mut bad = o.problem();
        let cg = [0i64, 2];
        let cf = [0i64, 1];
        let cv = [1.0, 2.0];
        bad.coef_group = &cg;
        bad.coef_factor = &cf;
        bad.coef_value = &cv;
        assert!(prepare(bad).unwrap_err().0.contains("coef_group[1] = 2"));
        let cf_bad = [0i64, 5];
        let cg_ok = [0i64, 1];
        bad.coef_group = &cg_ok;
        bad.coef_factor = &cf_bad;
        assert!(prepare(bad).unwrap_err().0.contains("coef_factor[1] = 5"));
        let cf_neg = [0i64, -1];
        bad.coef_factor = &cf_neg;
        assert!(prepare(bad).unwrap_err().0.contains("out of range"));
        let mut bad = o.problem();
        let dist = [0i8, 1, 2, 7, 0];
        bad.dist = &dist;
        assert!(prepare(bad)
            .unwrap_err()
            .0
            .contains("unknown distribution code 7"));
        let o2 = sample_problem(5, 2, 10).with_atoms(2);
        let mut bad = o2.problem();
        let af = [0i64, 5];
        bad.atom_factor = &af;
        assert!(prepare(bad).unwrap_err().0.contains("atom_factor[1] = 5"));
        let mut bad = o2.problem();
        bad.atom_p2 = &o2.ap2[..1];
        assert!(prepare(bad).unwrap_err().0.contains("atom_p2 has length 1"));
        let mut bad = o.problem();
        bad.p2 = &o.p2[..4];
        assert!(prepare(bad).unwrap_err().0.contains("p2 has length 4"));
        let mut bad = o.problem();
        bad.coef_value = &o.cv[..9];
        assert!(prepare(bad)
            .unwrap_err()
            .0
            .contains("coef_value has length 9"));
    }

    #[test]
    fn block_sizes() {
        assert_eq!(block_size(2000, 10_000), 32);
        assert_eq!(block_size(1, 10_000), MAX_BLOCK);
        assert_eq!(block_size(1_000_000, 10_000), LANES);
        assert_eq!(block_size(10, 3), LANES);
    }
}
