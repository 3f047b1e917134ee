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
        self.set_cached(id, layer, true)
    }

    /// Records that a layer's copy in the persistent cache is gone (the user cleared it, the
    /// browser evicted it): releasing it now means reading it from the network, and a layer
    /// booked `cache` is booked `remote`.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] or [`ManagerError::UnknownLayer`].
    pub fn mark_uncached(&mut self, id: ModelId, layer: usize) -> Result<(), ManagerError> {
        self.set_cached(id, layer, false)
    }

    /// Whether the cache has the layer; a layer in neither memory tier follows (cache ⇄ remote).
    fn set_cached(&mut self, id: ModelId, layer: usize, cached: bool) -> Result<(), ManagerError> {
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
        state.cached = cached;
        if state.tier >= Tier::Cache {
            state.tier = state.backing();
        }
        Ok(())
    }

    /// Records `bytes` the model keeps in wasm memory outside its layers (a table gathered on
    /// the host, such as a text model's token embeddings): they count in the host tier and its
    /// budget for as long as the model is registered.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn set_pinned_host_bytes(&mut self, id: ModelId, bytes: u64) -> Result<(), ManagerError> {
        self.books.entry_mut(id)?.pinned_host_bytes = bytes;
        Ok(())
    }

    /// Bytes of wasm memory the host budget still has room for (pinned bytes and host layers,
    /// copies included, taken off).
    pub fn host_room(&self) -> u64 {
        let budget = self.decision().host_budget_bytes;
        budget.saturating_sub(self.books.host_bytes())
    }

    /// The index (order of use) of layer `name` of model `id`, if both exist.
    pub fn layer_index(&self, id: ModelId, name: &str) -> Option<usize> {
        let entry = self.books.entry(id).ok()?;
        entry
            .model
            .layers
            .iter()
            .position(|layer| layer.name == name)
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
