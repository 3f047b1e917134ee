//! The runtime's life around its models: ComfyUI's `load_models_gpu` and `/free`, events for
//! listeners, the learned budget, forcing a device loss, and `destroy`.

use crate::Error;
use crate::manager::{LoadRequest, ModelId};
use crate::policy::LearnedBudget;
use crate::runtime::{Runtime, RuntimeEvent, layer_moves};

impl Runtime {
    /// ComfyUI's `load_models_gpu`: places the models' layers on the device ahead of a call, as
    /// much as the budget allows after keeping `memory_required` bytes free for inference.
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::Manager`] (`DoesNotFit`), [`Error::Exec`].
    pub async fn load_models_gpu(
        &mut self,
        ids: &[u32],
        memory_required: u64,
    ) -> Result<(), Error> {
        self.check_alive()?;
        let models = (ids.iter())
            .map(|&id| {
                let model = ModelId::new(id);
                match self.models.contains_key(&model) {
                    true => Ok(model),
                    false => Err(Error::UnknownModel(id)),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = LoadRequest::new(models).with_memory_required(memory_required);
        let now = self.now_ms();
        let plan = self.manager.load_models_gpu(&request, now)?;
        let applied = self.exec.apply(&mut self.manager, &plan).await;
        self.note_cache_misses();
        applied?;
        Ok(())
    }

    /// ComfyUI's `POST /free`: `unload_models` moves every model's layers off the device (they stay
    /// loaded in wasm memory, ready for the next call); `free_memory` gives the allocator's cached
    /// pages back.
    ///
    /// # Errors
    /// [`Error::Exec`] when the device fails while dropping buffers.
    pub async fn free(&mut self, unload_models: bool, free_memory: bool) -> Result<(), Error> {
        self.check_alive()?;
        if unload_models {
            let plan = self.manager.unload_all();
            self.exec.apply(&mut self.manager, &plan).await?;
        }
        if free_memory {
            self.device().memory_cleanup();
        }
        Ok(())
    }

    /// Everything that happened since the last call: a state change, out-of-memory events, lost
    /// devices, and one [`RuntimeEvent::LayerMove`] per layer whose tier differs from then.
    pub fn take_events(&mut self) -> Vec<RuntimeEvent> {
        let state = self.manager.decision().state;
        let map = self.manager.memory_map();
        let mut events = std::mem::take(&mut self.pending);
        if state != self.seen.0 {
            events.insert(
                0,
                RuntimeEvent::StateChange {
                    from: self.seen.0.name().to_owned(),
                    to: state.name().to_owned(),
                    budget_bytes: self.manager.decision().budget_bytes,
                },
            );
        }
        events.extend(layer_moves(&self.seen.1, &map));
        self.seen = (state, map);
        events
    }

    /// The budget learned from the latest out-of-memory event, once: store it (per adapter, as
    /// [`RuntimeOptions::learned`](crate::RuntimeOptions::learned) takes it back) so the next
    /// visit starts from it.
    pub fn take_learned(&mut self) -> Option<LearnedBudget> {
        self.learned.take()
    }

    /// Records what an `embed` call met, for listeners and the learned budget.
    pub(crate) fn note(&mut self, oom: Option<LearnedBudget>, device_lost: Option<bool>) {
        if let Some(learned) = oom {
            self.learned = Some(learned.clone());
            self.pending.push(RuntimeEvent::Oom { learned });
        }
        if let Some(replaced) = device_lost {
            self.pending.push(RuntimeEvent::DeviceLost { replaced });
        }
    }

    /// Destroys the GPU device as a driver reset or a lost context would; the next call notices,
    /// opens a new device and restores the weights. For testing recovery paths. No-op on the CPU.
    pub fn lose_device(&self) {
        if let Some(gpu) = self.exec.gpu() {
            gpu.wgpu_device().destroy();
            // Natively, let wgpu finish losing it before anything else touches the device (calls
            // in between raise validation errors on burn's server thread).
            #[cfg(not(target_arch = "wasm32"))]
            let _ = gpu.wgpu_device().poll(wgpu::PollType::wait_indefinitely());
        }
    }

    /// Unloads every model, gives the device's memory back and destroys the device. Every later
    /// call fails with `INVALID_STATE`.
    pub fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        for id in self.models.keys().copied().collect::<Vec<_>>() {
            let _ = self.forget(id);
        }
        self.device().memory_cleanup();
        self.lose_device();
        self.destroyed = true;
    }

    /// Whether [`destroy`](Self::destroy) ran.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    /// `Err` once destroyed.
    pub(crate) fn check_alive(&self) -> Result<(), Error> {
        match self.destroyed {
            true => Err(Error::Destroyed),
            false => Ok(()),
        }
    }
}
