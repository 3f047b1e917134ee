//! The manager itself: the one owner of the books, and its planning entry points.

use super::books::Books;
use super::confirm::{self, ConfirmReport, MoveOutcome};
use super::error::ManagerError;
use super::free;
use super::host;
use super::idle;
use super::inference::{BATCH_MEMORY_BYTES, Workload};
use super::load;
use super::plan::{OomStep, Plan, PlanKind};
use super::planner::{Planner, Settings};
use super::request::LoadRequest;
use super::spec::{Model, ModelId, ModelSpec};
use super::tier::Tier;
use crate::policy::{Decision, Options, VramState, cap_to_held, step_down_after_oom};

/// The one owner of the books. Planning methods take `&self`; only confirmations, registration
/// and the out-of-memory step-down change state.
#[derive(Clone, Debug)]
pub struct Manager {
    pub(super) decision: Decision,
    pub(super) options: Options,
    pub(super) settings: Settings,
    pub(super) books: Books,
}

impl Manager {
    /// A manager for a decision (see [`policy::select`](crate::policy::select())) and options.
    pub fn new(decision: Decision, options: &Options) -> Self {
        let settings = Settings::resolve(options, &decision);
        Self {
            decision,
            options: options.clone(),
            settings,
            books: Books::default(),
        }
    }

    /// The decision in force (it changes after an out-of-memory event).
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Registers a model; all its layers start in the cache or at their URL.
    ///
    /// # Errors
    /// [`ManagerError::EmptyModel`], [`DuplicateLayer`](ManagerError::DuplicateLayer),
    /// [`MissingDtype`](ManagerError::MissingDtype) or [`SizeOverflow`](ManagerError::SizeOverflow)
    /// for a spec that does not describe a model.
    pub fn register(&mut self, spec: ModelSpec) -> Result<ModelId, ManagerError> {
        Ok(self.books.insert(Model::try_from(spec)?))
    }

    /// Forgets a model that holds no memory.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`], or [`ManagerError::ModelResident`] while it has GPU or
    /// wasm bytes: plan and confirm an unload first.
    pub fn unregister(&mut self, id: ModelId) -> Result<(), ManagerError> {
        let entry = self.books.entry(id)?;
        let (gpu_bytes, host_bytes) = (entry.bytes_in(Tier::Gpu), entry.host_bytes());
        if gpu_bytes > 0 || host_bytes > 0 {
            return Err(ManagerError::ModelResident {
                model: entry.model.name.clone(),
                gpu_bytes,
                host_bytes,
            });
        }
        self.books.models.remove(&id);
        self.books.loaded.retain(|loaded| *loaded != id);
        Ok(())
    }

