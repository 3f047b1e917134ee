//! Wasm-memory placement: where the layers that are not on the GPU wait, and host copies.
//!
//! ComfyUI keeps every weight that is not on the GPU in CPU RAM. A page cannot: wasm32 memory
//! stops at 4 GiB, so the host tier has a budget. Layers that do not fit stay in the persistent
//! cache and are streamed from there for each forward call.

use super::planner::Planner;
use super::spec::ModelId;
use super::tier::Tier;

/// Brings a layer that runs from wasm memory (a "cast weights" layer in ComfyUI's terms, or any
/// layer on the CPU path) into the host tier if it fits, evicting least-recently-used models'
/// host layers when needed. If it still does not fit it stays where it is (cache or network) and
/// is streamed from there for each forward call: storing into the cache is the fetch layer's
/// job, reported with `Manager::mark_cached`, never a plan the executor could not carry out.
pub(crate) fn stage_on_host(
    planner: &mut Planner<'_>,
    id: ModelId,
    layer: usize,
    keep: &[ModelId],
) {
    let Some((state, bytes)) = planner.layer(id, layer) else {
        return;
    };
    if state.tier <= Tier::Host {
        return;
    }
    if planner.host_room() < bytes {
        evict_host_for(planner, bytes, keep);
    }
    if planner.host_room() >= bytes {
        planner.move_layer(id, layer, Tier::Host, false);
    }
}

/// Moves a layer onto the GPU, keeping a wasm copy when the settings ask for one and it fits
/// (a layer already in wasm memory keeps its bytes there at no extra cost).
pub(crate) fn upload(planner: &mut Planner<'_>, id: ModelId, layer: usize) {
    let Some((state, bytes)) = planner.layer(id, layer) else {
        return;
    };
    let copy_fits = state.tier == Tier::Host || planner.host_room() >= bytes;
    let keep_copy = planner.settings.keep_host_copy && copy_fits;
    planner.move_layer(id, layer, Tier::Gpu, keep_copy);
}

/// Releases host-tier layers of models not in `keep`, least recently used model first, last
/// layers first, until `needed` bytes of wasm budget are free or nothing is left to release.
/// GPU layers' copies are not touched: dropping them would make the next eviction a re-read.
pub(crate) fn evict_host_for(planner: &mut Planner<'_>, needed: u64, keep: &[ModelId]) {
    let mut models: Vec<_> = (planner.books.models.iter())
        .filter(|(id, _)| !keep.contains(id))
        .map(|(id, entry)| (entry.last_used_ms, *id))
        .collect();
    models.sort();
    for (_, id) in models {
        let mut layers = planner.layers_where(id, |state| state.tier == Tier::Host);
        layers.reverse();
        for (layer, _) in layers {
            if planner.host_room() >= needed {
                return;
            }
            let backing = planner
                .layer(id, layer)
                .map_or(Tier::Remote, |(state, _)| state.backing());
            planner.move_layer(id, layer, backing, false);
        }
    }
}
