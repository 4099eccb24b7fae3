//! Branch-free `ln`, `cos` and `exp` for the kernel's draws, so loops over sample lanes vectorise
//! (libm calls do not). They are the fdlibm algorithms (the same polynomials and argument
//! reductions as the C library numpy uses): errors below 1 ulp on the ranges the kernel uses,
//! so draws agree with numpy's to about an ulp (the 1e-12 parity contract has ample margin).
//! Only IEEE add/sub/mul/div/sqrt and bit operations are used (no FMA: Rust never contracts),
//! so every instruction set (baseline, AVX2, AVX-512) gives the same bits.
//! The constants are fdlibm's, digit for digit (each parses to the intended double).
#![allow(clippy::excessive_precision)]

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
const SQRT2: f64 = std::f64::consts::SQRT_2;

const TWO52: f64 = 4_503_599_627_370_496.0;
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
/// 1.5 * 2^52: adding it to a double of magnitude < 2^51 leaves the rounded integer in the low bits.
const MAGIC: f64 = 6_755_399_441_055_744.0;

const LG1: f64 = 6.666_666_666_666_735_130e-01;
const LG2: f64 = 3.999_999_999_940_941_908e-01;
const LG3: f64 = 2.857_142_874_366_239_149e-01;
const LG4: f64 = 2.222_219_843_214_978_396e-01;
const LG5: f64 = 1.818_357_216_161_805_012e-01;
const LG6: f64 = 1.531_383_769_920_937_332e-01;
const LG7: f64 = 1.479_819_860_511_658_591e-01;

/// Natural log of a positive normal double (the kernel's uniforms lie in [2^-54, 1]).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // biased exponent as a double without an int->float conversion (exact: 2^52 + e - 2^52)
    let e = f64::from_bits(TWO52_BITS | ((bits >> 52) & 0x7ff)) - TWO52;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let big = m > SQRT2;
    let m = if big { m * 0.5 } else { m };
    let dk = (e - 1023.0) + if big { 1.0 } else { 0.0 };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let hfsq = 0.5 * f * f;
    dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
}

const P1: f64 = 1.666_666_666_666_660_190_37e-01;
const P2: f64 = -2.777_777_777_701_559_338_42e-03;
const P3: f64 = 6.613_756_321_437_934_361_17e-05;
const P4: f64 = -1.653_390_220_546_525_153_90e-06;
const P5: f64 = 4.138_136_797_057_238_460_39e-08;

/// e^x for |x| <= 700 (callers fall back to `f64::exp` beyond, see `exp_fixup`).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(-700.0, 700.0);
    let kf = (xc * INV_LN2).round();
    let hi = xc - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // y in [0.7, 1.42], times 2^k built from the exponent bits (k in [-1010, 1010]): the low bits
    // of kf + MAGIC hold k (two's complement); only the low 12 bits of k + 1023 survive the shift
    let kbits = (kf + MAGIC).to_bits();
    y * f64::from_bits(kbits.wrapping_add(1023) << 52)
}

const C1: f64 = 4.166_666_666_666_660_190_37e-02;
const C2: f64 = -1.388_888_888_887_410_957_49e-03;
const C3: f64 = 2.480_158_728_947_672_941_78e-05;
const C4: f64 = -2.755_731_435_139_066_330_35e-07;
const C5: f64 = 2.087_572_321_298_174_827_90e-09;
const C6: f64 = -1.135_964_755_778_819_482_65e-11;
const S1: f64 = -1.666_666_666_666_663_243_48e-01;
const S2: f64 = 8.333_333_333_322_489_461_24e-03;
const S3: f64 = -1.984_126_982_985_794_931_34e-04;
const S4: f64 = 2.755_731_370_707_006_767_89e-06;
const S5: f64 = -2.505_076_025_340_686_341_95e-08;
const S6: f64 = 1.589_690_995_211_550_102_21e-10;
const PIO2_1: f64 = 1.570_796_326_734_125_614_17e+00; // first 33 bits of pi/2
const PIO2_1T: f64 = 6.077_100_506_506_192_249_32e-11; // pi/2 - PIO2_1
const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;

/// (sin x, cos x) for 0 <= x <= 8 (the kernel's Box-Muller angles lie in (0, 2 pi]).
#[inline(always)]
pub fn sincos(x: f64) -> (f64, f64) {
    // x = n pi/2 + r, |r| <= pi/4: n <= 5, so n * PIO2_1 is exact (Cody-Waite)
    let nf = (x * TWO_OVER_PI).round();
    let r = (x - nf * PIO2_1) - nf * PIO2_1T;
    let z = r * r;
    // kernel cos
    let cr = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let c = w + (((1.0 - w) - hz) + z * cr);
    // kernel sin
    let v = z * r;
    let sr = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    let s = r + v * (S1 + z * sr);
    // quadrant n: sin = s, c, -s, -c; cos = c, -s, -c, s
    let n = (nf + MAGIC).to_bits() & 3;
    let (sv, cv) = if n & 1 == 0 { (s, c) } else { (c, s) };
    let sin = if n >= 2 { -sv } else { sv };
    let cos = if n == 1 || n == 2 { -cv } else { cv };
    (sin, cos)
}

/// cos x for 0 <= x <= 8.
#[inline(always)]
pub fn cos(x: f64) -> f64 {
    sincos(x).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn ln_within_one_ulp_of_libm() {
        let mut worst = 0;
        for i in 0..2_000_000u64 {
            let u = rng::uniform(31, i);
            worst = worst.max(ulps(ln(u), u.ln()));
        }
        for &u in &[
            1.0,
            0.5,
            2f64.powi(-54),
            0.999_999_999_999,
            SQRT2 / 2.0,
            1e-300,
        ] {
            worst = worst.max(ulps(ln(u), u.ln()));
        }
        assert!(worst <= 1, "worst {worst} ulps");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn exp_within_one_ulp_of_libm() {
        let mut worst = 0;
        for i in 0..2_000_000u64 {
            let x = (rng::uniform(32, i) - 0.5) * 80.0;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        for &x in &[0.0, 1.0, -1.0, 700.0, -700.0, 1e-300, -0.5 * LN2_HI] {
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 1, "worst {worst} ulps");
    }

    #[test]
    fn cos_close_to_libm_on_box_muller_angles() {
        let mut worst_abs: f64 = 0.0;
        for i in 0..2_000_000u64 {
            let x = rng::TWO_PI * rng::uniform(33, i);
            let (a, b) = (cos(x), x.cos());
            worst_abs = worst_abs.max((a - b).abs());
            if b.abs() > 1e-3 {
                assert!(ulps(a, b) <= 2, "x {x}: {a} vs {b}");
            }
        }
        assert!(worst_abs < 4e-16, "worst abs {worst_abs}");
        for k in 0..=4 {
            let x = k as f64 * std::f64::consts::FRAC_PI_2;
            assert!((cos(x) - x.cos()).abs() < 1e-16);
            assert!((sincos(x).0 - x.sin()).abs() < 1e-16);
        }
        let mut worst_sin: f64 = 0.0;
        for i in 0..2_000_000u64 {
            let x = rng::TWO_PI * rng::uniform(34, i);
            let (a, b) = (sincos(x).0, x.sin());
            worst_sin = worst_sin.max((a - b).abs());
            if b.abs() > 1e-3 {
                assert!(ulps(a, b) <= 2, "x {x}: sin {a} vs {b}");
            }
        }
        assert!(worst_sin < 4e-16, "worst abs sin {worst_sin}");
    }
}
