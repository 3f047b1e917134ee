//! Linear layers computed on weights where they lie in wasm memory: every projection on the CPU
//! path, and the output projection of a language model on every path.
//!
//! A general GEMM packs its operands into blocks before multiplying; burn's CPU backend hands
//! gemm our `[outputs, inputs]` weights as the operand it packs, so every call copied every
//! weight once (38 % of a short sentence's embed call in Chromium). Here each weight row is read
//! in place: four weight rows against two input rows at a time (eight SIMD sums from six loads),
//! over blocks of input rows that stay in cache. That is as fast per product as gemm's
//! microkernel, without the copy.
//!
//! The `relaxed-simd` feature (wasm only) builds the kernels with relaxed SIMD's fused
//! multiply-add: measured 10–19 % more embeddings/s on the CPU path in Chromium, but a module with
//! it does not validate in engines without relaxed SIMD (Safari), so the package does not ship it
//! yet (README, "Relaxed SIMD").

use crate::exec::{HostTensor, HostValues};

/// Weight rows handled together: each input value is loaded once for all of them.
const ROW_GROUP: usize = 4;

/// Input rows multiplied together against each weight group (at most 32 × 1536 f32 = 192 KiB).
const INPUT_BLOCK: usize = 32;

/// Rows converted to f32 at a time when the weights are held in f16.
const BLOCK_ROWS: usize = 256;

/// `x · Wᵀ`: `x` holds `x.len() / width` input rows of `width` values, `weight` is [outputs,
/// width] (PyTorch's `nn.Linear` layout, checked by the caller). Returns [rows, outputs].
pub(crate) fn linear(weight: &HostTensor, x: &[f32], width: usize) -> Vec<f32> {
    let outputs = weight.shape.first().copied().unwrap_or(0);
    let rows = x.len().checked_div(width).unwrap_or(0);
    let mut out = vec![0f32; rows * outputs];
    match weight.data.as_f32() {
        Some(values) => multiply(values, x, width, outputs, 0, &mut out),
        None => multiply_widened(&weight.data, x, width, outputs, &mut out),
    }
    out
}

/// [`linear`] for weights held in f16: widened a block of rows at a time, so the temporary stays
/// small whatever the table's size.
fn multiply_widened(data: &HostValues, x: &[f32], width: usize, outputs: usize, out: &mut [f32]) {
    let mut block = Vec::with_capacity(BLOCK_ROWS * width);
    for start in (0..outputs).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(outputs);
        block.clear();
        data.extend_f32(start * width..end * width, &mut block);
        multiply(&block, x, width, outputs, start, out);
    }
}

/// Writes `out[r][first + o] = x[r] · w[o]` for every row `o` of `w` (rows of `width` values).
fn multiply(w: &[f32], x: &[f32], width: usize, outputs: usize, first: usize, out: &mut [f32]) {
    // A block of input rows at a time: it stays in cache while every weight group passes it.
    for (b, block) in x.chunks(INPUT_BLOCK * width).enumerate() {
        let out = &mut out[b * INPUT_BLOCK * outputs..];
        multiply_block(w, block, width, outputs, first, out);
    }
}

/// [`multiply`] for one block of input rows, `out` starting at the block's first row.
// The block and the kernels it calls in its loop are compiled with relaxed SIMD in the
// `relaxed-simd` build, so that they inline into one another (their callers call them a block at
// a time).
#[cfg_attr(
    all(
        target_arch = "wasm32",
        target_feature = "simd128",
        feature = "relaxed-simd"
    ),
    target_feature(enable = "relaxed-simd")
)]
fn multiply_block(
    w: &[f32],
    x: &[f32],
    width: usize,
    outputs: usize,
    first: usize,
    out: &mut [f32],
) {
    let groups = w.chunks_exact(width * ROW_GROUP);
    let done = groups.len() * ROW_GROUP;
    for (g, group) in groups.enumerate() {
        // Input rows two at a time: each weight value loaded once for both (a 4 × 2 tile).
        let pairs = x.chunks_exact(2 * width);
        let single = pairs.remainder();
        for (p, pair) in pairs.enumerate() {
            let (first_row, second_row) = pair.split_at(width);
            for (r, sums) in dot_group_pair(group, first_row, second_row)
                .iter()
                .enumerate()
            {
                let at = (2 * p + r) * outputs + first + g * ROW_GROUP;
                out[at..at + ROW_GROUP].copy_from_slice(sums);
            }
        }
        if !single.is_empty() {
            let r = x.len() / width - 1;
            let at = r * outputs + first + g * ROW_GROUP;
            out[at..at + ROW_GROUP].copy_from_slice(&dot_group(group, single));
        }
    }
    for (o, row) in w[done * width..].chunks_exact(width).enumerate() {
        for (r, input) in x.chunks_exact(width).enumerate() {
            out[r * outputs + first + done + o] = dot(row, input);
        }
    }
}

