//! Manager: which layer of which model lives in which tier, and the plans that move them.
//!
//! Pure bookkeeping with ComfyUI's semantics (`load_models_gpu`, `free_memory`, partial loads and
//! unloads, the loaded list). Planning never changes the books: every planning call returns a
//! [`Plan`]; the GPU layer executes it and reports each move's [`MoveOutcome`] to
//! [`Manager::confirm`], and only then do the books change — to what actually happened.
//!
//! ```
//! use webvram::manager::{Dtype, InferenceEstimate, LayerSpec, LoadRequest, Manager, ModelSpec};
//! use webvram::policy::{Decision, Options, VramState, units::MIB};
//!
//! let decision = Decision::fixed(VramState::NormalVram, 2048 * MIB, 256 * MIB);
//! let mut manager = Manager::new(decision, &Options::default());
//! let layers = (0..4).map(|i| LayerSpec::new(format!("layer.{i}"), i, Dtype::F32, 100 * MIB)).collect();
//! let spec = ModelSpec { name: "demo".into(), dtype: Dtype::F32, layers, inference: InferenceEstimate::Fixed(64 * MIB), cached: true };
//! let id = manager.register(spec)?;
//! let plan = manager.load_models_gpu(&LoadRequest::new([id]), 0)?;
//! manager.confirm_all(&plan);
//! assert_eq!(manager.gpu_bytes(), 400 * MIB);
//! # Ok::<(), webvram::manager::ManagerError>(())
//! ```

mod books;
mod confirm;
mod error;
mod free;
mod host;
mod idle;
mod inference;
mod load;
mod map;
mod owner;
mod plan;
mod planner;
mod records;
mod request;
mod spec;
mod tier;
mod weights;

pub use confirm::{ConfirmReport, MoveOutcome};
pub use error::ManagerError;
pub use inference::{BATCH_MEMORY_BYTES, InferenceEstimate, Workload};
pub use load::LOAD_HEADROOM_PERCENT;
pub use map::{LayerEntry, MemoryMap, ModelSummary};
pub use owner::Manager;
pub use plan::{LayerMove, OomStep, Plan, PlanKind, WeightBudget};
pub use request::LoadRequest;
pub use spec::{Dtype, LayerSpec, ModelId, ModelSpec};
pub use tier::{LayerState, Tier};
pub use weights::{LOWVRAM_MIN_WEIGHTS, lowvram_weight_budget};
