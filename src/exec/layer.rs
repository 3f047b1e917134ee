//! A layer's weights as burn tensors on the compute device.

use std::collections::BTreeMap;

use burn::tensor::{Device, FloatDType, Tensor};

use crate::exec::error::ExecError;
use crate::exec::host::{HostLayer, HostTensor};

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
    /// On the CPU device, the host values the tensors share (a reference count, not a copy), so
    /// a kernel outside burn can read them in place too ([`host`](Self::host)).
    host: Option<HostLayer>,
}

impl LayerWeights {
    /// Puts `host` on `device` in the host's dtype. A GPU gets one queued upload per tensor
    /// (burn orders them before any compute that reads them; f16 needs `shader-f16`); burn's CPU
    /// backend shares the host's allocation, so the CPU path computes on the weights in place.
    pub fn upload(host: &HostLayer, device: &Device) -> Self {
        let tensors = (host.tensors.iter())
            .map(|(name, t)| {
                let data = t.data.tensor_data([t.data.len()]);
                let dtype = data.dtype();
                let tensor = Tensor::<1>::from_data(data, (device, dtype));
                (name.clone(), (tensor, t.shape.clone()))
            })
            .collect();
        Self {
            name: host.name.clone(),
            tensors,
            bytes: host.bytes(),
            host: None,
        }
    }

    /// [`upload`](Self::upload) to burn's CPU device, keeping `host` at hand for
    /// [`host`](Self::host): both share one allocation.
    pub fn share_on_cpu(host: &HostLayer, device: &Device) -> Self {
        Self {
            host: Some(host.clone()),
            ..Self::upload(host, device)
        }
    }

    /// The tensor `name` as it lies in wasm memory, when the layer computes on the CPU there.
    pub fn host(&self, name: &str) -> Option<&HostTensor> {
        self.host.as_ref()?.tensors.get(name)
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
