//! Rust Monte-Carlo kernel for `carbon_assets`, installed as `carbon_assets._kernel`.
//!
//! The contract is the numpy reference in `carbon_assets/engine/rng.py` and
//! `carbon_assets/engine/montecarlo.py`. The numeric core (`rng`, `mc`) has no Python
//! dependency and is unit-tested with `cargo test`; the PyO3 bindings live in `python` and
//! are compiled only with the `python` cargo feature (on by default, used by maturin).

pub mod csv;
pub mod distinct;
pub mod fastmath;
pub mod mc;
pub mod rng;
pub mod text;
pub mod views;

#[cfg(feature = "python")]
mod python;
