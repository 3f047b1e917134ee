//! The output projection on the host: one hidden vector times the [vocab, hidden] table.
//!
//! Llama-family models tie it to the token embedding, which stays in wasm memory for the gather;
//! projecting the one position a step needs there (vocab × hidden multiply-adds, ~28 M for
//! SmolLM2) costs less than keeping a second copy of the largest tensor on the GPU.

use crate::exec::HostTensor;

/// Rows converted to f32 at a time when the table is held in f16.
const BLOCK_ROWS: usize = 256;

/// `table · hidden`: one logit per row of `table` ([vocab, hidden], checked by the caller).
pub fn project_on_host(table: &HostTensor, hidden: &[f32]) -> Vec<f32> {
    let width = hidden.len();
    let rows = table.shape.first().copied().unwrap_or(0);
    let mut logits = Vec::with_capacity(rows);
    if let Some(values) = table.data.as_f32() {
        logits.extend(values.chunks_exact(width).map(|row| dot(row, hidden)));
        return logits;
    }
    let mut block = Vec::with_capacity(BLOCK_ROWS * width);
    for start in (0..rows).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(rows);
        block.clear();
        table
            .data
            .extend_f32(start * width..end * width, &mut block);
        logits.extend(block.chunks_exact(width).map(|row| dot(row, hidden)));
    }
    logits
}

/// A dot product with eight independent sums, which the compiler turns into SIMD lanes.
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
    use crate::exec::HostValues;

    #[test]
    fn f32_and_f16_tables_give_the_same_logits() {
        let (rows, width) = (300, 19);
        let values: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919) % 13) as f32 * 0.25 - 1.5)
            .collect();
        let hidden: Vec<f32> = (0..width).map(|i| i as f32 * 0.5 - 4.0).collect();
        let f32_table = HostTensor::f32(vec![rows, width], values.clone());
        let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
        let f16_table = HostTensor {
            shape: vec![rows, width],
            data: HostValues::from(halves),
        };
        let expected: Vec<f32> = values
            .chunks(width)
            .map(|r| r.iter().zip(&hidden).map(|(a, b)| a * b).sum())
            .collect();
        for table in [f32_table, f16_table] {
            let got = project_on_host(&table, &hidden);
            assert_eq!(got.len(), rows);
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-4, "{g} vs {e}");
            }
        }
    }
}
