//! What can go wrong while placing weights or running a layer.

use crate::manager::{ManagerError, ModelId, Tier};
use crate::policy::units::format_bytes;

/// An execution failure, naming the layer or tensor at fault. The Display text says what to do
/// next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A layer asked for a tensor its weights do not contain.
    #[error("layer \"{layer}\" has no tensor \"{tensor}\"")]
    MissingTensor {
        /// The layer's name.
        layer: String,
        /// The tensor asked for, relative to the layer.
        tensor: String,
    },
    /// A tensor's shape is not what the model expects.
    #[error("tensor \"{tensor}\" of layer \"{layer}\" has shape {actual:?}; expected {expected}")]
    BadShape {
        /// The layer's name.
        layer: String,
        /// The tensor's name, relative to the layer.
        tensor: String,
        /// Its shape.
        actual: Vec<usize>,
        /// What was expected, in words (`"rank 2"`, `"[384, 384]"`).
        expected: String,
    },
    /// The model was given input it cannot run (wrong width, empty batch, …).
    #[error("invalid input: {0}")]
    BadInput(String),
    /// The device could not allocate a layer's weights. The books still say where everything
    /// is; call [`Executor::recover_from_oom`](crate::exec::Executor::recover_from_oom) and retry.
    #[error(
        "out of GPU memory uploading layer \"{layer}\" ({}){}; step the budget down \
         (Executor::recover_from_oom) and retry",
        format_bytes(*bytes),
        if *simulated { ", simulated" } else { "" }
    )]
    OutOfMemory {
        /// The layer being uploaded.
        layer: String,
        /// Its bytes.
        bytes: u64,
        /// The failure came from [`Executor::set_simulated_capacity`](crate::exec::Executor::set_simulated_capacity),
        /// not from the device.
        simulated: bool,
    },
    /// The GPU device was lost (driver reset, `destroy()`, the browser reclaimed it). Open a new
    /// device and hand it to [`Executor::replace_device`](crate::exec::Executor::replace_device).
    #[error(
        "the GPU device was lost ({reason}); open a new device and call Executor::replace_device"
    )]
    DeviceLost {
        /// What the backend said.
        reason: String,
    },
    /// One row of a tensor (or a whole tensor of rank below 2) is larger than one storage
    /// binding may be once read in f32. Larger tensors are split into row blocks that fit; this
    /// one cannot be.
    #[error(
        "tensor \"{tensor}\" of layer \"{layer}\" takes {bytes} bytes in f32 and cannot be split \
         into rows within the device's maxStorageBufferBindingSize of {limit}; use an adapter \
         with larger bindings"
    )]
    TensorTooLarge {
        /// The layer's name.
        layer: String,
        /// The tensor's name, relative to the layer.
        tensor: String,
        /// Its bytes read in f32.
        bytes: u64,
        /// The device's limit.
        limit: u64,
    },
    /// A kernel asked for a tensor whole that the upload stored in row blocks (it is larger than
    /// one storage binding); such a tensor is read with `LayerWeights::row_blocks`.
    #[error(
        "tensor \"{tensor}\" of layer \"{layer}\" is stored in {blocks} row blocks (larger than \
         one storage binding) and this kernel reads it whole"
    )]
    SplitTensor {
        /// The layer's name.
        layer: String,
        /// The tensor's name, relative to the layer.
        tensor: String,
        /// How many blocks it is stored in.
        blocks: usize,
    },
    /// A layer held in f16 was to be uploaded to a device without `shader-f16` (or to the CPU
    /// backend): load its weights in f32 for this device.
    #[error(
        "layer \"{layer}\" is held in f16 but the device has no shader-f16; load the model \
         with weightDtype \"f32\" (or \"auto\") on this device"
    )]
    F16Unsupported {
        /// The layer's name.
        layer: String,
    },
    /// A layer's bytes are needed but are only in the cache or at their URL, and no
    /// [`LayerSource`](crate::exec::LayerSource) is set to bring them back.
    #[error(
        "layer \"{layer}\" is not in wasm memory and no layer source is set; give the executor \
         a LayerSource or insert the layer's weights"
    )]
    NotInMemory {
        /// The layer's name.
        layer: String,
    },
    /// A move the executor does not perform (storing into the persistent cache is the fetch
    /// layer's job; it reports it with `Manager::mark_cached`).
    #[error("moving layer \"{layer}\" from {from} to {to} is not done by the executor")]
    UnsupportedMove {
        /// The layer's name.
        layer: String,
        /// Where it is.
        from: Tier,
        /// Where the plan wanted it.
        to: Tier,
    },
    /// A plan or forward call names a model whose weights were never inserted.
    #[error("model {model} has no weights in the executor; call Executor::insert_model first")]
    UnknownModel {
        /// The model.
        model: ModelId,
    },
    /// The model run does not have the layers its weights were inserted with.
    #[error(
        "model {model} was inserted with layers {inserted:?} but the model runs {runs:?}; \
         register and insert the same layers the model runs"
    )]
    LayerMismatch {
        /// The model.
        model: ModelId,
        /// Layer names the executor holds, in order.
        inserted: Vec<String>,
        /// Layer names the model runs, in order.
        runs: Vec<String>,
    },
    /// The layer source failed to bring a layer back (network, cache).
    #[error("fetching layer \"{layer}\" failed: {message}")]
    Source {
        /// The layer's name.
        layer: String,
        /// The source's error text.
        message: String,
    },
    /// The manager refused (a plan that does not fit after a step-down, a stale id).
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// burn failed to compute or read back for a reason other than a lost device.
    #[error("GPU computation failed: {message}")]
    Backend {
        /// burn's error text.
        message: String,
    },
}

impl ExecError {
    /// The stable code the JS layer puts on its `Error`: `OOM` (also for a model that cannot fit
    /// the budget at all), `DEVICE_LOST`, `UNSUPPORTED`, `INVALID_INPUT`, else `EXECUTION`.
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::OutOfMemory { .. }
            | ExecError::Manager(crate::manager::ManagerError::DoesNotFit { .. }) => "OOM",
            ExecError::DeviceLost { .. } => "DEVICE_LOST",
            ExecError::TensorTooLarge { .. }
            | ExecError::SplitTensor { .. }
            | ExecError::UnsupportedMove { .. }
            | ExecError::F16Unsupported { .. } => "UNSUPPORTED",
            ExecError::BadInput(_) => "INVALID_INPUT",
            _ => "EXECUTION",
        }
    }
}
