//! Counter-based random streams: the Rust twin of `carbon_assets/engine/rng.py`.
//!
//! Word `i` of stream `key` is SplitMix64's output for the state `key + (i + 1) * GOLDEN`
//! (mod 2^64), so every draw is a pure function of `(key, i)`. Uniforms take the top 53 bits
//! plus a half step, so they lie in (0, 1]: 1.0 comes only from a rounding tie (probability
//! 2^-53), exactly as in numpy. Standard normals come in Box-Muller pairs: pair `p` uses words
//! `4p` and `4p + 1`; normal `2p` is the cosine branch, normal `2p + 1` the sine branch.
//!
//! Every operation mirrors the numpy reference one-for-one (same constants, same order of
//! floating-point operations), so words and uniforms are bit-identical to numpy and normals
//! differ from numpy's at most by what the two `log`/`cos` implementations differ (an ulp).

/// 2^64 / golden ratio, the SplitMix64 increment.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const M1: u64 = 0xBF58_476D_1CE4_E5B9;
const M2: u64 = 0x94D0_49BB_1331_11EB;
/// 2^-53, exactly.
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;
/// 2*pi: the Python reference's literal 6.283185307179586 is exactly this double.
pub const TWO_PI: f64 = std::f64::consts::TAU;

/// SplitMix64's output mix.
#[inline(always)]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(M1);
    z = (z ^ (z >> 27)).wrapping_mul(M2);
    z ^ (z >> 31)
}