/// The dot products of [`ROW_GROUP`] consecutive weight rows (`rows`, each as long as `x`) with
/// `x`: two 4-lane sums per row, eight independent chains, over the first multiple of eight
/// values; the rest added plainly.
#[cfg_attr(
    all(
        target_arch = "wasm32",
        target_feature = "simd128",
        feature = "relaxed-simd"
    ),
    target_feature(enable = "relaxed-simd")
)]
fn dot_group(rows: &[f32], x: &[f32]) -> [f32; ROW_GROUP] {
    let width = x.len();
    assert_eq!(rows.len(), width * ROW_GROUP, "a whole group of rows");
    let whole = width / 8 * 8;
    let mut totals = [0f32; ROW_GROUP];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{f32x4_add, f32x4_splat, v128};
        // SAFETY: every load reads 4 values at `at` or `at + 4` < `whole` ≤ `width` within `x`
        // or within one of the ROW_GROUP rows of `rows` (lengths asserted above); unaligned
        // loads are allowed.
        let load = |slice: &[f32], at: usize| {
            debug_assert!(at + 4 <= slice.len());
            unsafe { (slice.as_ptr().add(at) as *const v128).read_unaligned() }
        };
        let mut lo = [f32x4_splat(0.0); ROW_GROUP];
        let mut hi = [f32x4_splat(0.0); ROW_GROUP];
        for at in (0..whole).step_by(8) {
            let (x_lo, x_hi) = (load(x, at), load(x, at + 4));
            for r in 0..ROW_GROUP {
                let start = r * width + at;
                lo[r] = madd(load(rows, start), x_lo, lo[r]);
                hi[r] = madd(load(rows, start + 4), x_hi, hi[r]);
            }
        }
        for (r, total) in totals.iter_mut().enumerate() {
            *total = lane_sum(f32x4_add(lo[r], hi[r]));
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (r, total) in totals.iter_mut().enumerate() {
        *total = dot(&rows[r * width..r * width + whole], &x[..whole]);
    }
    for (r, total) in totals.iter_mut().enumerate() {
        *total += tail_dot(&rows[r * width..(r + 1) * width], x, whole);
    }
    totals
}

/// [`dot_group`] for two input rows at once: per four values, four weight loads and two input
/// loads feed eight independent 4-lane sums (against ten loads per eight products one row at a
/// time), which keeps a multi-row projection compute-bound without packing the weight.
#[cfg_attr(
    all(
        target_arch = "wasm32",
        target_feature = "simd128",
        feature = "relaxed-simd"
    ),
    target_feature(enable = "relaxed-simd")
)]
fn dot_group_pair(rows: &[f32], x0: &[f32], x1: &[f32]) -> [[f32; ROW_GROUP]; 2] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{f32x4_splat, v128};
        let width = x0.len();
        assert!(
            rows.len() == width * ROW_GROUP && x1.len() == width,
            "whole rows"
        );
        let whole = width / 4 * 4;
        // SAFETY: every load reads 4 values at `at` < `whole` ≤ `width` within `x0`, `x1` or
        // one of the ROW_GROUP rows of `rows` (lengths asserted above); unaligned loads are allowed.
        let load = |slice: &[f32], at: usize| {
            debug_assert!(at + 4 <= slice.len());
            unsafe { (slice.as_ptr().add(at) as *const v128).read_unaligned() }
        };
        let mut sums = [[f32x4_splat(0.0); ROW_GROUP]; 2];
        for at in (0..whole).step_by(4) {
            let (a, b) = (load(x0, at), load(x1, at));
            #[allow(
                clippy::needless_range_loop,
                reason = "r picks the weight row and both of its sums: the 4 × 2 tile as measured"
            )]
            for r in 0..ROW_GROUP {
                let w = load(rows, r * width + at);
                sums[0][r] = madd(w, a, sums[0][r]);
                sums[1][r] = madd(w, b, sums[1][r]);
            }
        }
        let mut totals = [[0f32; ROW_GROUP]; 2];
        for (input, (x, lanes)) in [x0, x1].into_iter().zip(sums).enumerate() {
            for r in 0..ROW_GROUP {
                totals[input][r] =
                    lane_sum(lanes[r]) + tail_dot(&rows[r * width..(r + 1) * width], x, whole);
            }
        }
        totals
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    [dot_group(rows, x0), dot_group(rows, x1)]
}

