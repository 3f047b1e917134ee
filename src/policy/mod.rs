//! Policy: how much GPU memory webvram may use, in which VRAM state, and why.
//!
//! Pure functions from an [`AdapterProfile`](crate::device::AdapterProfile) and
//! [`Options`] to a [`Decision`]; no GPU or browser types. ComfyUI's semantics are kept; where the
//! browser needs a different rule, the item that applies it says so.

pub mod adapt;
pub mod budget;
pub mod class;
pub mod decision;
pub mod error;
pub mod fingerprint;
pub mod options;
pub mod reasons;
pub mod select;
pub mod state;
pub mod units;

pub use adapt::{LearnedBudget, cap_to_held, step_down_after_oom};
pub use class::DeviceClass;
pub use decision::Decision;
pub use error::PolicyError;
pub use fingerprint::fingerprint;
pub use options::{Options, VramMode, WeightDtype};
pub use reasons::Reason;
pub use select::select;
pub use state::{CpuState, VramState};
