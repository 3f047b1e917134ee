//! The outcome of state selection: one plain record the manager and the JS layer both read.

use serde::{Deserialize, Serialize};

use super::budget::{MIN_WEIGHT_RATIO_PERMILLE, WASM_WEIGHT_CAP, min_inference};
use super::class::DeviceClass;
use super::options::WeightDtype;
use super::reasons::{Reason, bytes_value};
use super::state::{CpuState, VramState};

/// How much GPU memory webvram may use and in which state, with every reason.
///
/// Produced by [`select`](super::select::select), stepped down by
/// [`step_down_after_oom`](super::adapt::step_down_after_oom), read by the
/// [`Manager`](crate::manager::Manager). Serialized in camelCase for `systemStats` and the demo.
/// The fields are public because it is a record, not an invariant-holding type: tests and pages
/// that know their numbers may build one (see [`Decision::fixed`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The VRAM state.
    pub state: VramState,
    /// Where compute runs.
    pub cpu_state: CpuState,
    /// The kind of GPU the adapter is.
    pub device_class: DeviceClass,
    /// The adapter allows ≤ 128 MiB per storage binding.
    pub low_resource: bool,
    /// GPU memory is system RAM: GPU-resident layers keep no wasm-memory copy by default.
    pub unified_memory: bool,
    /// What the signals suggested, before options and learning (0 without an adapter).
    pub estimate_bytes: u64,
    /// The GPU memory webvram may use: ComfyUI's total VRAM. Weights and inference share it.
    pub budget_bytes: u64,
    /// Bytes kept free inside the budget (ComfyUI's `EXTRA_RESERVED_VRAM`). Unlike ComfyUI, no
    /// weight is ever placed in it (ComfyUI's 128 MiB floor can eat it: "reserve ignored").
    pub reserve_bytes: u64,
    /// Minimum inference memory before the reserve is added (ComfyUI's 0.8 GiB, scaled).
    pub min_inference_bytes: u64,
    /// ComfyUI's `MIN_WEIGHT_MEMORY_RATIO` in thousandths (400, or 0 on NVIDIA).
    pub min_weight_ratio_permille: u64,
    /// Bytes of wasm memory that weights may use.
    pub host_budget_bytes: u64,
    /// Out-of-memory events behind this decision, in this session or learned from earlier ones.
    pub oom_count: u32,
    /// What weights are held in: [`WeightDtype::F16`] or [`WeightDtype::F32`], never `Auto`.
    pub weight_dtype: WeightDtype,
    /// The adapter's fingerprint, the key a learned budget is stored under.
    pub fingerprint: String,
    /// Why each number is what it is, in the order they were decided.
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// A decision with given numbers, not drawn from an adapter: for tests, benchmarks and pages
    /// that know their GPU. The floors follow the same rules as `select`; memory counts as
    /// unified only in `Shared` state; weights are held in f32.
    pub fn fixed(state: VramState, budget_bytes: u64, reserve_bytes: u64) -> Self {
        let device_class = match state {
            VramState::Disabled => DeviceClass::None,
            VramState::Shared => DeviceClass::Integrated,
            _ => DeviceClass::Discrete,
        };
        Self {
            state,
            cpu_state: CpuState::for_state(state),
            device_class,
            low_resource: false,
            unified_memory: state == VramState::Shared,
            estimate_bytes: budget_bytes,
            budget_bytes,
            reserve_bytes,
            min_inference_bytes: min_inference(budget_bytes),
            min_weight_ratio_permille: MIN_WEIGHT_RATIO_PERMILLE,
            host_budget_bytes: WASM_WEIGHT_CAP,
            oom_count: 0,
            weight_dtype: WeightDtype::F32,
            fingerprint: "fixed".into(),
            reasons: vec![Reason::new(
                "fixed",
                bytes_value(budget_bytes),
                format!("state {state}"),
            )],
        }
    }

    /// ComfyUI's `minimum_inference_memory()`: the inference floor plus the reserve.
    pub fn minimum_inference_memory(&self) -> u64 {
        self.min_inference_bytes.saturating_add(self.reserve_bytes)
    }

    /// The bytes weights may occupy at most: the budget less the reserve (0 if the reserve is at
    /// least the budget).
    pub fn usable_bytes(&self) -> u64 {
        self.budget_bytes.saturating_sub(self.reserve_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::units::GIB;

    #[test]
    fn serializes_in_camel_case() {
        let json = serde_json::to_value(Decision::fixed(VramState::LowVram, GIB, 0)).unwrap();
        assert_eq!(json["state"], "LOW_VRAM");
        assert_eq!(json["budgetBytes"], GIB);
        assert_eq!(json["reasons"][0]["signal"], "fixed");
    }

    #[test]
    fn usable_bytes_never_underflow() {
        let decision = Decision::fixed(VramState::NoVram, GIB, 2 * GIB);
        assert_eq!(decision.usable_bytes(), 0);
    }
}
