//! The manager layer's errors, each naming the model or layer and the numbers involved.

use thiserror::Error;

use super::spec::{Dtype, ModelId};
use super::tier::Tier;
use crate::policy::units::format_bytes;

/// What can go wrong when registering, planning or confirming. Every variant carries enough to
/// act on; the Display text says what to do next.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ManagerError {
    /// The id is not registered with this manager (never was, or was unregistered).
    #[error("model {model} is not registered; register it first")]
    UnknownModel {
        /// The id asked for.
        model: ModelId,
    },
    /// A layer index past the model's layers.
    #[error("model {model:?} has {layers} layers, there is no layer {layer}")]
    UnknownLayer {
        /// The model's name.
        model: String,
        /// The index asked for.
        layer: usize,
        /// How many layers it has.
        layers: usize,
    },
    /// A model with no layers.
    #[error("model {model:?} has no layers; a model needs at least one")]
    EmptyModel {
        /// The model's name.
        model: String,
    },
    /// Two layers with one name.
    #[error("model {model:?} names layer {layer:?} twice; layer names must be unique")]
    DuplicateLayer {
        /// The model's name.
        model: String,
        /// The repeated name.
        layer: String,
    },
    /// A layer without a size for the model's chosen dtype.
    #[error(
        "layer {layer:?} of model {model:?} has no size for {dtype:?}; list it or choose another dtype"
    )]
    MissingDtype {
        /// The model's name.
        model: String,
        /// The layer's name.
        layer: String,
        /// The dtype chosen for the model.
        dtype: Dtype,
    },
    /// Layer sizes that do not sum in 64 bits.
    #[error("the layer sizes of model {model:?} overflow 64 bits; the header is corrupt")]
    SizeOverflow {
        /// The model's name.
        model: String,
    },
    /// The model cannot run within the budget even streaming layer by layer.
    #[error(
        "model {model:?} needs {needed} bytes ({}) of {tier} for {what}, but only {available} ({}) \
         is available; use a smaller batch or sequence, raise vramBudget or hostBudget, or lower reserveVram",
        format_bytes(*needed),
        format_bytes(*available)
    )]
    DoesNotFit {
        /// The model's name.
        model: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes the budget allows.
        available: u64,
        /// The tier that is too small.
        tier: Tier,
        /// What the bytes are for (`"its largest layer plus inference memory"`).
        what: &'static str,
    },
    /// More outcomes than the plan has moves.
    #[error("{given} outcomes for a plan of {moves} moves; report one outcome per move, in order")]
    OutcomeCount {
        /// Outcomes passed.
        given: usize,
        /// Moves in the plan.
        moves: usize,
    },
    /// Unregistering a model that still holds memory.
    #[error(
        "model {model:?} still holds {gpu_bytes} GPU and {host_bytes} wasm bytes; confirm an unload plan before unregistering it"
    )]
    ModelResident {
        /// The model's name.
        model: String,
        /// Its GPU bytes.
        gpu_bytes: u64,
        /// Its wasm-memory bytes.
        host_bytes: u64,
    },
}
