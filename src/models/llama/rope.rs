//! Rotary position embeddings, Hugging Face's `rotate_half` convention: the angle tables are
//! computed on the host per call (positions × head_dim / 2 values) and uploaded with the input.

use burn::tensor::{Device, Tensor, TensorData};

use crate::models::llama::config::{LlamaConfig, RopeScaling};

/// The rotation frequencies, one per pair of dimensions (`head_dim / 2`), with Llama 3's
/// scaling applied when the config asks for it (transformers' `_compute_llama3_parameters`).
pub fn inverse_frequencies(config: &LlamaConfig) -> Vec<f64> {
    let d = config.head_dim as f64;
    let base = (0..config.head_dim / 2).map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f64 / d));
    match config.rope_scaling {
        RopeScaling::Default => base.collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor: low,
            high_freq_factor: high,
            original_max_position_embeddings: original,
        } => base
            .map(|f| {
                let wavelength = 2.0 * std::f64::consts::PI / f;
                if wavelength < original / high {
                    f
                } else if wavelength > original / low {
                    f / factor
                } else {
                    let smooth = (original / wavelength - low) / (high - low);
                    (1.0 - smooth) * f / factor + smooth * f
                }
            })
            .collect(),
    }
}

/// cos and sin of `position × frequency` for `positions`, each [len, head_dim] with the
/// frequencies repeated twice along the row (HF's `cat(freqs, freqs)`).
pub fn angle_tables(
    frequencies: &[f64],
    positions: std::ops::Range<usize>,
    device: &Device,
) -> [Tensor<2>; 2] {
    let rows = positions.len();
    let width = frequencies.len() * 2;
    let mut cos = Vec::with_capacity(rows * width);
    let mut sin = Vec::with_capacity(rows * width);
    for p in positions {
        for _ in 0..2 {
            for &f in frequencies {
                let angle = p as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
    }
    [cos, sin].map(|v| Tensor::from_data(TensorData::new(v, [rows, width]), device))
}

/// `x · cos + rotate_half(x) · sin`, `rotate_half(x) = [-x₂, x₁]` for the halves x₁, x₂.
///
/// # Shapes
/// `x` [batch, heads, seq, head_dim], `cos`/`sin` [seq, head_dim] → like `x`.
pub fn rotate(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
    let [b, h, s, d] = x.dims();
    let half = d / 2;
    let first = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
    let second = x.clone().slice([0..b, 0..h, 0..s, half..d]);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * cos.clone().unsqueeze::<4>() + rotated * sin.clone().unsqueeze::<4>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::llama::config::LlamaConfig;

    fn config(scaling: &str) -> LlamaConfig {
        let json = format!(
            r#"{{"model_type":"llama","hidden_size":128,"intermediate_size":8,"num_hidden_layers":1,
            "num_attention_heads":1,"vocab_size":4,"rope_theta":500000.0{scaling}}}"#
        );
        LlamaConfig::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn default_frequencies_fall_geometrically_from_one() {
        let f = inverse_frequencies(&config(""));
        assert_eq!(f.len(), 64);
        assert_eq!(f[0], 1.0);
        let ratio = 500000f64.powf(-2.0 / 128.0);
        assert!(f.windows(2).all(|w| (w[1] / w[0] - ratio).abs() < 1e-12));
    }

    #[test]
    fn llama3_scaling_keeps_short_wavelengths_and_divides_long_ones() {
        let plain = inverse_frequencies(&config(""));
        let scaled = inverse_frequencies(&config(
            r#","rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
            "high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
        ));
        let wavelength = |f: f64| 2.0 * std::f64::consts::PI / f;
        for (p, s) in plain.iter().zip(&scaled) {
            if wavelength(*p) < 8192.0 / 4.0 {
                assert_eq!(p, s);
            } else if wavelength(*p) > 8192.0 {
                assert!((p / 8.0 - s).abs() < 1e-18);
            } else {
                assert!(*s < *p && *s > p / 8.0);
            }
        }
        assert!(plain.iter().zip(&scaled).any(|(p, s)| p != s));
    }
}
