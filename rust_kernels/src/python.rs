//! PyO3 bindings: the `carbon_assets._kernel` module.

use std::borrow::Cow;

use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::mc;

/// The array's data as a slice, copied only when the array is not contiguous.
fn data<'a, T: Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

/// Largest accepted `threads` (a guard against typos spawning absurd pools).
const MAX_THREADS: usize = 1024;

/// `obj` as a read-only 1-D array of `T`, or a TypeError naming the argument.
fn array<'py, T: Element>(
    name: &str,
    dtype: &str,
    obj: &Bound<'py, PyAny>,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    obj.extract::<PyReadonlyArray1<'py, T>>().map_err(|_| {
        let got = match (obj.getattr("dtype"), obj.getattr("ndim")) {
            (Ok(dt), Ok(nd)) => format!("a {nd}-D array of dtype {dt}"),
            _ => format!(
                "an object of type {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ),
        };
        PyTypeError::new_err(format!(
            "{name} must be a 1-D numpy array of dtype {dtype}, got {got}"
        ))
    })
}

/// An optional argument: None means an empty array.
fn optional<'py, T: Element>(
    name: &str,
    dtype: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArray1<'py, T>>> {
    match obj {
        Some(o) if !o.is_none() => array::<T>(name, dtype, o).map(Some),
        _ => Ok(None),
    }
}

fn opt_data<'a, T: Element + Copy>(a: &'a Option<PyReadonlyArray1<'_, T>>) -> Cow<'a, [T]> {
    match a {
        Some(a) => data(a),
        None => Cow::Owned(Vec::new()),
    }
}

/// Failures found while the GIL is released, turned into Python exceptions afterwards.
enum Fail {
    Invalid(String),
    Pool(String),
}

fn non_negative(name: &str, v: i64) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| PyValueError::new_err(format!("{name} must be >= 0, got {v}")))
}

