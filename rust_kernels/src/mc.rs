//! Fused Monte-Carlo sampling + sparse aggregation (no Python dependency).
//!
//! Computes `T[g, s] = sum_k coef_value[k] * X[coef_factor[k], s]` over the coefficients `k`
//! with `coef_group[k] == g`, accumulated in the given coefficient order, where `X[f, s]` is
//! factor `f`'s draw in sample `s` (see `carbon_assets/engine/montecarlo.py`, `factor_draws`).
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

use crate::rng;

pub const DIST_NONE: i8 = 0;
pub const DIST_LOGNORMAL: i8 = 1;
pub const DIST_NORMAL: i8 = 2;

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
    for (name, len) in [
        ("dist", problem.dist.len()),
        ("p1", problem.p1.len()),
        ("p2", problem.p2.len()),
    ] {
        if len != n_factors {
            return err(format!(
                "{name} has length {len} but keys has length {n_factors} (one entry per factor expected)"
            ));
        }
    }
    let nnz = problem.coef_group.len();
    for (name, len) in [
        ("coef_factor", problem.coef_factor.len()),
        ("coef_value", problem.coef_value.len()),
    ] {
        if len != nnz {
            return err(format!(
                "{name} has length {len} but coef_group has length {nnz} (one entry per coefficient expected)"
            ));
        }
    }
    if n_factors > u32::MAX as usize {
        return err(format!(
            "too many factors: {n_factors} (at most {})",
            u32::MAX
        ));
    }
    for (f, &d) in problem.dist.iter().enumerate() {
        if !matches!(d, DIST_NONE | DIST_LOGNORMAL | DIST_NORMAL) {
            return err(format!(
                "unknown distribution code {d} for factor {f} (expected 0 = none, 1 = lognormal, 2 = normal)"
            ));
        }
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
        if f < 0 || f as u64 >= n_factors as u64 {
            return err(format!(
                "coef_factor[{k}] = {f} is out of range [0, {n_factors})"
            ));
        }
    }
    let (kept, values) = merge_duplicates(
        problem.coef_group,
        problem.coef_factor,
        problem.coef_value,
        n_groups,
        n_factors,
    );
    let mut row_of = vec![u32::MAX; n_factors];
    for &k in &kept {
        row_of[problem.coef_factor[k] as usize] = 0;
    }
    let (mut random_rows, mut const_rows) = (Vec::new(), Vec::new());
    let mut n_rows = 0usize;
    for (f, row) in row_of.iter_mut().enumerate() {
        if *row != u32::MAX {
            *row = n_rows as u32;
            if problem.dist[f] == DIST_NONE {
                const_rows.push((n_rows, f));
            } else {
                random_rows.push((n_rows, f));
            }
            n_rows += 1;
        }
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
        let (key, p1, p2) = (p.keys[f], p.p1[f], p.p2[f]);
        let (live, pad) = row.split_at_mut(len);
        if p.dist[f] == DIST_LOGNORMAL {
            for (j, x) in live.iter_mut().enumerate() {
                *x = p1 * (p2 * rng::standard_normal(key, s0 + j as u64)).exp();
            }
        } else {
            for (j, x) in live.iter_mut().enumerate() {
                *x = p1 + p2 * rng::standard_normal(key, s0 + j as u64);
            }
        }
        pad.fill(0.0);
    }
    for &(r, f) in &prep.const_rows {
        bufs.x[r * block..(r + 1) * block].fill(p.p1[f]);
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
            if std::arch::is_x86_feature_detected!("avx512f") {
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
            if std::arch::is_x86_feature_detected!("avx512f") {
                paths.push(Simd::Avx512);
            }
        }
        paths
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
                coef_group: &self.cg,
                coef_factor: &self.cf,
                coef_value: &self.cv,
                n_groups: self.n_groups,
            }
        }
    }

    /// Small deterministic problem built from the stream words themselves.
    fn sample_problem(n_factors: usize, n_groups: usize, nnz: usize) -> Owned {
        let keys: Vec<u64> = (0..n_factors as u64).map(|i| rng::word(12345, i)).collect();
        let dist: Vec<i8> = (0..n_factors).map(|i| (i % 3) as i8).collect();
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
        for s in 0..n_samples {
            let mut t = vec![0.0; o.n_groups];
            for &(g, f, v) in &coefs {
                let z = rng::standard_normal(o.keys[f], sample_start + s as u64);
                let x = match o.dist[f] {
                    DIST_NONE => o.p1[f],
                    DIST_LOGNORMAL => o.p1[f] * (o.p2[f] * z).exp(),
                    _ => o.p1[f] + o.p2[f] * z,
                };
                t[g] += v * x;
            }
            for g in 0..o.n_groups {
                out[g * n_samples + s] = t[g];
            }
        }
        out
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
        let dist = [0i8, 1, 2, 3, 0];
        bad.dist = &dist;
        assert!(prepare(bad)
            .unwrap_err()
            .0
            .contains("unknown distribution code 3"));
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
