//! Plans: the moves the GPU layer is asked to make, in order.

use serde::{Deserialize, Serialize};

use super::spec::ModelId;
use super::tier::Tier;
use crate::policy::LearnedBudget;

/// What produced a plan, for logs and the demo. Serialized in camelCase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlanKind {
    /// `load_models_gpu`.
    Load,
    /// `free_memory`.
    Free,
    /// `unload_all`.
    UnloadAll,
    /// The idle timer.
    Idle,
    /// The step-down after an out-of-memory event (ComfyUI: unload everything, then retry).
    OutOfMemory,
    /// The end of a run without smart memory.
    AfterRun,
}

/// One layer moving from one tier to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerMove {
    /// The model.
    pub model: ModelId,
    /// The layer's index in order of use.
    pub layer: usize,
    /// The layer's name, so the executor can find its tensors.
    pub name: String,
    /// Where the layer is before the move.
    pub from: Tier,
    /// Where it is after.
    pub to: Tier,
    /// The layer's bytes in its stored dtype.
    pub bytes: u64,
    /// For moves to the GPU: keep (or make) a wasm-memory copy, so a later eviction needs no
    /// re-read. Never set on unified memory unless the options ask for it.
    pub keep_host_copy: bool,
}

impl LayerMove {
    /// Whether the move releases memory (to a slower tier). Releases only drop buffers.
    pub fn is_release(&self) -> bool {
        self.from.is_release_to(self.to)
    }
}

/// The weight budget one model got in a load, with the inputs of ComfyUI's formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightBudget {
    /// The model.
    pub model: ModelId,
    /// Its GPU bytes before the load.
    pub loaded_bytes: u64,
    /// ComfyUI's `current_free_mem`: free budget plus the model's own GPU bytes.
    pub current_free_bytes: u64,
    /// The GPU bytes the model may hold after the load (ComfyUI's `lowvram_model_memory` plus
    /// what it already had), after the reserve cap.
    pub budget_bytes: u64,
    /// Whether the whole model is loaded.
    pub full_load: bool,
}

/// The outcome of planning: moves to execute in order, and list changes to apply on
/// confirmation.
///
/// A plan changes nothing by itself. The executor performs the moves in order and reports each
/// outcome to [`Manager::confirm`](super::Manager::confirm); the books then follow what
/// happened, not the plan. After a failed move it may stop or go on. Releases (moves to a slower
/// tier) only drop buffers and must not be skipped while later moves run: those may use the room
/// a release makes. Acquisitions never rely on room another acquisition frees, so any of them
/// may fail without pushing GPU or wasm memory past its budget. Serialized in camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// What produced it.
    pub kind: PlanKind,
    /// The moves, in the order to perform them.
    pub moves: Vec<LayerMove>,
    /// Models that go to the front of the loaded list, most recent last.
    pub loaded: Vec<ModelId>,
    /// Models that leave the loaded list (if no GPU bytes remain after confirmation).
    pub unloaded: Vec<ModelId>,
    /// The weight budget of each model loaded.
    pub weight_budgets: Vec<WeightBudget>,
    /// Release the allocator's pooled pages afterwards (ComfyUI's `soft_empty_cache`): set when a
    /// model was unloaded.
    pub empty_cache: bool,
    /// The caller's time stamped on loaded models.
    pub now_ms: u64,
    /// GPU bytes after the plan if every move succeeds.
    pub gpu_bytes_after: u64,
    /// Wasm-memory bytes after the plan if every move succeeds.
    pub host_bytes_after: u64,
}

impl Plan {
    /// A plan with no moves yet.
    pub fn empty(kind: PlanKind, now_ms: u64) -> Self {
        Self {
            kind,
            moves: Vec::new(),
            loaded: Vec::new(),
            unloaded: Vec::new(),
            weight_budgets: Vec::new(),
            empty_cache: false,
            now_ms,
            gpu_bytes_after: 0,
            host_bytes_after: 0,
        }
    }

    /// Whether the plan moves nothing and changes no list.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.loaded.is_empty() && self.unloaded.is_empty()
    }

    /// Bytes the plan moves into `tier`.
    pub fn bytes_into(&self, tier: Tier) -> u64 {
        self.moves
            .iter()
            .filter(|mv| mv.to == tier)
            .map(|mv| mv.bytes)
            .sum()
    }

    /// The moves of one model.
    pub fn moves_of(&self, model: ModelId) -> impl Iterator<Item = &LayerMove> {
        self.moves.iter().filter(move |mv| mv.model == model)
    }

    /// Whether a move puts layer `layer` of `model` in memory (on the GPU or in wasm memory):
    /// what a load keeps of the bytes streaming in.
    pub fn keeps_in_memory(&self, model: ModelId, layer: usize) -> bool {
        (self.moves_of(model)).any(|mv| mv.layer == layer && mv.to <= Tier::Host)
    }
}

/// What an out-of-memory event produced: the unload plan and the budget to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomStep {
    /// Unload everything (ComfyUI's response before it retries); confirm it, then retry the load.
    pub plan: Plan,
    /// The stepped-down budget, for the browser layer to store under its fingerprint.
    pub learned: LearnedBudget,
}
