//! The manager's books: every registered model, where each of its layers is, and the loaded list.

use std::collections::BTreeMap;

use super::error::ManagerError;
use super::plan::LayerMove;
use super::spec::{Model, ModelId};
use super::tier::{LayerState, Tier};

/// One registered model and the state of each of its layers.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub model: Model,
    pub layers: Vec<LayerState>,
    /// How many handles the runtime holds (ComfyUI's reference count): held models are unloaded
    /// after unheld ones.
    pub holders: u32,
    /// Caller-provided time of the last load or use, in milliseconds.
    pub last_used_ms: u64,
    /// Bytes the model keeps in wasm memory outside its layers (a lookup table gathered on the
    /// host): counted in the host tier and its budget, never moved.
    pub pinned_host_bytes: u64,
}

impl Entry {
    /// Bytes of this model's layers whose tier is `tier` (copies not included).
    pub fn bytes_in(&self, tier: Tier) -> u64 {
        self.layer_bytes()
            .filter(|(state, _)| state.tier == tier)
            .map(|(_, bytes)| bytes)
            .sum()
    }

    /// Bytes of this model held in wasm memory, as tier or as copy, pinned bytes included.
    pub fn host_bytes(&self) -> u64 {
        let layers: u64 = (self.layer_bytes())
            .filter(|(state, _)| state.in_host())
            .map(|(_, bytes)| bytes)
            .sum();
        layers + self.pinned_host_bytes
    }

    /// ComfyUI's `model_offloaded_memory()`: bytes not on the GPU.
    pub fn offloaded_bytes(&self) -> u64 {
        self.model.size - self.bytes_in(Tier::Gpu)
    }

    fn layer_bytes(&self) -> impl Iterator<Item = (&LayerState, u64)> {
        self.layers
            .iter()
            .zip(&self.model.layers)
            .map(|(state, layer)| (state, layer.bytes))
    }
}

/// All models, and the loaded list (ComfyUI's `current_loaded_models`, most recent first).
#[derive(Clone, Debug, Default)]
pub(crate) struct Books {
    pub models: BTreeMap<ModelId, Entry>,
    pub loaded: Vec<ModelId>,
    next_id: u32,
}

impl Books {
    /// Adds a validated model with every layer in storage; returns its new id.
    pub fn insert(&mut self, model: Model) -> ModelId {
        let id = ModelId::new(self.next_id);
        self.next_id += 1;
        let layers = vec![LayerState::stored(model.cached); model.layers.len()];
        self.models.insert(
            id,
            Entry {
                model,
                layers,
                holders: 0,
                last_used_ms: 0,
                pinned_host_bytes: 0,
            },
        );
        id
    }

    /// The entry for `id`.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] when `id` is not registered.
    pub fn entry(&self, id: ModelId) -> Result<&Entry, ManagerError> {
        self.models
            .get(&id)
            .ok_or(ManagerError::UnknownModel { model: id })
    }

    /// The entry for `id`, mutable.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] when `id` is not registered.
    pub fn entry_mut(&mut self, id: ModelId) -> Result<&mut Entry, ManagerError> {
        self.models
            .get_mut(&id)
            .ok_or(ManagerError::UnknownModel { model: id })
    }

    /// GPU bytes of all models.
    pub fn gpu_bytes(&self) -> u64 {
        self.models
            .values()
            .map(|entry| entry.bytes_in(Tier::Gpu))
            .sum()
    }

    /// Wasm-memory bytes of all models, copies included.
    pub fn host_bytes(&self) -> u64 {
        self.models.values().map(Entry::host_bytes).sum()
    }

    /// GPU bytes of one model (0 if unknown).
    pub fn model_gpu_bytes(&self, id: ModelId) -> u64 {
        self.models
            .get(&id)
            .map_or(0, |entry| entry.bytes_in(Tier::Gpu))
    }

    /// Applies one move if the layer is where the move says it starts. Returns whether it applied.
    ///
    /// The same function updates the planner's shadow books and the real books on confirmation,
    /// so a plan's expected result and the confirmed result cannot disagree.
    pub fn apply(&mut self, mv: &LayerMove) -> bool {
        let Some(state) = self
            .models
            .get_mut(&mv.model)
            .and_then(|e| e.layers.get_mut(mv.layer))
        else {
            return false;
        };
        if state.tier != mv.from {
            return false;
        }
        state.tier = mv.to;
        state.host_copy = mv.to == Tier::Gpu && mv.keep_host_copy;
        if mv.to == Tier::Cache {
            state.cached = true;
        }
        true
    }

    /// Puts `id` at the front of the loaded list and stamps its use time.
    pub fn mark_loaded(&mut self, id: ModelId, now_ms: u64) {
        self.loaded.retain(|loaded| *loaded != id);
        if let Some(entry) = self.models.get_mut(&id) {
            entry.last_used_ms = entry.last_used_ms.max(now_ms);
            self.loaded.insert(0, id);
        }
    }

    /// Takes `id` off the loaded list unless it still has GPU bytes (books follow what happened).
    pub fn mark_unloaded(&mut self, id: ModelId) {
        if self.model_gpu_bytes(id) == 0 {
            self.loaded.retain(|loaded| *loaded != id);
        }
    }
}