    /// A model's inference memory for a workload.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn inference_memory(&self, id: ModelId, workload: Workload) -> Result<u64, ManagerError> {
        Ok(self.books.entry(id)?.model.inference.bytes(workload))
    }

    /// The most sequences of `sequence` tokens (at most `cap`, at least 1) that one forward of
    /// model `id` should take: its inference memory stays within [`BATCH_MEMORY_BYTES`] and,
    /// with a GPU budget, the model's largest layer plus that memory fits the usable budget (what
    /// [`load_models_gpu`](Self::load_models_gpu) requires). A sequence that does not fit even
    /// alone gets 1, so the load reports its own `DoesNotFit`.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn batch_limit(&self, id: ModelId, sequence: u64, cap: u64) -> Result<u64, ManagerError> {
        let model = &self.books.entry(id)?.model;
        let decision = self.decision();
        let allowed = match decision.state {
            VramState::Disabled => BATCH_MEMORY_BYTES,
            _ => (decision.usable_bytes())
                .saturating_sub(model.largest_layer)
                .min(BATCH_MEMORY_BYTES),
        };
        let fits = |batch: u64| model.inference.bytes(Workload { batch, sequence }) <= allowed;
        // Inference memory grows with the batch: binary search for the last batch that fits.
        let (mut lo, mut hi) = (1, cap.max(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) { lo = mid } else { hi = mid - 1 }
        }
        Ok(lo)
    }

    /// The longest context (tokens, at most `cap`) one sequence of model `id` can run with,
    /// its weights streamed if need be: inference memory (a decoder's KV cache grows with the
    /// context) must leave room for the largest layer within the usable budget. On the CPU path
    /// (`DISABLED`) no GPU budget applies and `cap` is returned. 0 when not even one token fits.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn context_limit(&self, id: ModelId, cap: u64) -> Result<u64, ManagerError> {
        let model = &self.books.entry(id)?.model;
        let decision = self.decision();
        if decision.state == VramState::Disabled {
            return Ok(cap);
        }
        let allowed = (decision.usable_bytes()).saturating_sub(model.largest_layer);
        let fits =
            |sequence: u64| model.inference.bytes(Workload { batch: 1, sequence }) <= allowed;
        let (mut lo, mut hi) = (0, cap);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) { lo = mid } else { hi = mid - 1 }
        }
        Ok(lo)
    }

    /// A load request for `models` whose `memory_required` is the largest of their inference
    /// estimates for `workload` (models in one run execute one after another).
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn request_for(
        &self,
        models: &[ModelId],
        workload: Workload,
    ) -> Result<LoadRequest, ManagerError> {
        let mut required = 0;
        for id in models {
            required = required.max(self.inference_memory(*id, workload)?);
        }
        Ok(LoadRequest::new(models).with_memory_required(required))
    }

    /// Plans ComfyUI's `load_models_gpu`; `now_ms` stamps the models' last use.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`]; [`ManagerError::DoesNotFit`] when a model cannot run
    /// within the budget (or a forced full load does not fit).
    pub fn load_models_gpu(
        &self,
        request: &LoadRequest,
        now_ms: u64,
    ) -> Result<Plan, ManagerError> {
        let mut planner = self.planner(PlanKind::Load, now_ms);
        load::plan_load(&mut planner, request)?;
        Ok(planner.finish())
    }

    /// Plans where a model's layers go as its weights stream in: into the host tier, in order,
    /// while the host budget allows (evicting least recently used models' host layers); the rest
    /// stay in the cache or at their URL and are read back per call. The executor carries it
    /// out as the layers arrive (`Executor::apply_streaming`).
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn loaded_into_host(&self, id: ModelId, now_ms: u64) -> Result<Plan, ManagerError> {
        let layers = self
            .books
            .models
            .get(&id)
            .ok_or(ManagerError::UnknownModel { model: id })?
            .layers
            .len();
        let mut planner = self.planner(PlanKind::Load, now_ms);
        for layer in 0..layers {
            host::stage_on_host(&mut planner, id, layer, &[id]);
        }
        Ok(planner.finish())
    }

    /// Plans ComfyUI's `free_memory(required, keep_loaded)`.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`] for an unknown id in `keep_loaded`.
    pub fn free_memory(
        &self,
        required: u64,
        keep_loaded: &[ModelId],
    ) -> Result<Plan, ManagerError> {
        keep_loaded
            .iter()
            .try_for_each(|id| self.books.entry(*id).map(drop))?;
        let mut planner = self.planner(PlanKind::Free, 0);
        free::free_memory(&mut planner, required, keep_loaded);
        Ok(planner.finish())
    }

    /// Plans ComfyUI's `unload_all_models`: GPU bytes are zero once it is confirmed.
    pub fn unload_all(&self) -> Plan {
        let mut planner = self.planner(PlanKind::UnloadAll, 0);
        idle::unload_all(&mut planner);
        planner.finish()
    }

    /// Plans releasing one model from memory altogether (before [`unregister`](Self::unregister)):
    /// its GPU and wasm-memory layers go to their backing tier.
    ///
    /// # Errors
    /// [`ManagerError::UnknownModel`].
    pub fn evict_model(&self, id: ModelId) -> Result<Plan, ManagerError> {
        self.books.entry(id)?;
        let mut planner = self.planner(PlanKind::UnloadAll, 0);
        planner.evict(id);
        Ok(planner.finish())
    }

    /// What to do when a run ends: with smart memory nothing, without it unload everything
    /// (`--disable-smart-memory`).
    pub fn after_run(&self) -> Plan {
        let mut planner = self.planner(PlanKind::AfterRun, 0);
        if !self.settings.smart_memory {
            idle::unload_all(&mut planner);
        }
        planner.finish()
    }

    /// Plans the idle unload at `now_ms` (empty when `idleUnloadMs` is not set).
    pub fn idle_unload(&self, now_ms: u64) -> Plan {
        let mut planner = self.planner(PlanKind::Idle, now_ms);
        if let Some(idle_ms) = self.settings.idle_unload_ms {
            idle::idle_unload(&mut planner, now_ms, idle_ms);
        }
        planner.finish()
    }

    /// When to call [`idle_unload`](Self::idle_unload) next, if any model could go idle.
    pub fn next_idle_deadline(&self) -> Option<u64> {
        idle::next_idle_deadline(&self.books, self.settings.idle_unload_ms?)
    }

    /// Reacts to an out-of-memory event: steps the decision down
    /// ([`step_down_after_oom`]) and plans unloading everything, as ComfyUI does before it
    /// retries. Confirm the plan, store the learned budget, then retry the load.
    ///
    /// The budget is also capped by what the device held when it refused more, less the largest
    /// layer ([`cap_to_held`]): plans count one streamed layer inside the budget, the executor
    /// prefetches a second. Without the cap a budget larger than the models would plan the same
    /// placement and fail the same way.
    pub fn on_oom(&mut self, now_ms: u64) -> OomStep {
        let (mut decision, mut learned) = step_down_after_oom(&self.decision, now_ms);
        let largest = (self.books.models.values())
            .flat_map(|entry| entry.model.layers.iter().map(|layer| layer.bytes))
            .max()
            .unwrap_or(0);
        cap_to_held(&mut decision, &mut learned, self.gpu_bytes(), largest);
        self.decision = decision;
        self.settings = Settings::resolve(&self.options, &self.decision);
        let mut planner = self.planner(PlanKind::OutOfMemory, now_ms);
        idle::unload_all(&mut planner);
        OomStep {
            plan: planner.finish(),
            learned,
        }
    }

    /// Applies what the executor reports for each move of `plan` (see [`MoveOutcome`]).
    ///
    /// # Errors
    /// [`ManagerError::OutcomeCount`] when there are more outcomes than moves.
    pub fn confirm(
        &mut self,
        plan: &Plan,
        outcomes: &[MoveOutcome],
    ) -> Result<ConfirmReport, ManagerError> {
        confirm::confirm(&mut self.books, plan, outcomes)
    }

    /// Confirms that every move of `plan` succeeded.
    pub fn confirm_all(&mut self, plan: &Plan) -> ConfirmReport {
        let outcomes = vec![MoveOutcome::Done; plan.moves.len()];
        confirm::confirm(&mut self.books, plan, &outcomes).unwrap_or_default()
    }

    fn planner(&self, kind: PlanKind, now_ms: u64) -> Planner<'_> {
        Planner::new(&self.books, &self.decision, self.settings, kind, now_ms)
    }
}
