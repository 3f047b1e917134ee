//! The VRAM states and the CPU state, with ComfyUI's names.

use serde::{Deserialize, Serialize};

/// How much of a model's weights may live on the GPU, as ComfyUI's `VRAMState`.
///
/// Serialized with ComfyUI's names (`"NORMAL_VRAM"`, …) so logs and `systemStats` read like
/// ComfyUI's "Set vram state to: NORMAL_VRAM".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VramState {
    /// No GPU: every weight lives in wasm memory and compute runs on the CPU backend.
    Disabled,
    /// The GPU computes but keeps no weights between calls: every layer is copied in for its
    /// forward call and dropped after (ComfyUI's `--novram`).
    NoVram,
    /// Partial loading with a weight budget that leaves room for inference (`--lowvram`).
    LowVram,
    /// Like `LowVram`, used when the budget is comfortable (`--normalvram`, ComfyUI's default).
    NormalVram,
    /// Load whole models and keep them (`--highvram`). Only when the user asks.
    HighVram,
    /// Unified memory: the GPU uses system RAM. ComfyUI loads whole models here; webvram also
    /// loads whole models but falls back to a partial load when a model exceeds the budget,
    /// because a browser's shared budget is an estimate, not a measurement.
    Shared,
}

impl VramState {
    /// The next state down after an out-of-memory event: HIGH → NORMAL → LOW → NO_VRAM.
    ///
    /// ComfyUI never steps down on its own. webvram does because its budgets are estimates.
    /// `Shared` steps to `LowVram` (keep partial loading, lose whole-model loads); `NoVram` and
    /// `Disabled` stay where they are — the budget keeps shrinking instead.
    pub fn step_down(self) -> Self {
        match self {
            Self::HighVram => Self::NormalVram,
            Self::NormalVram | Self::Shared => Self::LowVram,
            Self::LowVram | Self::NoVram => Self::NoVram,
            Self::Disabled => Self::Disabled,
        }
    }

    /// How much GPU residency the state allows, for comparing a learned state with a fresh one.
    ///
    /// `Shared` ranks with `NormalVram`: both are the default for their device class.
    pub fn rank(self) -> u8 {
        match self {
            Self::Disabled => 0,
            Self::NoVram => 1,
            Self::LowVram => 2,
            Self::NormalVram | Self::Shared => 3,
            Self::HighVram => 4,
        }
    }

    /// Whether a load in this state computes ComfyUI's low-VRAM weight budget
    /// (`LOW_VRAM` and `NORMAL_VRAM`) instead of loading whole models.
    pub fn uses_weight_budget(self) -> bool {
        matches!(self, Self::LowVram | Self::NormalVram)
    }

    /// ComfyUI's name for the state, as it prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "DISABLED",
            Self::NoVram => "NO_VRAM",
            Self::LowVram => "LOW_VRAM",
            Self::NormalVram => "NORMAL_VRAM",
            Self::HighVram => "HIGH_VRAM",
            Self::Shared => "SHARED",
        }
    }
}

impl std::fmt::Display for VramState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where compute runs, as ComfyUI's `CPUState`.
///
/// ComfyUI also has `MPS` for Apple GPUs; in the browser every GPU is reached through WebGPU, so
/// Apple folds into `Gpu` (its unified memory shows up as [`VramState::Shared`] instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CpuState {
    /// Compute on the WebGPU device.
    Gpu,
    /// Compute on the CPU backend in wasm (no adapter, or `vram: 'cpu'`).
    Cpu,
}

impl CpuState {
    /// The CPU state that goes with a VRAM state: only `Disabled` computes on the CPU.
    pub fn for_state(state: VramState) -> Self {
        if state == VramState::Disabled {
            Self::Cpu
        } else {
            Self::Gpu
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_down_like_comfyui_on_oom() {
        let mut state = VramState::HighVram;
        let mut seen = vec![state];
        for _ in 0..4 {
            state = state.step_down();
            seen.push(state);
        }
        use VramState::*;
        assert_eq!(seen, [HighVram, NormalVram, LowVram, NoVram, NoVram]);
        assert_eq!(Shared.step_down(), LowVram);
        assert_eq!(Disabled.step_down(), Disabled);
    }

    #[test]
    fn serializes_with_comfyui_names() {
        let json = serde_json::to_string(&VramState::NormalVram).unwrap();
        assert_eq!(json, "\"NORMAL_VRAM\"");
        assert_eq!(VramState::NoVram.to_string(), "NO_VRAM");
        assert_eq!(CpuState::for_state(VramState::Disabled), CpuState::Cpu);
    }
}
