//! Tensor operations every architecture reads its weights through: shape-checked lookups,
//! linear projections, RMSNorm.

use burn::tensor::{Tensor, TensorData};

use crate::exec::{ExecError, HostTensor, LayerWeights};
use crate::models::host_linear::linear;

/// The most rows (batch × positions) a projection computes with [`linear`] on weights in wasm
/// memory; beyond it burn's GEMM, whose packing then pays off, is faster. A decode step has one.
const HOST_MAX_ROWS: usize = 4;

/// The weight `name` of `layer`, checked to have exactly `shape`, so a wrong checkpoint is a typed
/// error instead of a panic inside a matmul.
pub(crate) fn weight<const D: usize>(
    layer: &LayerWeights,
    name: &str,
    shape: [usize; D],
) -> Result<Tensor<D>, ExecError> {
    check_stored_shape(layer, name, &shape)?;
    layer.get::<D>(name)
}

/// A typed error when `layer` stores `name` in a shape other than `expected` (a missing tensor
/// is left to the lookup that follows, which names it).
fn check_stored_shape(
    layer: &LayerWeights,
    name: &str,
    expected: &[usize],
) -> Result<(), ExecError> {
    match layer.shape(name) {
        Some(actual) => check_shape(layer, name, actual, expected),
        None => Ok(()),
    }
}

/// A typed error when `actual` is not `expected`.
fn check_shape(
    layer: &LayerWeights,
    name: &str,
    actual: &[usize],
    expected: &[usize],
) -> Result<(), ExecError> {
    match actual == expected {
        true => Ok(()),
        false => Err(ExecError::BadShape {
            layer: layer.name().to_owned(),
            tensor: name.to_owned(),
            actual: actual.to_vec(),
            expected: format!("{expected:?}"),
        }),
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
    let name = format!("{prefix}.weight");
    let [batch, seq, _] = x.dims();
    if batch * seq <= HOST_MAX_ROWS
        && let Some(w) = layer.host(&name)
    {
        return project_in_place(
            x,
            layer,
            &name,
            w,
            [inputs, outputs],
            bias.then_some(prefix),
        );
    }
    check_stored_shape(layer, &name, &[outputs, inputs])?;
    // Rank-2 matmuls: one GEMM for the whole batch, no broadcasting of the weight; one per row
    // block of a weight larger than a storage binding, their outputs side by side.
    let x = x.reshape([batch * seq, inputs]);
    let mut blocks = layer.row_blocks(&name)?;
    let mut y = match blocks.len() {
        1 => x.matmul(blocks.remove(0).transpose()),
        _ => Tensor::cat(
            (blocks.into_iter())
                .map(|w| x.clone().matmul(w.transpose()))
                .collect(),
            1,
        ),
    };
    if bias {
        y = y + weight(layer, &format!("{prefix}.bias"), [outputs])?.unsqueeze::<2>();
    }
    Ok(y.reshape([batch, seq, outputs]))
}

/// [`project`] for a few rows on the CPU path: the weight is read where it lies in wasm memory,
/// without the copies a GEMM makes.
fn project_in_place(
    x: Tensor<3>,
    layer: &LayerWeights,
    name: &str,
    w: &HostTensor,
    [inputs, outputs]: [usize; 2],
    bias: Option<&str>,
) -> Result<Tensor<3>, ExecError> {
    check_shape(layer, name, &w.shape, &[outputs, inputs])?;
    let [batch, seq, _] = x.dims();
    let device = x.device();
    let read = |message: String| ExecError::Backend {
        message: format!("reading the input of {name} in {}: {message}", layer.name()),
    };
    // The CPU device reads back at once (no GPU queue to wait on).
    let data = x.try_into_data().map_err(|err| read(format!("{err:?}")))?;
    let values =
        (data.convert::<f32>().try_into_vec::<f32>()).map_err(|err| read(format!("{err:?}")))?;
    let y = linear(w, &values, inputs);
    let mut y = Tensor::<3>::from_data(TensorData::new(y, [batch, seq, outputs]), &device);
    if let Some(prefix) = bias {
        y = y + weight(layer, &format!("{prefix}.bias"), [outputs])?.unsqueeze::<3>();
    }
    Ok(y)
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
