//! A layer's weights as burn tensors on the compute device.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::exec::error::ExecError;
use crate::exec::host::HostLayer;

/// A layer's weights on the device. Each tensor is stored flat and reshaped on use (a metadata-only
/// operation), so one map holds tensors of every rank. Dropping this frees the device memory (burn
/// returns the buffers to its pool; `memory_cleanup` gives pool pages back).
#[derive(Clone, Debug)]
pub struct LayerWeights {
    name: String,
    tensors: BTreeMap<String, (Tensor<1>, Vec<usize>)>,
    bytes: u64,
}

impl LayerWeights {
    /// Copies `host` onto `device` (one upload per tensor, queued; burn orders them before any
    /// compute that reads them).
    pub fn upload(host: &HostLayer, device: &Device) -> Self {
        let tensors = host
            .tensors
            .iter()
            .map(|(name, t)| {
                let data = TensorData::new(t.data.clone(), [t.data.len()]);
                (
                    name.clone(),
                    (Tensor::<1>::from_data(data, device), t.shape.clone()),
                )
            })
            .collect();
        Self {
            name: host.name.clone(),
            tensors,
            bytes: host.bytes(),
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

    /// The tensor `name` with its stored shape, which must have rank `D`.
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
        Ok(tensor.clone().reshape(dims))
    }

    /// The shape stored for `name`, if the layer has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|(_, s)| s.as_slice())
    }
}
