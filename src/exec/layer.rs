//! A layer's weights as burn tensors on the compute device.

use std::collections::BTreeMap;

use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

use crate::exec::error::ExecError;
use crate::exec::host::{HostLayer, HostValues};

/// A layer's weights on the device. Each tensor is stored flat and reshaped on use (a metadata-only
/// operation), so one map holds tensors of every rank. Dropping this frees the device memory (burn
/// returns the buffers to its pool; `memory_cleanup` gives pool pages back).
///
/// Tensors keep the host's dtype on the device. f16 weights are widened to f32 where a layer
/// reads them ([`get`](Self::get)), as ComfyUI's manual cast does: they take half the memory
/// while resident and the model computes in f32 either way.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    name: String,
    tensors: BTreeMap<String, (Tensor<1>, Vec<usize>)>,
    bytes: u64,
}

impl LayerWeights {
    /// Copies `host` onto `device` in the host's dtype (one upload per tensor, queued; burn
    /// orders them before any compute that reads them). f16 needs a device with `shader-f16`.
    pub fn upload(host: &HostLayer, device: &Device) -> Self {
        Self::upload_owned(host.clone(), device)
    }

    /// [`upload`](Self::upload), handing the values to burn instead of copying them: for a wasm
    /// copy that is not kept, so an upload needs no second one.
    pub fn upload_owned(host: HostLayer, device: &Device) -> Self {
        let bytes = host.bytes();
        let tensors = (host.tensors.into_iter())
            .map(|(name, t)| {
                let len = [t.data.len()];
                let tensor = match t.data {
                    HostValues::F32(values) => {
                        Tensor::<1>::from_data(TensorData::new(values, len), device)
                    }
                    HostValues::F16(values) => {
                        Tensor::<1>::from_data(TensorData::new(values, len), (device, DType::F16))
                    }
                };
                (name, (tensor, t.shape))
            })
            .collect();
        Self {
            name: host.name,
            tensors,
            bytes,
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes the layer's tensors take on the device (before pool padding).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The tensor `name` with its stored shape, which must have rank `D`, in f32: an f16 tensor
    /// is widened into a temporary that lives as long as the caller holds it.
    ///
    /// # Errors
    /// [`ExecError::MissingTensor`] or [`ExecError::BadShape`] (wrong rank), naming layer and tensor.
    pub fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>, ExecError> {
        let (tensor, shape) = self
            .tensors
            .get(name)
            .ok_or_else(|| ExecError::MissingTensor {
                layer: self.name.clone(),
                tensor: name.to_owned(),
            })?;
        let dims: [usize; D] = shape
            .as_slice()
            .try_into()
            .map_err(|_| ExecError::BadShape {
                layer: self.name.clone(),
                tensor: name.to_owned(),
                actual: shape.clone(),
                expected: format!("rank {D}"),
            })?;
        Ok(tensor.clone().cast(FloatDType::F32).reshape(dims))
    }

    /// The shape stored for `name`, if the layer has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(_, s)| s.as_slice())
    }
}
