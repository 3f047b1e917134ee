//! The tensor operations BERT is built from, over a layer's resident weights.

use burn::tensor::Tensor;

use crate::exec::{ExecError, LayerWeights};

/// The weight `name` of `layer`, checked to have exactly `shape`, so a wrong checkpoint is a typed
/// error instead of a panic inside a matmul.
pub(crate) fn weight<const D: usize>(
    layer: &LayerWeights,
    name: &str,
    shape: [usize; D],
) -> Result<Tensor<D>, ExecError> {
    match layer.shape(name) {
        Some(actual) if actual != shape => Err(ExecError::BadShape {
            layer: layer.name().to_owned(),
            tensor: name.to_owned(),
            actual: actual.to_vec(),
            expected: format!("{shape:?}"),
        }),
        _ => layer.get::<D>(name),
    }
}

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
    let w = weight(layer, &format!("{prefix}.weight"), [outputs, inputs])?;
    let b = weight(layer, &format!("{prefix}.bias"), [outputs])?;
    let [batch, seq, _] = x.dims();
    // Rank-2 matmul: one GEMM for the whole batch, no broadcasting of the weight.
    let y = x.reshape([batch * seq, inputs]).matmul(w.transpose()) + b.unsqueeze::<2>();
    Ok(y.reshape([batch, seq, outputs]))
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