/// Monte-Carlo group totals T[g, s] = sum_k coef_value[k] * X[coef_factor[k], s] over the
/// coefficients k with coef_group[k] == g, for samples sample_start .. sample_start+n_samples.
/// X[f, s] is factor f's draw (dist 0 none: p1; 1 lognormal: p1*exp(p2*z); 2 normal: p1+p2*z;
/// 3 triangular mode p1 half-width p2 and 4 uniform centre p1 half-width p2, both by inverse CDF
/// of the stream's uniform number 2s) with z the stream's standard normal number s (see
/// carbon_assets.engine.rng and montecarlo.draws). Column n_factors + a of X is activity atom
/// a's draw (same distributions, on atom_keys[a]) times the draw of its factor atom_factor[a].
///
/// keys uint64[n_factors], dist int8[n_factors], p1/p2 float64[n_factors],
/// coef_group/coef_factor int64[nnz], coef_value float64[nnz]; atom_keys uint64[n_atoms],
/// atom_dist int8, atom_p1/atom_p2 float64, atom_factor int64 (all optional, default no atoms).
/// threads: 0 = rayon's global pool, N > 0 = a dedicated pool of N threads. The result is
/// bit-identical for any thread count and any split of the sample range.
/// Returns float64[n_groups, n_samples] (C order). Raises TypeError for an argument of the
/// wrong dtype or shape and ValueError for inconsistent lengths, out-of-range indices, unknown
/// distribution codes or negative counts.
#[pyfunction]
#[pyo3(signature = (keys, dist, p1, p2, coef_group, coef_factor, coef_value, n_groups, n_samples, sample_start = 0, threads = 0, atom_keys = None, atom_dist = None, atom_p1 = None, atom_p2 = None, atom_factor = None))]
#[allow(clippy::too_many_arguments)]
fn mc_group_totals<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    dist: &Bound<'py, PyAny>,
    p1: &Bound<'py, PyAny>,
    p2: &Bound<'py, PyAny>,
    coef_group: &Bound<'py, PyAny>,
    coef_factor: &Bound<'py, PyAny>,
    coef_value: &Bound<'py, PyAny>,
    n_groups: i64,
    n_samples: i64,
    sample_start: i64,
    threads: i64,
    atom_keys: Option<&Bound<'py, PyAny>>,
    atom_dist: Option<&Bound<'py, PyAny>>,
    atom_p1: Option<&Bound<'py, PyAny>>,
    atom_p2: Option<&Bound<'py, PyAny>>,
    atom_factor: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let n_groups = non_negative("n_groups", n_groups)?;
    let n_samples = non_negative("n_samples", n_samples)?;
    let sample_start = non_negative("sample_start", sample_start)? as u64;
    let threads = non_negative("threads", threads)?;
    if threads > MAX_THREADS {
        return Err(PyValueError::new_err(format!(
            "threads must be at most {MAX_THREADS}, got {threads}"
        )));
    }
    let keys = array::<u64>("keys", "uint64", keys)?;
    let dist = array::<i8>("dist", "int8", dist)?;
    let p1 = array::<f64>("p1", "float64", p1)?;
    let p2 = array::<f64>("p2", "float64", p2)?;
    let coef_group = array::<i64>("coef_group", "int64", coef_group)?;
    let coef_factor = array::<i64>("coef_factor", "int64", coef_factor)?;
    let coef_value = array::<f64>("coef_value", "float64", coef_value)?;
    let atom_keys = optional::<u64>("atom_keys", "uint64", atom_keys)?;
    let atom_dist = optional::<i8>("atom_dist", "int8", atom_dist)?;
    let atom_p1 = optional::<f64>("atom_p1", "float64", atom_p1)?;
    let atom_p2 = optional::<f64>("atom_p2", "float64", atom_p2)?;
    let atom_factor = optional::<i64>("atom_factor", "int64", atom_factor)?;
    let size = n_groups
        .checked_mul(n_samples)
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(|| {
            PyValueError::new_err(format!("output of {n_groups} x {n_samples} is too large"))
        })?;

    let (keys, dist, p1, p2) = (data(&keys), data(&dist), data(&p1), data(&p2));
    let (coef_group, coef_factor, coef_value) =
        (data(&coef_group), data(&coef_factor), data(&coef_value));
    let (atom_keys, atom_dist, atom_p1, atom_p2, atom_factor) = (
        opt_data(&atom_keys),
        opt_data(&atom_dist),
        opt_data(&atom_p1),
        opt_data(&atom_p2),
        opt_data(&atom_factor),
    );
    let problem = mc::Problem {
        keys: &keys,
        dist: &dist,
        p1: &p1,
        p2: &p2,
        atom_keys: &atom_keys,
        atom_dist: &atom_dist,
        atom_p1: &atom_p1,
        atom_p2: &atom_p2,
        atom_factor: &atom_factor,
        coef_group: &coef_group,
        coef_factor: &coef_factor,
        coef_value: &coef_value,
        n_groups,
    };

    let out: Result<Vec<f64>, Fail> = py.detach(|| {
        let prep = mc::prepare(problem).map_err(|e| Fail::Invalid(e.0))?;
        let mut out = vec![0.0f64; size];
        if threads == 0 {
            mc::group_totals_into(&prep, sample_start, n_samples, &mut out);
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| {
                    Fail::Pool(format!("could not start a pool of {threads} threads: {e}"))
                })?;
            pool.install(|| mc::group_totals_into(&prep, sample_start, n_samples, &mut out));
        }
        Ok(out)
    });
    let out = out.map_err(|fail| match fail {
        Fail::Invalid(msg) => PyValueError::new_err(msg),
        Fail::Pool(msg) => PyRuntimeError::new_err(msg),
    })?;
    let arr = Array2::from_shape_vec((n_groups, n_samples), out)
        .map_err(|e| PyRuntimeError::new_err(format!("internal shape error: {e}")))?;
    Ok(arr.into_pyarray(py))
}

/// Rust Monte-Carlo kernel for carbon_assets (see carbon_assets.engine.montecarlo).
#[pymodule]
fn _kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(mc_group_totals, m)?)?;
    Ok(())
}
