//! Timing of the numeric core on a synthetic problem (no Python needed):
//! `cargo run --release --no-default-features --example profile -- NNZ N_FACTORS N_SAMPLES N_GROUPS [THREADS]`
use std::time::Instant;

use _kernel::{mc, rng};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer argument"))
        .collect();
    let (nnz, nf, ns, ng) = (args[0], args[1], args[2], args[3]);
    let threads = args.get(4).copied().unwrap_or(0);
    let keys: Vec<u64> = (0..nf as u64).map(|i| rng::word(1, i)).collect();
    let dist: Vec<i8> = (0..nf).map(|i| [0, 1, 1, 2][i % 4]).collect();
    let p1: Vec<f64> = (0..nf).map(|i| 0.5 + i as f64 * 1e-3).collect();
    let p2: Vec<f64> = (0..nf).map(|i| 0.05 + (i % 10) as f64 * 0.03).collect();
    // distinct (group, factor) pairs, sorted, spread evenly over the groups
    let per_group = nnz.div_ceil(ng);
    let (mut cg, mut cf, mut cv) = (Vec::new(), Vec::new(), Vec::new());
    for g in 0..ng {
        let mut fs: Vec<usize> = (0..per_group)
            .map(|j| (rng::word(2 + g as u64, j as u64) % nf as u64) as usize)
            .collect();
        fs.sort_unstable();
        fs.dedup();
        for f in fs {
            if cg.len() < nnz {
                cg.push(g as i64);
                cf.push(f as i64);
                cv.push(rng::uniform(3, cv.len() as u64) * 100.0);
            }
        }
    }
    let problem = mc::Problem {
        keys: &keys,
        dist: &dist,
        p1: &p1,
        p2: &p2,
        atom_keys: &[],
        atom_dist: &[],
        atom_p1: &[],
        atom_p2: &[],
        atom_factor: &[],
        coef_group: &cg,
        coef_factor: &cf,
        coef_value: &cv,
        n_groups: ng,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let t = Instant::now();
    let prep = mc::prepare(problem).unwrap();
    let t_prep = t.elapsed();
    let t = Instant::now();
    let out = pool.install(|| mc::group_totals(&prep, 0, ns));
    let t_run = t.elapsed();
    let check: f64 = out.iter().step_by(997).sum();
    println!(
        "nnz {} factors {nf} samples {ns} groups {ng} threads {}: prepare {:.1} ms, totals {:.1} ms ({:.2} ns per nnz x sample) [check {check:.6e}]",
        cg.len(),
        pool.current_num_threads(),
        t_prep.as_secs_f64() * 1e3,
        t_run.as_secs_f64() * 1e3,
        t_run.as_secs_f64() * 1e9 / (cg.len() as f64 * ns as f64),
    );
}
