//! The transcendental activations (softmax's `exp`, GELU's `erf`) computed on values in wasm
//! memory, for the CPU path.
//!
//! burn's CPU backend evaluates both one value at a time through libm (`expf`, `erff`): on
//! all-MiniLM-L6-v2 at 16 × 128 tokens that was ~18 % of an embed call in Chromium. Here each is a
//! branch-free polynomial, four values at a time with SIMD128 in the browser; the scalar form
//! (natively, and for the last few values of a slice) is the same arithmetic, step for step.
//! Accuracy is a few f32 ulps, far inside the models' reference tolerances.

/// Below it `e^x` is 0 (libm's result is denormal there), so a masked score weighs nothing.
const EXP_MIN: f32 = -87.3;
/// Above it `e^x` stays at `e^88.3`: `2^n` must keep a finite exponent (n ≤ 127).
const EXP_MAX: f32 = 88.3;
/// ln 2 split in two so `n · LN2_HI` is exact (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `e^r` ≈ `1 + r + r² · P(r)` on |r| ≤ ln 2 / 2 (Cephes' `expf`), highest power first.
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// Beyond ±4, erf is ±1 in f32.
const ERF_LIMIT: f32 = 4.0;
/// `erf(x)` ≈ `x · P(x²) / Q(x²)` on [-4, 4], the rational approximation Eigen and XLA use
/// (absolute error < 1e-6), highest power first.
const ERF_P: [f32; 7] = [
    -2.726_142_3e-10,
    2.770_681_4e-8,
    -2.101_024e-6,
    -5.692_506_4e-5,
    -7.349_906_3e-4,
    -2.9546e-3,
    -1.609_603_3e-2,
];
const ERF_Q: [f32; 5] = [
    -1.456_607_2e-5,
    -2.133_740_6e-4,
    -1.682_827e-3,
    -7.373_329e-3,
    -1.426_474e-2,
];

/// `e^x`: `2^n · e^r` with `n = round(x / ln 2)`, `|r| ≤ ln 2 / 2`; relative error < 2.5e-7.
fn exp(x: f32) -> f32 {
    let clamped = x.clamp(EXP_MIN, EXP_MAX);
    let n = (clamped * std::f32::consts::LOG2_E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = EXP_P[1..].iter().fold(EXP_P[0], |p, c| p * r + c);
    // 2^n by building the exponent bits; n ∈ [-126, 127] after the clamp.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < EXP_MIN {
        0.0
    } else {
        (p * r * r + r + 1.0) * scale
    }
}

/// `erf(x)`.
fn erf(x: f32) -> f32 {
    let x = x.clamp(-ERF_LIMIT, ERF_LIMIT);
    let x2 = x * x;
    let p = ERF_P[1..].iter().fold(ERF_P[0], |p, c| p * x2 + c);
    let q = ERF_Q[1..].iter().fold(ERF_Q[0], |q, c| q * x2 + c);
    x * p / q
}

/// GELU in its exact (erf) form, `x/2 · (1 + erf(x/√2))`.
fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// [`exp`], [`erf`] and [`gelu_one`] on four lanes: the same operations in the same order.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    use super::*;

    /// Horner's rule over `coefficients` (highest power first) at `x`.
    #[inline(always)]
    fn horner(coefficients: &[f32], x: v128) -> v128 {
        (coefficients[1..].iter()).fold(f32x4_splat(coefficients[0]), |p, &c| {
            f32x4_add(f32x4_mul(p, x), f32x4_splat(c))
        })
    }

    /// `lo ≤ x ≤ hi` by pmin/pmax (one instruction each; no NaN reaches them here).
    #[inline(always)]
    fn clamp(x: v128, lo: f32, hi: f32) -> v128 {
        f32x4_pmax(f32x4_pmin(x, f32x4_splat(hi)), f32x4_splat(lo))
    }

    #[inline(always)]
    pub(super) fn exp(x: v128) -> v128 {
        let below = f32x4_lt(x, f32x4_splat(EXP_MIN));
        let x = clamp(x, EXP_MIN, EXP_MAX);
        let n = f32x4_floor(f32x4_add(
            f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)),
            f32x4_splat(0.5),
        ));
        let r = f32x4_sub(
            f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HI))),
            f32x4_mul(n, f32x4_splat(LN2_LO)),
        );
        let p = horner(&EXP_P, r);
        let e_r = f32x4_add(
            f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r),
            f32x4_splat(1.0),
        );
        let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        v128_andnot(f32x4_mul(e_r, scale), below)
    }

    #[inline(always)]
    pub(super) fn gelu(x: v128) -> v128 {
        let t = clamp(
            f32x4_mul(x, f32x4_splat(std::f32::consts::FRAC_1_SQRT_2)),
            -ERF_LIMIT,
            ERF_LIMIT,
        );
        let t2 = f32x4_mul(t, t);
        let erf = f32x4_div(f32x4_mul(t, horner(&ERF_P, t2)), horner(&ERF_Q, t2));
        f32x4_mul(
            f32x4_mul(f32x4_splat(0.5), x),
            f32x4_add(f32x4_splat(1.0), erf),
        )
    }

    /// `lane` over each whole group of four values, in place; returns how many it did.
    #[inline(always)]
    pub(super) fn each(values: &mut [f32], lane: impl Fn(v128) -> v128) -> usize {
        let mut chunks = values.chunks_exact_mut(4);
        for chunk in &mut chunks {
            // SAFETY: `chunk` is 4 f32s, 16 bytes; unaligned loads and stores are allowed.
            unsafe {
                let at = chunk.as_mut_ptr() as *mut v128;
                at.write_unaligned(lane(at.read_unaligned()));
            }
        }
        values.len() / 4 * 4
    }
}

