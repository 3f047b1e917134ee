//! Tensor operations every architecture reads its weights through: shape-checked lookups,
//! linear projections, RMSNorm.

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

/// `x · Wᵀ (+ b)` over the last dimension, with `prefix.weight` [outputs, inputs] and, when
/// `bias`, `prefix.bias` [outputs] (PyTorch's `nn.Linear` layout).
///
/// # Shapes
/// `x` [batch, seq, inputs] → [batch, seq, outputs].
pub(crate) fn project(
    x: Tensor<3>,
    layer: &LayerWeights,
    prefix: &str,
    [inputs, outputs]: [usize; 2],
    bias: bool,
) -> Result<Tensor<3>, ExecError> {
    let w = weight(layer, &format!("{prefix}.weight"), [outputs, inputs])?;
    let [batch, seq, _] = x.dims();
    // Rank-2 matmul: one GEMM for the whole batch, no broadcasting of the weight.
    let mut y = x.reshape([batch * seq, inputs]).matmul(w.transpose());
    if bias {
        y = y + weight(layer, &format!("{prefix}.bias"), [outputs])?.unsqueeze::<2>();
    }
    Ok(y.reshape([batch, seq, outputs]))
}

/// RMSNorm over the last dimension: `x / √(mean(x²) + eps) · γ`, γ = `name` [width].
///
/// # Shapes
/// `x` [batch, seq, width] → the same.
pub(crate) fn rms_norm(
    x: Tensor<3>,
    layer: &LayerWeights,
    name: &str,
    width: usize,
    eps: f64,
) -> Result<Tensor<3>, ExecError> {
    let gamma = weight(layer, name, [width])?;
    let scale = (x.clone().powi_scalar(2).mean_dim(2) + eps).sqrt().recip();
    Ok(x * scale * gamma.unsqueeze::<3>())
}
