//! The tensor operations BERT is built from, over a layer's resident weights.

use burn::tensor::Tensor;

use crate::exec::{ExecError, LayerWeights};
use crate::models::ops::project;
pub(crate) use crate::models::ops::weight;

/// `x · Wᵀ + b` over the last dimension, with `prefix.weight` [outputs, inputs] and `prefix.bias`
/// [outputs] (PyTorch's `nn.Linear` layout).
///
/// # Shapes
/// `x` [batch, seq, inputs] → [batch, seq, outputs].
pub(crate) fn linear(
    x: Tensor<3>,
    layer: &LayerWeights,
    prefix: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Tensor<3>, ExecError> {
    project(x, layer, prefix, [inputs, outputs], true)
}

/// LayerNorm over the last dimension with `prefix.weight` (γ) and `prefix.bias` (β), using the
/// biased variance as PyTorch does.
///
/// # Shapes
/// `x` [batch, seq, width] → the same.
pub(crate) fn layer_norm(
    x: Tensor<3>,
    layer: &LayerWeights,
    prefix: &str,
    width: usize,
    eps: f64,
) -> Result<Tensor<3>, ExecError> {
    let gamma = weight(layer, &format!("{prefix}.weight"), [width])?;
    let beta = weight(layer, &format!("{prefix}.bias"), [width])?;
    let (var, mean) = x.clone().var_mean_bias(2);
    let normed = (x - mean) / (var + eps).sqrt();
    Ok(normed * gamma.unsqueeze::<3>() + beta.unsqueeze::<3>())
}