/// `one` over every value in place; four at a time with SIMD128 by `lane`'s kernel.
fn map(values: &mut [f32], one: impl Fn(f32) -> f32, lane: Lane) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = match lane {
        Lane::Exp => lanes::each(values, lanes::exp),
        Lane::Gelu => lanes::each(values, lanes::gelu),
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = {
        let _ = lane;
        0
    };
    for v in &mut values[done..] {
        *v = one(*v);
    }
}

/// Which SIMD kernel [`map`] uses.
#[derive(Clone, Copy)]
enum Lane {
    Exp,
    Gelu,
}

/// GELU in its exact (erf) form, `x/2 · (1 + erf(x/√2))`, as BERT's `"gelu"`, in place.
pub(crate) fn gelu(values: &mut [f32]) {
    map(values, gelu_one, Lane::Gelu);
}

/// Softmax over each row of `row_len` values, in place: `e^(x - max) / Σ`.
pub(crate) fn softmax_rows(values: &mut [f32], row_len: usize) {
    if row_len == 0 {
        return;
    }
    for row in values.chunks_exact_mut(row_len) {
        let max = row
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        for v in row.iter_mut() {
            *v -= max;
        }
        map(row, exp, Lane::Exp);
        let inverse = 1.0 / row.iter().sum::<f32>();
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 1/1000 over [-lo, hi], plus the edges.
    fn grid(lo: f32, hi: f32) -> Vec<f32> {
        let steps = ((hi - lo) * 1000.0) as usize;
        (0..=steps).map(|i| lo + i as f32 / 1000.0).collect()
    }

    #[test]
    fn exp_is_within_two_ulps_of_libm_on_the_softmax_range() {
        let xs = grid(-87.0, 10.0);
        let mut got = xs.clone();
        map(&mut got, exp, Lane::Exp);
        for (x, g) in xs.iter().zip(got) {
            let e = (*x as f64).exp();
            assert!(
                ((g as f64 - e) / e).abs() < 2.5e-7,
                "exp({x}) = {g}, expected {e}"
            );
        }
        let mut far = [-1000.0, -100.0, -87.4, 0.0, 1.0, -0.0, 88.0, -1e30];
        map(&mut far, exp, Lane::Exp);
        assert_eq!([far[0], far[1], far[2], far[7]], [0.0; 4]);
        assert_eq!([far[3], far[5]], [1.0, 1.0]);
        assert!((far[4] - std::f32::consts::E).abs() < 1e-6);
        assert!(far.iter().all(|v| v.is_finite()), "{far:?}");
    }

    #[test]
    fn erf_and_gelu_match_the_exact_forms() {
        let xs = grid(-8.0, 8.0);
        let erf: Vec<f32> = xs.iter().map(|&x| erf(x)).collect();
        let mut gelu_values = xs.clone();
        gelu(&mut gelu_values);
        for ((x, e), g) in xs.iter().zip(erf).zip(gelu_values) {
            let exact = libm_erf(*x as f64);
            assert!(
                (e as f64 - exact).abs() < 1e-6,
                "erf({x}) = {e}, expected {exact}"
            );
            let exact_gelu = 0.5 * *x as f64 * (1.0 + libm_erf(*x as f64 / 2f64.sqrt()));
            assert!(
                (g as f64 - exact_gelu).abs() < 1e-6 * (x.abs() as f64).max(1.0),
                "gelu({x}) = {g}, expected {exact_gelu}"
            );
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_the_plain_formula() {
        // Lengths around the lane count; a masked column (-1e9) and large values.
        for len in [1usize, 3, 8, 9, 17, 128] {
            let mut values: Vec<f32> = (0..3 * len)
                .map(|i| ((i * 37) % 23) as f32 * 0.7 - 8.0)
                .collect();
            values[len - 1] = -1e9;
            values[len] = 60.0;
            let expected: Vec<f64> = values
                .chunks(len)
                .flat_map(|row| {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                    let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
                    row.iter().map(move |&v| (v as f64 - max).exp() / sum)
                })
                .collect();
            softmax_rows(&mut values, len);
            for row in values.chunks(len) {
                assert!(
                    (row.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                    "{len}: {row:?}"
                );
            }
            for (g, e) in values.iter().zip(&expected) {
                assert!((*g as f64 - e).abs() < 1e-6, "{len}: {g} vs {e}");
            }
        }
    }

    /// erf in f64 from its Maclaurin series and erfc's continued fraction (~1e-15), so the test
    /// does not lean on any erf it could share a mistake with.
    fn libm_erf(x: f64) -> f64 {
        let sign = x.signum();
        let x = x.abs();
        let value = if x < 2.5 {
            // Maclaurin series: 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc's continued fraction (Lentz), 60 terms: ample for x ≥ 2.5.
            let mut f = 0.0;
            for k in (1..=60).rev() {
                f = (k as f64 / 2.0) / (x + f);
            }
            1.0 - (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
        };
        sign * value
    }
}
