//! A layer's weights as burn tensors on the compute device.

use std::collections::BTreeMap;

use burn::tensor::{Device, FloatDType, Tensor};

use crate::exec::error::ExecError;
use crate::exec::host::{HostLayer, HostTensor};

/// A tensor on the device: flat (reshaped on use, a metadata-only operation, so one map holds
/// tensors of every rank), in one buffer or, when it is larger than one storage binding, in
/// blocks of whole rows ([`LayerWeights::row_blocks`]).
#[derive(Clone, Debug)]
struct Stored {
    blocks: Vec<Tensor<1>>,
    shape: Vec<usize>,
}

/// A layer's weights on the device. Dropping this frees the device memory (burn returns the
/// buffers to its pool; `memory_cleanup` gives pool pages back).
///
/// Tensors keep the host's dtype on the device. f16 weights are widened to f32 where a layer
/// reads them ([`get`](Self::get)), as ComfyUI's manual cast does: they take half the memory
/// while resident and the model computes in f32 either way.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    name: String,
    tensors: BTreeMap<String, Stored>,
    bytes: u64,
    /// On the CPU device, the host values the tensors share (a reference count, not a copy), so
    /// a kernel outside burn can read them in place too ([`host`](Self::host)).
    host: Option<HostLayer>,
}

/// Rows per block for each tensor of a layer that must be split (see [`block_rows`]); tensors
/// not named are stored whole.
pub(crate) type BlockRows = BTreeMap<String, usize>;

/// The tensors of `host` that do not fit one storage binding of `limit` bytes once read in f32
/// (an f16 weight is widened where a kernel reads it, so the widened copy must fit too), with
/// the rows per block that make each block fit. Kernels read such a tensor block by block
/// ([`LayerWeights::row_blocks`]): a 128k-token table on a phone's 128 MiB binding still runs.
///
/// # Errors
/// [`ExecError::TensorTooLarge`] for a tensor whose single row (or whole self, below rank 2)
/// is over the limit: it cannot be split into rows that fit.
pub(crate) fn block_rows(host: &HostLayer, limit: u64) -> Result<BlockRows, ExecError> {
    let mut split = BlockRows::new();
    for (name, tensor) in &host.tensors {
        let read_bytes = widened_bytes(tensor.data.len());
        if read_bytes <= limit {
            continue;
        }
        let row_bytes = widened_bytes(row_len(tensor));
        if tensor.shape.len() < 2 || row_bytes > limit {
            return Err(ExecError::TensorTooLarge {
                layer: host.name.clone(),
                tensor: name.clone(),
                bytes: read_bytes,
                limit,
            });
        }
        split.insert(name.clone(), (limit / row_bytes) as usize);
    }
    Ok(split)
}

/// Values in one row (one index of the outermost dimension) of `tensor`.
fn row_len(tensor: &HostTensor) -> usize {
    tensor.data.len() / tensor.shape.first().copied().unwrap_or(1).max(1)
}

/// Bytes of `len` values read in f32.
fn widened_bytes(len: usize) -> u64 {
    (len as u64).saturating_mul(4)
}

impl LayerWeights {
    /// Puts `host` on `device` in the host's dtype, each tensor whole. A GPU gets one queued
    /// upload per tensor (burn orders them before any compute that reads them; f16 needs
    /// `shader-f16`); burn's CPU backend shares the host's allocation, so the CPU path computes
    /// on the weights in place.
    pub fn upload(host: &HostLayer, device: &Device) -> Self {
        Self::upload_split(host, device, &BlockRows::new())
    }

    /// [`upload`](Self::upload), with the tensors `split` names stored as blocks of that many
    /// rows (one upload each, from a view of the host values: no copy in wasm memory).
    pub(crate) fn upload_split(host: &HostLayer, device: &Device, split: &BlockRows) -> Self {
        let tensors = (host.tensors.iter())
            .map(|(name, t)| {
                let block = split
                    .get(name)
                    .map_or(t.data.len(), |rows| rows * row_len(t));
                let blocks = (0..t.data.len().max(1))
                    .step_by(block.max(1))
                    .map(|start| {
                        let values = t.data.range(start..(start + block).min(t.data.len()));
                        let data = values.tensor_data([values.len()]);
                        let dtype = data.dtype();
                        Tensor::<1>::from_data(data, (device, dtype))
                    })
                    .collect();
                let shape = t.shape.clone();
                (name.clone(), Stored { blocks, shape })
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
    /// [`ExecError::MissingTensor`] or [`ExecError::BadShape`] (wrong rank), naming layer and
    /// tensor; [`ExecError::SplitTensor`] for a tensor stored in row blocks.
    pub fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>, ExecError> {
        let stored = self.stored(name)?;
        let dims: [usize; D] = self.dims(name, &stored.shape)?;
        match stored.blocks.as_slice() {
            [whole] => Ok(whole.clone().cast(FloatDType::F32).reshape(dims)),
            blocks => Err(ExecError::SplitTensor {
                layer: self.name.clone(),
                tensor: name.to_owned(),
                blocks: blocks.len(),
            }),
        }
    }

    /// The rank-2 tensor `name` in f32 as blocks of whole rows, in order: one block when it fits
    /// one storage binding, more when the upload split it. Concatenated along dimension 0 they
    /// are [`get`](Self::get)'s tensor; a kernel that works block by block reads any size.
    ///
    /// # Errors
    /// As [`get`](Self::get), less `SplitTensor`.
    pub fn row_blocks(&self, name: &str) -> Result<Vec<Tensor<2>>, ExecError> {
        let stored = self.stored(name)?;
        let [_, width] = self.dims::<2>(name, &stored.shape)?;
        Ok((stored.blocks.iter())
            .map(|block| {
                let rows = block.dims()[0] / width.max(1);
                block.clone().cast(FloatDType::F32).reshape([rows, width])
            })
            .collect())
    }

    /// The shape stored for `name`, if the layer has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|s| s.shape.as_slice())
    }

    fn stored(&self, name: &str) -> Result<&Stored, ExecError> {
        self.tensors
            .get(name)
            .ok_or_else(|| ExecError::MissingTensor {
                layer: self.name.clone(),
                tensor: name.to_owned(),
            })
    }

    /// `shape` as rank `D`, or the error naming the tensor.
    fn dims<const D: usize>(&self, name: &str, shape: &[usize]) -> Result<[usize; D], ExecError> {
        shape.try_into().map_err(|_| ExecError::BadShape {
            layer: self.name.clone(),
            tensor: name.to_owned(),
            actual: shape.to_vec(),
            expected: format!("rank {D}"),
        })
    }
}
