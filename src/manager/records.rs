//! The manager's bookkeeping calls that need no plan: uses, holders, the cache flag, and reads.

use super::error::ManagerError;
use super::map::{self, MemoryMap};
use super::owner::Manager;
use super::spec::ModelId;
use super::tier::{LayerState, Tier};

impl Manager {
    /// Records a use of the model at `now_ms` (resets its idle timer).
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn touch(&mut self, id: ModelId, now_ms: u64) -> Result<(), ManagerError> {
        let entry = self.books.entry_mut(id)?;
        entry.last_used_ms = entry.last_used_ms.max(now_ms);
        Ok(())
    }

    /// Records that the runtime holds a handle to the model (held models unload last).
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn hold(&mut self, id: ModelId) -> Result<(), ManagerError> {
        let entry = self.books.entry_mut(id)?;
        entry.holders = entry.holders.saturating_add(1);
        Ok(())
    }

    /// Records that the runtime dropped a handle.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn release(&mut self, id: ModelId) -> Result<(), ManagerError> {
        let entry = self.books.entry_mut(id)?;
        entry.holders = entry.holders.saturating_sub(1);
        Ok(())
    }

    /// Records that the fetch layer stored a layer in the persistent cache, so releasing it no
    /// longer means downloading it again.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] or [`ManagerError::UnknownLayer`].
    pub fn mark_cached(&mut self, id: ModelId, layer: usize) -> Result<(), ManagerError> {
        let entry = self.books.entry_mut(id)?;
        let (model, layers) = (entry.model.name.clone(), entry.layers.len());
        let state = entry
            .layers
            .get_mut(layer)
            .ok_or(ManagerError::UnknownLayer {
                model,
                layer,
                layers,
            })?;
        state.cached = true;
        if state.tier == Tier::Remote {
            state.tier = Tier::Cache;
        }
        Ok(())
    }

    /// Where one layer is.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] or [`ManagerError::UnknownLayer`].
    pub fn layer_state(&self, id: ModelId, layer: usize) -> Result<LayerState, ManagerError> {
        let entry = self.books.entry(id)?;
        let (model, layers) = (entry.model.name.clone(), entry.layers.len());
        entry
            .layers
            .get(layer)
            .copied()
            .ok_or(ManagerError::UnknownLayer {
                model,
                layer,
                layers,
            })
    }

    /// Every layer with its bytes and tier, and per-model totals.
    pub fn memory_map(&self) -> MemoryMap {
        map::memory_map(&self.books)
    }

    /// The loaded list, most recently used first (ComfyUI's `current_loaded_models`).
    pub fn loaded_models(&self) -> &[ModelId] {
        &self.books.loaded
    }

    /// GPU bytes of all weights.
    pub fn gpu_bytes(&self) -> u64 {
        self.books.gpu_bytes()
    }

    /// Wasm-memory bytes of all weights, copies included.
    pub fn host_bytes(&self) -> u64 {
        self.books.host_bytes()
    }

    /// The budget less the GPU bytes of weights (`vram_free` for `systemStats`).
    pub fn free_bytes(&self) -> u64 {
        self.decision
            .budget_bytes
            .saturating_sub(self.books.gpu_bytes())
    }
}
