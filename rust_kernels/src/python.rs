//! PyO3 bindings: the `carbon_assets._kernel` module.

use std::borrow::Cow;

use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use pyo3::types::PyBytes;

use crate::{csv, distinct, mc, text, views};

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

/// `raw` (Windows-1252 when `cp1252`, else Latin-1) re-encoded as UTF-8 bytes. ValueError naming
/// the byte offset of a byte Windows-1252 leaves undefined.
#[pyfunction]
fn transcode_8bit<'py>(py: Python<'py>, raw: &[u8], cp1252: bool) -> PyResult<Bound<'py, PyBytes>> {
    let (len, blocks) = text::transcoded_len(raw, cp1252).map_err(|at| {
        PyValueError::new_err(format!(
            "byte 0x{:02x} at offset {at} is undefined in Windows-1252",
            raw[at]
        ))
    })?;
    // written straight into the new bytes object: no copy of a large file
    PyBytes::new_with(py, len, |out| {
        text::transcode_into(raw, cp1252, &blocks, out);
        Ok(())
    })
}

/// (newlines, has_quote, has_cr) of `data` from byte `start` on, for the CSV reader
/// (carbon_assets.engine.readers).
#[pyfunction]
fn scan_text(py: Python<'_>, data: &[u8], start: usize) -> (usize, bool, bool) {
    let t = py.detach(|| text::scan_text(data, start));
    (t.newlines, t.has_quote, t.has_cr)
}

/// True when some non-null cell of an Arrow string-view column (16-byte `views`, data `buffers`,
/// optional validity bitmap `valid` read from bit `offset`) starts or ends with whitespace: the CSV
/// reader strips only such columns.
#[pyfunction]
#[pyo3(signature = (views, buffers, valid = None, offset = 0))]
fn any_padded<'py>(
    py: Python<'py>,
    views: &Bound<'py, PyAny>,
    buffers: Vec<Bound<'py, PyAny>>,
    valid: Option<&Bound<'py, PyAny>>,
    offset: usize,
) -> PyResult<bool> {
    with_views(py, views, buffers, valid, offset, text::any_padded)?.map_err(outside)
}

fn outside(i: usize) -> PyErr {
    PyValueError::new_err(format!("view {i} points outside its buffers"))
}

/// Runs `f` without the GIL on an Arrow string-view column given as numpy arrays: 16-byte `views`,
/// data `buffers`, optional validity bitmap `valid` read from bit `offset`.
fn with_views<'py, R: Send>(
    py: Python<'py>,
    views: &Bound<'py, PyAny>,
    buffers: Vec<Bound<'py, PyAny>>,
    valid: Option<&Bound<'py, PyAny>>,
    offset: usize,
    f: impl for<'a> FnOnce(&'a [u8], &[&'a [u8]], Option<(&[u8], usize)>) -> R + Send,
) -> PyResult<R> {
    let views = array::<u8>("views", "uint8", views)?;
    let valid = optional::<u8>("valid", "uint8", valid)?;
    let bufs = buffers
        .iter()
        .map(|b| array::<u8>("buffers[i]", "uint8", b))
        .collect::<PyResult<Vec<_>>>()?;
    let views = data(&views);
    let valid = valid.as_ref().map(data);
    let bufs: Vec<Cow<[u8]>> = bufs.iter().map(data).collect();
    let slices: Vec<&[u8]> = bufs.iter().map(|b| b.as_ref()).collect();
    if views.len() % 16 != 0 {
        return Err(PyValueError::new_err("views must hold 16 bytes per cell"));
    }
    let valid = valid.as_deref().map(|b| (b, offset));
    Ok(py.detach(|| f(&views, &slices, valid)))
}

/// One chunk of `split_csv`: (rows, views per column, validity per column (None = no null),
/// null count per column, line numbers, side buffer, ragged (row, cells) pairs).
type CsvChunk<'py> = (
    usize,
    Vec<Bound<'py, numpy::PyArray1<u8>>>,
    Vec<Option<Bound<'py, numpy::PyArray1<u8>>>>,
    Vec<usize>,
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray1<u8>>,
    Vec<(usize, usize)>,
);

