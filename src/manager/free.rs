//! ComfyUI's `free_memory`: which loaded models give back GPU memory, in which order, and how much.

use std::cmp::Reverse;

use super::planner::Planner;
use super::spec::ModelId;
use super::tier::Tier;
use super::weights::pick_smallest_first;

/// Frees GPU budget until more than `required` bytes are free, ComfyUI's way.
///
/// Candidates are the loaded models not in `keep_loaded`, ordered by: most offloaded bytes
/// first, then fewest holders (ComfyUI's reference count: models nobody holds), then smallest,
/// then most recently used. With smart memory the loop stops as soon as free > required, and a
/// model that only needs to give back part of its bytes is partially unloaded (smallest layers
/// first); without it every candidate is unloaded whole and there is no early stop.
pub(crate) fn free_memory(planner: &mut Planner<'_>, required: u64, keep_loaded: &[ModelId]) {
    for id in candidates(planner, keep_loaded) {
        let to_free = if planner.settings.smart_memory {
            let free = planner.free();
            if free > required {
                break;
            }
            Some(required - free)
        } else {
            None
        };
        model_unload(planner, id, to_free);
    }
}

/// ComfyUI's `model_unload(memory_to_free)`: a partial unload when that frees enough, else a
/// full one.
pub(crate) fn model_unload(planner: &mut Planner<'_>, id: ModelId, to_free: Option<u64>) {
    if let Some(to_free) = to_free {
        let loaded = planner.books.model_gpu_bytes(id);
        if to_free < loaded && partially_unload(planner, id, to_free) >= to_free {
            return;
        }
    }
    planner.unload(id);
}

/// ComfyUI's `partially_unload`: drops the model's smallest GPU layers until more than
/// `to_free` bytes are freed. Returns the bytes freed; the model stays loaded.
pub(crate) fn partially_unload(planner: &mut Planner<'_>, id: ModelId, to_free: u64) -> u64 {
    let on_gpu = planner.layers_where(id, |state| state.tier == Tier::Gpu);
    let (picked, freed) = pick_smallest_first(&on_gpu, to_free);
    for layer in picked {
        planner.release_gpu(id, layer);
    }
    freed
}

/// The loaded models that may be unloaded, in ComfyUI's order.
fn candidates(planner: &Planner<'_>, keep_loaded: &[ModelId]) -> Vec<ModelId> {
    let mut keyed: Vec<_> = (planner.books.loaded.iter().enumerate())
        .filter(|(_, id)| !keep_loaded.contains(id))
        .filter_map(|(recency, id)| {
            let entry = planner.entry(*id)?;
            Some((
                (
                    Reverse(entry.offloaded_bytes()),
                    entry.holders,
                    entry.model.size,
                    recency,
                ),
                *id,
            ))
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, id)| id).collect()
}
