//! The planner: a shadow copy of the books that every planned move is applied to, so each step
//! of a plan sees the state the previous steps leave.

use super::books::{Books, Entry};
use super::plan::{LayerMove, Plan, PlanKind, WeightBudget};
use super::spec::ModelId;
use super::tier::{LayerState, Tier};
use crate::policy::{Decision, Options};

/// The behaviour switches the planner reads, resolved from [`Options`] and the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub smart_memory: bool,
    pub keep_host_copy: bool,
    pub idle_unload_ms: Option<u64>,
}

impl Settings {
    /// Resolves the options against the decision: host copies default to off on unified memory.
    pub fn resolve(options: &Options, decision: &Decision) -> Self {
        Self {
            smart_memory: options.smart_memory,
            keep_host_copy: options.keep_host_copy.unwrap_or(!decision.unified_memory),
            idle_unload_ms: options.idle_unload_ms,
        }
    }
}

/// Shadow books plus the plan being built.
pub(crate) struct Planner<'a> {
    pub books: Books,
    pub decision: &'a Decision,
    pub settings: Settings,
    plan: Plan,
    /// Wasm bytes that uploads in this plan free (a layer leaving wasm memory for the GPU). They
    /// are not counted as room: an upload can fail, and a later move that relied on its room
    /// would overfill wasm memory. Only releases, which cannot fail, make room within a plan.
    host_freed_by_uploads: u64,
}

impl<'a> Planner<'a> {
    /// Starts a plan from a copy of the books.
    pub fn new(
        books: &Books,
        decision: &'a Decision,
        settings: Settings,
        kind: PlanKind,
        now_ms: u64,
    ) -> Self {
        Self {
            books: books.clone(),
            decision,
            settings,
            plan: Plan::empty(kind, now_ms),
            host_freed_by_uploads: 0,
        }
    }

    /// Free GPU budget: the budget less the GPU bytes of all weights (ComfyUI's
    /// `get_free_memory`, where the budget stands for the card's total memory).
    pub fn free(&self) -> u64 {
        self.decision
            .budget_bytes
            .saturating_sub(self.books.gpu_bytes())
    }

    /// Free wasm-memory budget for weights, not counting what this plan's uploads free.
    pub fn host_room(&self) -> u64 {
        let used = self
            .books
            .host_bytes()
            .saturating_add(self.host_freed_by_uploads);
        self.decision.host_budget_bytes.saturating_sub(used)
    }

    /// The entry for a model known to be registered (ids are checked before planning).
    pub fn entry(&self, id: ModelId) -> Option<&Entry> {
        self.books.models.get(&id)
    }

    /// A layer's state and bytes.
    pub fn layer(&self, id: ModelId, layer: usize) -> Option<(LayerState, u64)> {
        let entry = self.entry(id)?;
        Some((
            *entry.layers.get(layer)?,
            entry.model.layers.get(layer)?.bytes,
        ))
    }

    /// `(index, bytes)` of a model's layers whose tier satisfies `keep`.
    pub fn layers_where(
        &self,
        id: ModelId,
        keep: impl Fn(&LayerState) -> bool,
    ) -> Vec<(usize, u64)> {
        let Some(entry) = self.entry(id) else {
            return Vec::new();
        };
        let states = entry.layers.iter().zip(&entry.model.layers).enumerate();
        states
            .filter(|(_, (state, _))| keep(state))
            .map(|(i, (_, layer))| (i, layer.bytes))
            .collect()
    }

    /// Plans one move and applies it to the shadow books. A move to where the layer already is
    /// is skipped.
    pub fn move_layer(&mut self, id: ModelId, layer: usize, to: Tier, keep_host_copy: bool) {
        let Some(entry) = self.entry(id) else { return };
        let (Some(state), Some(spec)) = (entry.layers.get(layer), entry.model.layers.get(layer))
        else {
            return;
        };
        if state.tier == to {
            return;
        }
        let mv = LayerMove {
            model: id,
            layer,
            name: spec.name.clone(),
            from: state.tier,
            to,
            bytes: spec.bytes,
            keep_host_copy: to == Tier::Gpu && keep_host_copy,
        };
        if self.books.apply(&mv) {
            if mv.from == Tier::Host && mv.to == Tier::Gpu && !mv.keep_host_copy {
                self.host_freed_by_uploads += mv.bytes;
            }
            self.plan.moves.push(mv);
        }
    }

    /// Drops a layer's GPU buffer: it falls back to its wasm copy or its backing store.
    pub fn release_gpu(&mut self, id: ModelId, layer: usize) {
        if let Some((state, _)) = self.layer(id, layer).filter(|(s, _)| s.tier == Tier::Gpu) {
            self.move_layer(id, layer, state.gpu_home(), false);
        }
    }

    /// ComfyUI's full `model_unload`: every GPU layer leaves, the model leaves the loaded list.
    /// Layers already in wasm memory stay there, as ComfyUI keeps offloaded weights in RAM.
    pub fn unload(&mut self, id: ModelId) {
        for (layer, _) in self.layers_where(id, |s| s.tier == Tier::Gpu) {
            self.release_gpu(id, layer);
        }
        self.books.mark_unloaded(id);
        if !self.plan.unloaded.contains(&id) {
            self.plan.unloaded.push(id);
        }
        self.plan.empty_cache = true;
    }

    /// Releases a model from memory altogether: GPU and wasm layers go to their backing store.
    pub fn evict(&mut self, id: ModelId) {
        for (layer, _) in self.layers_where(id, |s| s.tier <= Tier::Host) {
            let backing = self
                .layer(id, layer)
                .map_or(Tier::Remote, |(state, _)| state.backing());
            self.move_layer(id, layer, backing, false);
        }
        self.unload(id);
    }

    /// Records that `id` was loaded: it goes to the front of the loaded list on confirmation.
    pub fn mark_loaded(&mut self, id: ModelId) {
        self.books.mark_loaded(id, self.plan.now_ms);
        self.plan.unloaded.retain(|unloaded| *unloaded != id);
        self.plan.loaded.retain(|loaded| *loaded != id);
        self.plan.loaded.push(id);
    }

    /// Records the weight budget a model got.
    pub fn note_budget(&mut self, budget: WeightBudget) {
        self.plan.weight_budgets.push(budget);
    }

    /// The finished plan, with the expected totals.
    pub fn finish(mut self) -> Plan {
        self.plan.gpu_bytes_after = self.books.gpu_bytes();
        self.plan.host_bytes_after = self.books.host_bytes();
        self.plan
    }
}
