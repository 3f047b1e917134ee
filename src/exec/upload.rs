//! Uploading one layer, guarded: the binding-size limit, the simulated capacity, and WebGPU error
//! scopes around the allocation.
//!
//! WebGPU reports an allocation that does not fit as an out-of-memory error on the device, not as
//! a return value. The upload therefore runs inside an `OutOfMemory` error scope (and a
//! `Validation` scope inside it, because burn then writes into the invalid buffer), and burn is
//! flushed inside the scopes so its staged copies are submitted while they are open.
//!
//! In a browser the scopes see burn's allocations: wasm is single-threaded and burn allocates on
//! the calling thread. Natively wgpu's error scopes are thread-local and burn allocates on its own
//! server thread, so the scopes see nothing there; a native device that runs out of memory
//! panics inside burn. lavapipe allocates from system RAM, so native tests force the condition
//! with [`Executor::set_simulated_capacity`](crate::exec::Executor::set_simulated_capacity).

use burn::tensor::Device;

use crate::exec::compute::Compute;
use crate::exec::error::ExecError;
use crate::exec::host::HostLayer;
use crate::exec::layer::{BlockRows, LayerWeights, block_rows};

/// Fails like the device would if it held only `capacity` bytes: burn's pool bytes in use plus
/// the layer must fit.
///
/// # Errors
/// [`ExecError::OutOfMemory`] with `simulated: true`.
pub(crate) fn check_simulated(
    device: &Device,
    host: &HostLayer,
    capacity: Option<u64>,
) -> Result<(), ExecError> {
    let Some(capacity) = capacity else {
        return Ok(());
    };
    let in_use = device
        .memory_pool_usage()
        .map_or(0, |usage| usage.bytes_in_use);
    if in_use.saturating_add(host.bytes()) > capacity {
        return Err(ExecError::OutOfMemory {
            layer: host.name.clone(),
            bytes: host.bytes(),
            simulated: true,
        });
    }
    Ok(())
}

/// Uploads `host` to the device, or says why it cannot.
///
/// # Errors
/// [`ExecError::TensorTooLarge`], [`ExecError::F16Unsupported`], [`ExecError::OutOfMemory`]
/// (simulated, or caught by the error scope), or [`ExecError::Backend`] for a validation error
/// raised by the upload.
pub(crate) async fn upload(
    compute: &Compute,
    host: &HostLayer,
    simulated_capacity: Option<u64>,
) -> Result<LayerWeights, ExecError> {
    let split = check_upload(compute, host, simulated_capacity)?;
    upload_checked(compute, host, &split).await
}

/// Everything that can refuse an upload before it starts: the simulated capacity, f16 support,
/// the binding limit. Returns the tensors to split into row blocks (over the binding limit).
///
/// # Errors
/// As [`upload`], less the errors the device raises.
fn check_upload(
    compute: &Compute,
    host: &HostLayer,
    simulated_capacity: Option<u64>,
) -> Result<BlockRows, ExecError> {
    check_simulated(compute.device(), host, simulated_capacity)?;
    if host.has_f16() && !compute.has_shader_f16() {
        return Err(ExecError::F16Unsupported {
            layer: host.name.clone(),
        });
    }
    match compute.gpu() {
        Some(gpu) => block_rows(host, gpu.limits().max_storage_buffer_binding_size),
        None => Ok(BlockRows::new()),
    }
}

/// The upload itself, after [`check_upload`]. burn gets a share of the host values: the CPU
/// backend computes on them in place, a GPU upload copies them once.
///
/// # Errors
/// What the device raises: [`ExecError::OutOfMemory`] or [`ExecError::Backend`].
async fn upload_checked(
    compute: &Compute,
    host: &HostLayer,
    split: &BlockRows,
) -> Result<LayerWeights, ExecError> {
    let gpu = match compute {
        Compute::Cpu(device) => return Ok(LayerWeights::share_on_cpu(host, device)),
        Compute::Gpu(gpu) => gpu,
    };
    let (name, bytes) = (host.name.clone(), host.bytes());
    let device = gpu.wgpu_device();
    let oom_scope = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation_scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let weights = LayerWeights::upload_split(host, gpu.burn_device(), split);
    let flushed = gpu.burn_device().flush();
    let validation = validation_scope.pop();
    let oom = oom_scope.pop();
    let (validation, oom) = (validation.await, oom.await);
    if let Some(error) = oom.or(validation) {
        // The buffers behind `weights` are invalid: drop them and give their pages back so
        // the pool does not hand them out again.
        drop(weights);
        gpu.burn_device().memory_cleanup();
        return Err(match error {
            wgpu::Error::OutOfMemory { .. } => ExecError::OutOfMemory {
                layer: name,
                bytes,
                simulated: false,
            },
            other => ExecError::Backend {
                message: format!("uploading layer \"{name}\": {other}"),
            },
        });
    }
    flushed.map_err(|err| ExecError::Backend {
        message: format!("uploading layer \"{name}\": {err}"),
    })?;
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::host::HostTensor;

    #[test]
    fn tensors_over_the_binding_limit_split_into_rows_that_fit_in_f32() {
        let mut host = HostLayer::new("layer.0");
        let tensor = |shape: Vec<usize>| {
            let n = shape.iter().product();
            HostTensor::f32(shape, vec![0.0; n])
        };
        host.tensors.insert("bias".into(), tensor(vec![4]));
        host.tensors.insert("weight".into(), tensor(vec![8, 8]));
        assert_eq!(block_rows(&host, 256), Ok(BlockRows::new()));
        // 32 bytes a row: 255 bytes hold 7 rows.
        assert_eq!(block_rows(&host, 255), Ok([("weight".into(), 7)].into()));
        // f16 holds 128 bytes but is read as 256 in f32: split all the same.
        let half = host.clone().into_dtype(crate::weights::ConvertTarget::F16);
        assert_eq!(block_rows(&half, 128), Ok([("weight".into(), 4)].into()));
        let err = block_rows(&host, 31).unwrap_err();
        assert_eq!(
            err,
            ExecError::TensorTooLarge {
                layer: "layer.0".into(),
                tensor: "weight".into(),
                bytes: 256,
                limit: 31
            }
        );
        assert!(
            err.to_string().contains("maxStorageBufferBindingSize"),
            "{err}"
        );
        let err = block_rows(&host, 15).unwrap_err();
        assert!(
            matches!(&err, ExecError::TensorTooLarge { tensor, .. } if tensor == "bias"),
            "{err}"
        );
    }
}