/// The CSV text `data[start:]` (first line = physical line `first_line`) split into `ncols`
/// Arrow string-view columns, chunk by chunk (see rust_kernels/src/csv.rs for the contract).
/// `codec`: "utf-8" (data must be valid UTF-8), "cp1252" or "latin-1". Views point into `data`
/// (buffer 0) or the chunk's side buffer (buffer 1). None when the text is declined (quoting the
/// splitter does not read as the reference would); ValueError for a byte undefined in cp1252.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn split_csv<'py>(
    py: Python<'py>,
    data: &[u8],
    start: usize,
    first_line: i64,
    delim: u8,
    quote: bool,
    ncols: usize,
    codec: &str,
) -> PyResult<Option<Vec<CsvChunk<'py>>>> {
    let codec = match codec {
        "utf-8" => csv::Codec::Utf8,
        "cp1252" => csv::Codec::Cp1252,
        "latin-1" => csv::Codec::Latin1,
        other => return Err(PyValueError::new_err(format!("unknown codec {other:?}"))),
    };
    let o = csv::Options {
        delim,
        quote,
        ncols,
        codec,
    };
    let chunks = match py.detach(|| csv::split_csv(data, start, first_line, &o)) {
        Ok(c) => c,
        Err(csv::SplitError::Declined | csv::SplitError::TooLarge) => return Ok(None),
        Err(csv::SplitError::Undefined(at)) => {
            return Err(PyValueError::new_err(format!(
                "byte 0x{:02x} at offset {at} is undefined in Windows-1252",
                data[at]
            )))
        }
    };
    Ok(Some(
        chunks
            .into_iter()
            .map(|c| {
                (
                    c.rows,
                    c.views.into_iter().map(|v| v.into_pyarray(py)).collect(),
                    c.valid
                        .into_iter()
                        .map(|v| v.map(|b| b.into_pyarray(py)))
                        .collect(),
                    c.null_count,
                    c.lines.into_pyarray(py),
                    c.side.into_pyarray(py),
                    c.ragged,
                )
            })
            .collect(),
    ))
}

/// (codes uint32, distinct values) of an Arrow string-view column (views, data buffers,
/// optional validity bitmap read from bit `offset`): values in order of first appearance, code
/// `len(values)` for a null cell.
#[pyfunction]
#[pyo3(signature = (views, buffers, valid = None, offset = 0))]
fn distinct_values<'py>(
    py: Python<'py>,
    views: &Bound<'py, PyAny>,
    buffers: Vec<Bound<'py, PyAny>>,
    valid: Option<&Bound<'py, PyAny>>,
    offset: usize,
) -> PyResult<(Bound<'py, numpy::PyArray1<u32>>, Vec<String>)> {
    let (codes, values) = with_views(py, views, buffers, valid, offset, |v, b, ok| {
        let (codes, values) = distinct::distinct(v, b, ok)?;
        let values: Vec<String> = values
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        Ok((codes, values))
    })?
    .map_err(outside)?;
    Ok((codes.into_pyarray(py), values))
}

/// An Arrow string-view column: (views, data buffers).
type ViewColumn<'py> = (
    Bound<'py, numpy::PyArray1<u8>>,
    Vec<Bound<'py, numpy::PyArray1<u8>>>,
);

/// `prefix` followed by each of `numbers` (int64) in decimal, as an Arrow string-view column:
/// (views, data buffers), the activity ids `<file hash>-<row>`.
#[pyfunction]
fn prefixed_numbers<'py>(
    py: Python<'py>,
    prefix: &str,
    numbers: &Bound<'py, PyAny>,
) -> PyResult<ViewColumn<'py>> {
    let numbers = array::<i64>("numbers", "int64", numbers)?;
    let numbers = data(&numbers);
    let (v, bufs) = py.detach(|| views::prefixed_numbers(prefix.as_bytes(), &numbers));
    Ok((
        v.into_pyarray(py),
        bufs.into_iter().map(|b| b.into_pyarray(py)).collect(),
    ))
}

