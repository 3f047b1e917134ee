//! Noticing that the device is gone, and reading results back without hiding it.
//!
//! burn already watches its device: it installs wgpu's device-lost callback when a device is
//! registered, and once the callback fires every read on that device fails with "the device is
//! poisoned". Natively wgpu keeps one callback per device, so installing ours would silence
//! burn's; there the executor learns of a loss from the read that fails. In a browser callbacks
//! are promise continuations that add up, so ours is installed too and a loss is known before the
//! next read.

use std::sync::{Arc, Mutex, PoisonError};

use burn::tensor::{Tensor, TensorData};

use crate::device::GpuContext;
use crate::exec::error::ExecError;

/// Whether the device the executor runs on has been lost, and why. Cheap to clone; clones share
/// the flag.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeviceWatch {
    reason: Arc<Mutex<Option<String>>>,
}

impl DeviceWatch {
    /// A watch on `gpu`'s device (see the module notes for what "watch" means per target).
    pub fn new(gpu: Option<&GpuContext>) -> Self {
        let watch = Self::default();
        #[cfg(target_arch = "wasm32")]
        if let Some(gpu) = gpu {
            let reason = watch.reason.clone();
            gpu.wgpu_device()
                .set_device_lost_callback(move |kind, message| {
                    let mut slot = reason.lock().unwrap_or_else(PoisonError::into_inner);
                    slot.get_or_insert(format!("{kind:?}: {message}"));
                });
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = gpu;
        watch
    }

    /// Why the device was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a loss observed elsewhere (a failed read). The first reason wins.
    pub fn mark_lost(&self, reason: &str) {
        let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert_with(|| reason.to_owned());
    }

    /// `Err(DeviceLost)` once the device is known to be lost.
    ///
    /// # Errors
    /// [`ExecError::DeviceLost`].
    pub fn check(&self) -> Result<(), ExecError> {
        match self.lost() {
            Some(reason) => Err(ExecError::DeviceLost { reason }),
            None => Ok(()),
        }
    }
}

/// Reads a tensor back as f32 values, asynchronously (sync reads panic in browsers).
///
/// burn reports a lost device in two places: the read itself, or — when the read was queued
/// before the loss was noticed — the returned data, whose bytes then fail to load. Both are
/// mapped to [`ExecError::DeviceLost`] and recorded on `watch`.
///
/// # Errors
/// [`ExecError::DeviceLost`], or [`ExecError::Backend`] for any other failure.
pub(crate) async fn read_back<const D: usize>(
    tensor: Tensor<D>,
    watch: &DeviceWatch,
) -> Result<Vec<f32>, ExecError> {
    watch.check()?;
    let data: TensorData = tensor
        .into_data_async()
        .await
        .map_err(|err| classify(err.to_string(), watch))?;
    data.try_into_vec::<f32>()
        .map_err(|err| classify(err.to_string(), watch))
}

/// burn's only sign of a lost device is its text: `ExecutionError::DevicePoisoned` displays as
/// "The device is poisoned", and a deferred read carries the same words inside a storage error.
pub(crate) fn classify(message: String, watch: &DeviceWatch) -> ExecError {
    if message.contains("device is poisoned") {
        watch.mark_lost(&message);
        ExecError::DeviceLost { reason: message }
    } else {
        ExecError::Backend { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisoned_reads_mark_the_device_lost_and_others_do_not() {
        let watch = DeviceWatch::default();
        let other = classify("shader failed".into(), &watch);
        assert!(matches!(other, ExecError::Backend { .. }));
        assert_eq!(watch.check(), Ok(()));
        let lost = classify(
            "Failed to access TensorData storage: The device is poisoned\nCaused by: Destroyed"
                .into(),
            &watch,
        );
        assert!(matches!(lost, ExecError::DeviceLost { .. }));
        assert!(matches!(watch.check(), Err(ExecError::DeviceLost { .. })));
        assert!(lost.to_string().contains("replace_device"), "{lost}");
    }
}