/// `a × b + c` per lane: one fused multiply-add where the engine has one in the
/// `relaxed-simd` build (rounded once, so results move in the last bits), else a multiply and an add.
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    feature = "relaxed-simd"
))]
use core::arch::wasm32::f32x4_relaxed_madd as madd;
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    not(feature = "relaxed-simd")
))]
fn madd(
    a: core::arch::wasm32::v128,
    b: core::arch::wasm32::v128,
    c: core::arch::wasm32::v128,
) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::{f32x4_add, f32x4_mul};
    f32x4_add(c, f32x4_mul(a, b))
}

/// The sum of a vector's four lanes, pairwise: `(0 + 1) + (2 + 3)`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn lane_sum(v: core::arch::wasm32::v128) -> f32 {
    use core::arch::wasm32::f32x4_extract_lane;
    (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v))
        + (f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v))
}

/// `row[from..] · x[from..]`: the values after the last whole SIMD step, added plainly.
fn tail_dot(row: &[f32], x: &[f32], from: usize) -> f32 {
    (row[from..].iter().zip(&x[from..]))
        .map(|(w, x)| w * x)
        .sum()
}

/// One dot product with eight independent sums (which the compiler turns into SIMD lanes).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a8, a_rest) = a.split_at(a.len() / 8 * 8);
    let (b8, b_rest) = b.split_at(a8.len());
    for (x, y) in a8.chunks_exact(8).zip(b8.chunks_exact(8)) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(w: &[f32], x: &[f32], width: usize) -> Vec<f32> {
        let outputs = w.len() / width;
        let mut out = Vec::new();
        for input in x.chunks(width) {
            for row in w.chunks(width) {
                out.push(row.iter().zip(input).map(|(a, b)| a * b).sum());
            }
        }
        assert_eq!(out.len(), outputs * (x.len() / width));
        out
    }

    #[test]
    fn f32_and_f16_weights_match_a_plain_product_at_every_shape() {
        // Widths and output counts around the eight lanes and the row group, one and several rows.
        for (outputs, width, rows) in [
            (1, 1, 1),
            (3, 7, 2),
            (4, 8, 1),
            (9, 19, 3),
            (300, 19, 1),
            (8, 384, 5),
        ] {
            let values: Vec<f32> = (0..outputs * width)
                .map(|i| ((i * 7919) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let x: Vec<f32> = (0..rows * width).map(|i| i as f32 * 0.5 - 4.0).collect();
            let expected = plain(&values, &x, width);
            let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
            let tables = [
                HostTensor::f32(vec![outputs, width], values.clone()),
                HostTensor {
                    shape: vec![outputs, width],
                    data: HostValues::from(halves),
                },
            ];
            for table in tables {
                let got = linear(&table, &x, width);
                assert_eq!(got.len(), expected.len(), "{outputs}×{width}, {rows} rows");
                for (g, e) in got.iter().zip(&expected) {
                    assert!((g - e).abs() < 1e-3 * e.abs().max(1.0), "{g} vs {e}");
                }
            }
        }
    }
}