/// Offset of the first byte Windows-1252 leaves undefined (the text is then Latin-1), or None.
#[pyfunction]
fn first_undefined_cp1252(py: Python<'_>, raw: &[u8]) -> Option<usize> {
    py.detach(|| text::first_undefined_cp1252(raw))
}

type Parsed<'py> = (
    Bound<'py, numpy::PyArray1<u8>>,
    Bound<'py, numpy::PyArray1<bool>>,
    Bound<'py, numpy::PyArray1<u16>>,
    Bound<'py, numpy::PyArray1<f64>>,
    Bound<'py, numpy::PyArray1<f64>>,
);

/// Client number cells of one string column in Arrow layout: cell i is
/// `data[offsets[i]:offsets[i+1]]` (UTF-8), null where `nulls[i]`. `currency`: the column may
/// carry a currency (spend amounts). Returns (kind uint8, pct bool, currency uint16, eu float64,
/// us float64) per cell, as carbon_assets.engine.numbers documents them.
#[pyfunction]
fn parse_numbers<'py>(
    py: Python<'py>,
    offsets: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    nulls: &Bound<'py, PyAny>,
    currency: bool,
) -> PyResult<Parsed<'py>> {
    let offsets = array::<i64>("offsets", "int64", offsets)?;
    let bytes = array::<u8>("data", "uint8", data)?;
    let nulls = array::<bool>("nulls", "bool", nulls)?;
    let (offsets, bytes, nulls) = (self::data(&offsets), self::data(&bytes), self::data(&nulls));
    let n = nulls.len();
    if offsets.len() != n + 1 {
        return Err(PyValueError::new_err(format!(
            "offsets must have len(nulls) + 1 = {} entries, got {}",
            n + 1,
            offsets.len()
        )));
    }
    let bad = (0..n).find(|&i| {
        offsets[i] < 0 || offsets[i] > offsets[i + 1] || offsets[i + 1] as usize > bytes.len()
    });
    if let Some(i) = bad {
        return Err(PyValueError::new_err(format!(
            "offsets out of range at cell {i}"
        )));
    }
    let (mut kind, mut pct, mut cur) = (vec![0u8; n], vec![false; n], vec![0u16; n]);
    let (mut eu, mut us) = (vec![0f64; n], vec![0f64; n]);
    py.detach(|| {
        let out = text::ParsedColumn {
            kind: &mut kind,
            pct: &mut pct,
            currency: &mut cur,
            eu: &mut eu,
            us: &mut us,
        };
        text::parse_column(&offsets, &bytes, &nulls, currency, out)
    });
    Ok((
        kind.into_pyarray(py),
        pct.into_pyarray(py),
        cur.into_pyarray(py),
        eu.into_pyarray(py),
        us.into_pyarray(py),
    ))
}

/// Rust kernels for carbon_assets: Monte Carlo (carbon_assets.engine.montecarlo) and the
/// importer's text parsing (carbon_assets.engine.numbers, carbon_assets.engine.readers).
#[pymodule]
fn _kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(mc_group_totals, m)?)?;
    m.add_function(wrap_pyfunction!(transcode_8bit, m)?)?;
    m.add_function(wrap_pyfunction!(parse_numbers, m)?)?;
    m.add_function(wrap_pyfunction!(scan_text, m)?)?;
    m.add_function(wrap_pyfunction!(any_padded, m)?)?;
    m.add_function(wrap_pyfunction!(split_csv, m)?)?;
    m.add_function(wrap_pyfunction!(distinct_values, m)?)?;
    m.add_function(wrap_pyfunction!(prefixed_numbers, m)?)?;
    m.add_function(wrap_pyfunction!(first_undefined_cp1252, m)?)?;
    Ok(())
}