/// Word `counter` of stream `key`.
#[inline(always)]
pub fn word(key: u64, counter: u64) -> u64 {
    mix(key.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// Uniform double in (0, 1] (see the module docs) from word `counter` of stream `key`.
#[inline(always)]
pub fn uniform(key: u64, counter: u64) -> f64 {
    ((word(key, counter) >> 11) as f64 + 0.5) * TWO_POW_M53
}

/// Counter of the first word of standard normal `sample`'s Box-Muller pair: 4 * (sample / 2).
#[inline(always)]
pub fn pair_counter(sample: u64) -> u64 {
    (sample & !1).wrapping_mul(2)
}

/// Standard normal number `sample` of stream `key`: pair p = sample / 2 uses words 4p and 4p+1;
/// the even sample takes the cosine branch, the odd one the sine branch (libm functions; the
/// kernel uses `fastmath`, see `mc::fast_normal`).
#[inline(always)]
pub fn standard_normal(key: u64, sample: u64) -> f64 {
    let c = pair_counter(sample);
    let u1 = uniform(key, c);
    let u2 = uniform(key, c.wrapping_add(1));
    let theta = TWO_PI * u2;
    (-2.0 * u1.ln()).sqrt()
        * if sample & 1 == 0 {
            theta.cos()
        } else {
            theta.sin()
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers computed with /work/main/.venv/bin/python from carbon_assets.engine.rng
    // (words, uniforms, standard_normals). KEY_DEFRA = stream_key(42, "factor", "DEFRA:1_100_1004_6").
    const KEY_DEFRA: u64 = 0xb09a_3d50_db3c_f8aa;

    #[test]
    fn two_pi_is_the_python_literal() {
        // struct.pack('>d', 6.283185307179586).hex() == '401921fb54442d18'
        assert_eq!(TWO_PI.to_bits(), 0x4019_21fb_5444_2d18);
    }

    #[test]
    fn words_match_python() {
        let cases: [(u64, [u64; 4]); 4] = [
            (
                0,
                [
                    0xe220a8397b1dcdaf,
                    0x6e789e6aa1b965f4,
                    0x06c45d188009454f,
                    0xf88bb8a8724c81ec,
                ],
            ),
            (
                1,
                [
                    0x910a2dec89025cc1,
                    0xbeeb8da1658eec67,
                    0xf893a2eefb32555e,
                    0x71c18690ee42c90b,
                ],
            ),
            (
                KEY_DEFRA,
                [
                    0xde1c2450b383fe1b,
                    0x410c0a3746ce6b30,
                    0x285482ac7cd1da47,
                    0x38ea6f417a4f90d6,
                ],
            ),
            (
                u64::MAX,
                [
                    0xe4d971771b652c20,
                    0xe99ff867dbf682c9,
                    0x382ff84cb27281e9,
                    0x6d1db36ccba982d2,
                ],
            ),
        ];
        for (key, expected) in cases {
            for (i, &w) in expected.iter().enumerate() {
                assert_eq!(word(key, i as u64), w, "key {key:#x} counter {i}");
            }
        }
    }

    #[test]
    fn words_wrap_like_numpy_uint64() {
        assert_eq!(word(7, u64::MAX), 0x12ae30237b17df14);
        assert_eq!(word(7, u64::MAX - 1), 0xa371d08fdb2bd8bf);
    }

    #[test]
    fn uniforms_match_python_bit_for_bit() {
        let cases: [(u64, [f64; 4]); 4] = [
            (
                0,
                [
                    0.8833108082136427,
                    0.43152799704851,
                    0.0264337715925978,
                    0.9708819781538285,
                ],
            ),
            (
                1,
                [
                    0.566561575172281,
                    0.7457817572627012,
                    0.9710027535867962,
                    0.44435921705577214,
                ],
            ),
            (
                KEY_DEFRA,
                [
                    0.8676169106506819,
                    0.25408996438528114,
                    0.15753952704546442,
                    0.22232718800142798,
                ],
            ),
            (
                u64::MAX,
                [
                    0.8939429202831846,
                    0.9125972035944532,
                    0.2194819628952676,
                    0.4262344494451665,
                ],
            ),
        ];
        for (key, expected) in cases {
            for (i, &u) in expected.iter().enumerate() {
                assert_eq!(
                    uniform(key, i as u64).to_bits(),
                    u.to_bits(),
                    "key {key:#x} counter {i}"
                );
            }
        }
    }

    #[test]
    fn uniform_edges_match_numpy_rounding() {
        // The smallest uniform is 2^-54 > 0, but (2^53 - 1) + 0.5 is a rounding tie that goes to
        // 2^53, so the largest uniform is exactly 1.0 (numpy computes the same); the normal drawn
        // from u1 = 1.0 is then 0.0, not a NaN or an infinity.
        assert_eq!((0.0f64 + 0.5) * TWO_POW_M53, 2f64.powi(-54));
        assert_eq!((((1u64 << 53) - 1) as f64 + 0.5) * TWO_POW_M53, 1.0);
        // key crafted (by inverting the mix) so that word 0 has its top 53 bits set
        let key = 0x198e_4b9f_38ef_956f;
        assert_eq!(word(key, 0), 0xffff_ffff_ffff_f923);
        assert_eq!(uniform(key, 0), 1.0);
        assert_eq!(standard_normal(key, 0), 0.0);
    }

    fn assert_close(a: f64, b: f64, what: &str) {
        // numpy's and the system libm's log/cos may differ by an ulp; allow a few.
        let tol = 4.0 * f64::EPSILON * b.abs().max(1e-300);
        assert!((a - b).abs() <= tol, "{what}: rust {a:e} vs python {b:e}");
    }

    #[test]
    fn normals_match_python() {
        let cases: [(u64, u64, f64); 16] = [
            (0, 0, -0.45275774021745807),
            (0, 1, 0.20776603893419174),
            (0, 2, -0.9886041246243277),
            (1, 0, -0.028249746095854695),
            (1, 1, -1.065617648414326),
            (1, 2, 0.10309095168573973),
            (KEY_DEFRA, 0, -0.013693624752609867),
            (KEY_DEFRA, 1, 0.5327499436721114),
            (KEY_DEFRA, 2, -1.2141545839182903),
            (u64::MAX, 0, 0.4038981710442082),
            (u64::MAX, 1, -0.24716992988021766),
            (u64::MAX, 2, 0.37761973024997203),
            // samples 1_000_000 and 1_000_001 (hex floats from Python's float.hex)
            (0, 1_000_000, f64::from_bits(0x3fb49be77877a6a3)),
            (0, 1_000_001, f64::from_bits(0x3ff2438e494a6e72)),
            (KEY_DEFRA, 1_000_000, f64::from_bits(0xbfda7f6d598ffdc5)),
            (KEY_DEFRA, 1_000_001, f64::from_bits(0x3fbd364fa3f68e7d)),
        ];
        for (key, s, z) in cases {
            assert_close(
                standard_normal(key, s),
                z,
                &format!("key {key:#x} sample {s}"),
            );
        }
    }
}
