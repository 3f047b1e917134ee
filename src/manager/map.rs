//! The memory map: every layer of every model, with its bytes and tier, for `memoryMap()`.

use serde::{Deserialize, Serialize};

use super::books::Books;
use super::spec::ModelId;
use super::tier::Tier;

/// One layer's line in the memory map. Serialized in camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerEntry {
    /// The model.
    pub model: ModelId,
    /// The layer's index in order of use.
    pub layer: usize,
    /// The layer's name.
    pub name: String,
    /// Its bytes in the stored dtype.
    pub bytes: u64,
    /// Its fastest tier.
    pub tier: Tier,
    /// A GPU layer with a wasm-memory copy.
    pub host_copy: bool,
    /// A copy is in the persistent cache.
    pub cached: bool,
}

/// One model's totals in the memory map. Serialized in camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// The model.
    pub model: ModelId,
    /// Its name.
    pub name: String,
    /// Sum of its layers' bytes.
    pub size_bytes: u64,
    /// Bytes per tier, in [`Tier`] order (GPU, host, cache, remote); they sum to `size_bytes`.
    pub tier_bytes: [u64; 4],
    /// Bytes of GPU layers that also keep a wasm copy.
    pub host_copy_bytes: u64,
    /// Bytes kept in wasm memory outside the layers (a table gathered on the host); counted in
    /// `MemoryMap::host_bytes`, not in `size_bytes`.
    pub pinned_host_bytes: u64,
    /// On the loaded list.
    pub loaded: bool,
    /// Handles held by the runtime.
    pub holders: u32,
    /// Last load or use, caller's milliseconds.
    pub last_used_ms: u64,
}

/// Every layer and every model, with totals. Serialized in camelCase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryMap {
    /// One line per model, by id.
    pub models: Vec<ModelSummary>,
    /// One line per layer, by model id then order of use.
    pub layers: Vec<LayerEntry>,
    /// GPU bytes of all weights.
    pub gpu_bytes: u64,
    /// Wasm-memory bytes of all weights, copies and pinned tables included.
    pub host_bytes: u64,
}

/// Builds the map from the books.
pub(crate) fn memory_map(books: &Books) -> MemoryMap {
    let mut models = Vec::new();
    let mut layers = Vec::new();
    for (id, entry) in &books.models {
        let mut tier_bytes = [0_u64; 4];
        let mut host_copy_bytes = 0;
        for (index, (state, layer)) in entry.layers.iter().zip(&entry.model.layers).enumerate() {
            tier_bytes[state.tier as usize] += layer.bytes;
            if state.host_copy {
                host_copy_bytes += layer.bytes;
            }
            layers.push(LayerEntry {
                model: *id,
                layer: index,
                name: layer.name.clone(),
                bytes: layer.bytes,
                tier: state.tier,
                host_copy: state.host_copy,
                cached: state.cached,
            });
        }
        models.push(ModelSummary {
            model: *id,
            name: entry.model.name.clone(),
            size_bytes: entry.model.size,
            tier_bytes,
            host_copy_bytes,
            pinned_host_bytes: entry.pinned_host_bytes,
            loaded: books.loaded.contains(id),
            holders: entry.holders,
            last_used_ms: entry.last_used_ms,
        });
    }
    MemoryMap {
        models,
        layers,
        gpu_bytes: books.gpu_bytes(),
        host_bytes: books.host_bytes(),
    }
}
