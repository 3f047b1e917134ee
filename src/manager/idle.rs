//! Unloading everything: on request, after a run without smart memory, and when models sit idle.

use super::books::Books;
use super::planner::Planner;
use super::spec::ModelId;
use super::tier::Tier;

/// ComfyUI's `unload_all_models`: every model's GPU layers go to their wasm copy or backing
/// store; layers already in wasm memory stay. Models with GPU bytes that are somehow not on the
/// loaded list are unloaded too, so the GPU ends empty whatever the list says.
pub(crate) fn unload_all(planner: &mut Planner<'_>) {
    let mut ids = planner.books.loaded.clone();
    let stray = planner
        .books
        .models
        .keys()
        .filter(|id| planner.books.model_gpu_bytes(**id) > 0);
    let stray: Vec<ModelId> = stray.copied().filter(|id| !ids.contains(id)).collect();
    ids.extend(stray);
    for id in ids {
        planner.unload(id);
    }
}

/// The idle timer ComfyUI users ask for (#3192): every model unused for at least `idle_ms`
/// gives back its GPU and its wasm memory, falling back to the cache or the network.
///
/// Wasm memory is released too, unlike ComfyUI's unloads, because a tab left idle should
/// return memory to the OS before the browser discards it; the next run re-reads from the
/// cache. Held models are unloaded too: holding a handle is not using it.
pub(crate) fn idle_unload(planner: &mut Planner<'_>, now_ms: u64, idle_ms: u64) {
    for id in idle_models(&planner.books, now_ms, idle_ms) {
        planner.evict(id);
    }
}

/// When the idle timer should next fire: the earliest time a resident model becomes idle.
pub(crate) fn next_idle_deadline(books: &Books, idle_ms: u64) -> Option<u64> {
    (books.models.iter())
        .filter(|(id, _)| is_resident(books, **id))
        .map(|(_, entry)| entry.last_used_ms.saturating_add(idle_ms))
        .min()
}

/// Models with memory in use and no use in the last `idle_ms`.
fn idle_models(books: &Books, now_ms: u64, idle_ms: u64) -> Vec<ModelId> {
    (books.models.iter())
        .filter(|(id, entry)| {
            is_resident(books, **id) && entry.last_used_ms.saturating_add(idle_ms) <= now_ms
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Whether the model holds GPU or wasm memory, or sits on the loaded list.
fn is_resident(books: &Books, id: ModelId) -> bool {
    books.loaded.contains(&id)
        || books
            .models
            .get(&id)
            .is_some_and(|entry| entry.layers.iter().any(|s| s.tier <= Tier::Host))
}
