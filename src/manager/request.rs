//! The arguments of a load, as ComfyUI's `load_models_gpu` takes them.

use super::spec::ModelId;

/// The arguments of ComfyUI's `load_models_gpu`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadRequest {
    /// The models to load (duplicates are ignored).
    pub models: Vec<ModelId>,
    /// Inference memory the run needs, in bytes (see `Manager::request_for`).
    pub memory_required: u64,
    /// The least inference memory the run can work with (ComfyUI's `minimum_memory_required`);
    /// `None` means `memory_required`.
    pub minimum_memory_required: Option<u64>,
    /// Load whole models or fail, for models that cannot run partially. Ignored in `NO_VRAM`,
    /// as in ComfyUI.
    pub force_full_load: bool,
}

impl LoadRequest {
    /// A request for `models` with no inference memory beyond the floors.
    pub fn new(models: impl Into<Vec<ModelId>>) -> Self {
        Self {
            models: models.into(),
            ..Self::default()
        }
    }

    /// Sets `memory_required`.
    pub fn with_memory_required(mut self, bytes: u64) -> Self {
        self.memory_required = bytes;
        self
    }

    /// Sets `minimum_memory_required`.
    pub fn with_minimum_memory_required(mut self, bytes: u64) -> Self {
        self.minimum_memory_required = Some(bytes);
        self
    }

    /// Sets `force_full_load`.
    pub fn with_force_full_load(mut self, force: bool) -> Self {
        self.force_full_load = force;
        self
    }
}
