//! Tensor operations every architecture reads its weights through: shape-checked lookups,
//! linear projections, RMSNorm; and the activations that the CPU path computes in place.

use burn::tensor::{DType, Device, Tensor, TensorData, activation};

use crate::exec::{ExecError, HostTensor, LayerWeights};
use crate::models::host_activation;
use crate::models::host_linear::linear;

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
    if let Some(w) = layer.host(&name) {
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

/// [`project`] on the CPU path: the weight is read where it lies in wasm memory, without the
/// packing copy burn's GEMM makes of it on every call (measured in Chromium on MiniLM: 1.1-1.35×
/// faster than the GEMM from 20 to 2048 rows).
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

/// GELU in its erf form. On the CPU path computed in place on the tensor's own values
/// ([`host_activation::gelu`]: SIMD instead of libm's one-at-a-time `erff`); elsewhere burn's.
pub(crate) fn gelu<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, ExecError> {
    in_place_on_cpu(x, "GELU", host_activation::gelu, activation::gelu)
}

/// Softmax over the last dimension, on the CPU path in place ([`host_activation::softmax_rows`]).
pub(crate) fn softmax_last<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, ExecError> {
    let row = x.dims()[D - 1];
    in_place_on_cpu(
        x,
        "softmax",
        |values| host_activation::softmax_rows(values, row),
        |x| activation::softmax(x, D - 1),
    )
}

/// `kernel` over the values of `x` where they lie, when `x` is an f32 tensor of burn's CPU
/// backend (which hands over a uniquely held, contiguous tensor's buffer without a copy); `on_device`
/// for any other tensor.
fn in_place_on_cpu<const D: usize>(
    x: Tensor<D>,
    what: &str,
    kernel: impl FnOnce(&mut [f32]),
    on_device: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Result<Tensor<D>, ExecError> {
    let device = x.device();
    if device != Device::flex() || x.dtype() != DType::F32 {
        return Ok(on_device(x));
    }
    let failed = |message: String| ExecError::Backend {
        message: format!("computing {what} on the CPU: {message}"),
    };
    let mut data = x
        .try_into_data()
        .map_err(|err| failed(format!("{err:?}")))?;
    kernel(
        data.as_mut_slice::<f32>()
            .map_err(|err| failed(format!("{err:?}")))?,
    );
    Ok(Tensor::from_data(data, &device))
}
