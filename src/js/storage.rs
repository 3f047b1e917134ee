//! Budgets learned from out-of-memory events, kept in `localStorage` across visits (one entry per
//! adapter fingerprint). Where there is no `localStorage` (workers, storage blocked) nothing is
//! kept and nothing fails.

use wasm_bindgen::JsCast;

use crate::policy::LearnedBudget;

/// The `localStorage` key: a JSON array of learned budgets.
pub(crate) const LEARNED_KEY: &str = "webvram:learned-budgets";

/// Entries kept: one per adapter a visitor has used; more is stale.
const MAX_ENTRIES: usize = 8;

fn local_storage() -> Option<web_sys::Storage> {
    let window = js_sys::global().dyn_into::<web_sys::Window>().ok()?;
    window.local_storage().ok().flatten()
}

/// Every stored entry; a corrupted value reads as none (and is replaced on the next store).
pub(crate) fn learned_budgets() -> Vec<LearnedBudget> {
    let text = local_storage().and_then(|storage| storage.get_item(LEARNED_KEY).ok().flatten());
    text.and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Stores `learned`, replacing the entry for the same adapter.
pub(crate) fn remember(learned: &LearnedBudget) {
    let Some(storage) = local_storage() else {
        return;
    };
    let mut entries = learned_budgets();
    entries.retain(|entry| entry.fingerprint != learned.fingerprint);
    entries.insert(0, learned.clone());
    entries.truncate(MAX_ENTRIES);
    if let Ok(text) = serde_json::to_string(&entries) {
        let _ = storage.set_item(LEARNED_KEY, &text);
    }
}
