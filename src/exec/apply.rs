//! Executing a plan: each move made real on the device or in wasm memory, then confirmed.

use std::collections::BTreeMap;

use crate::exec::arrivals::Arrivals;
use crate::exec::error::ExecError;
use crate::exec::executor::Executor;
use crate::exec::slot::{Slot, host_bytes_of};
use crate::exec::upload::upload;
use crate::manager::{ConfirmReport, LayerMove, Manager, ModelId, MoveOutcome, Plan, Tier};

/// One plan being executed: each move's outcome, where moved layers are now, the first failure.
struct PlanRun<'p> {
    plan: &'p Plan,
    report: ApplyReport,
    outcomes: Vec<Option<MoveOutcome>>,
    moved: BTreeMap<(ModelId, usize), Tier>,
    failure: Option<ExecError>,
}

impl<'p> PlanRun<'p> {
    fn new(plan: &'p Plan) -> Self {
        Self {
            plan,
            report: ApplyReport::default(),
            outcomes: vec![None; plan.moves.len()],
            moved: BTreeMap::new(),
            failure: None,
        }
    }
}

/// What [`Executor::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// What the manager's books took from it.
    pub confirm: ConfirmReport,
    /// Bytes uploaded to the device.
    pub uploaded_bytes: u64,
    /// Bytes of device copies dropped.
    pub released_bytes: u64,
    /// Bytes brought back through the [`LayerSource`](crate::exec::LayerSource).
    pub fetched_bytes: u64,
    /// burn's pool gave its free pages back afterwards (`memory_cleanup`).
    pub cleaned_up: bool,
}

impl Executor {
    /// Executes `plan`'s moves in order and confirms each outcome with `manager`.
    ///
    /// - to [`Tier::Gpu`]: the layer is uploaded from its wasm copy (or fetched through the
    ///   source); its wasm copy is kept only if the move says `keep_host_copy` — unless there is
    ///   no source, in which case nothing the executor was given is ever dropped.
    /// - from [`Tier::Gpu`]: the device copy is dropped (webvram never reads weights back).
    /// - to [`Tier::Host`]: the wasm copy must exist or come from the source.
    /// - to [`Tier::Cache`] / [`Tier::Remote`]: memory is dropped (with a source).
    /// - between Cache and Remote: refused ([`ExecError::UnsupportedMove`]); storing into the
    ///   persistent cache is the fetch layer's job.
    ///
    /// A move whose layer is not where the move starts (a stale plan) is skipped and reported
    /// not attempted. The first failing move stops the plan; what was done so far is confirmed,
    /// so the books always match the device. When device memory was released (or the plan
    /// asks), burn's pool gives its free pages back, as ComfyUI empties its cache.
    ///
    /// # Errors
    /// The first move's failure — [`ExecError::OutOfMemory`] (see
    /// [`recover_from_oom`](Self::recover_from_oom)), [`ExecError::NotInMemory`],
    /// [`ExecError::UnsupportedMove`], [`ExecError::UnknownModel`], [`ExecError::Source`],
    /// [`ExecError::TensorTooLarge`] — after confirming the moves before it; or
    /// [`ExecError::DeviceLost`] before any move when the device is known to be lost.
    pub async fn apply(
        &mut self,
        manager: &mut Manager,
        plan: &Plan,
    ) -> Result<ApplyReport, ExecError> {
        self.watch.check()?;
        let mut run = PlanRun::new(plan);
        for index in 0..plan.moves.len() {
            if !self.attempt_move(manager, &mut run, index).await {
                break;
            }
        }
        self.finish(manager, run)
    }

    /// [`apply`](Self::apply) for a plan that loads `model` while its bytes still stream in:
    /// the moves of other models come first (making room), then each of `model`'s layers is
    /// placed as soon as it arrives — uploaded while the next layers download — and whatever
    /// is left runs at the end, in plan order. Arrived layers the plan places become the slots'
    /// wasm copies; the others are dropped when a [`LayerSource`](crate::exec::LayerSource) can
    /// bring them back (kept otherwise). After a failure the remaining arrivals are still taken
    /// in, so no bytes are lost.
    ///
    /// # Errors
    /// As [`apply`](Self::apply), except that a lost device fails only a plan that touches the
    /// GPU (a load placed in wasm memory does not need the device);
    /// [`ExecError::LayerMismatch`] for a layer the model does not have.
    pub async fn apply_streaming(
        &mut self,
        manager: &mut Manager,
        plan: &Plan,
        model: ModelId,
        arrivals: &mut Arrivals,
    ) -> Result<ApplyReport, ExecError> {
        check_device(self, plan)?;
        let mut run = PlanRun::new(plan);
        let ours = |mv: &LayerMove| mv.model == model;
        for index in 0..plan.moves.len() {
            if !ours(&plan.moves[index]) && !self.attempt_move(manager, &mut run, index).await {
                break;
            }
        }
        let mut mismatch = None;
        while let Some(host) = arrivals.next().await {
            let slots = (self.models.get_mut(&model)).ok_or(ExecError::UnknownModel { model })?;
            let Some(layer) = slots.iter().position(|slot| slot.name == host.name) else {
                mismatch.get_or_insert(host.name);
                continue;
            };
            // A layer the plan places neither on the device nor in wasm memory is dropped as
            // it arrives (its source brings it back when a forward needs it): that is what
            // keeps a load's wasm memory at the host tier's share plus one layer.
            if plan.keeps_in_memory(model, layer) || self.source.is_none() {
                slots[layer].host = Some(host);
            }
            for index in 0..plan.moves.len() {
                let mv = &plan.moves[index];
                if ours(mv) && mv.layer == layer {
                    self.attempt_move(manager, &mut run, index).await;
                }
            }
        }
        for index in 0..plan.moves.len() {
            if run.outcomes[index].is_none() && !self.attempt_move(manager, &mut run, index).await {
                break;
            }
        }
        let report = self.finish(manager, run);
        match mismatch {
            Some(stray) => Err(ExecError::LayerMismatch {
                model,
                inserted: vec![stray],
                runs: (self.models.get(&model).into_iter().flatten())
                    .map(|slot| slot.name.clone())
                    .collect(),
            }),
            None => report,
        }
    }

    /// Tries move `index` unless the run already failed; false once it has.
    async fn attempt_move(
        &mut self,
        manager: &Manager,
        run: &mut PlanRun<'_>,
        index: usize,
    ) -> bool {
        if run.failure.is_some() {
            return false;
        }
        let mv = &run.plan.moves[index];
        let at = match run.moved.get(&(mv.model, mv.layer)) {
            Some(tier) => Ok(*tier),
            None => manager.layer_state(mv.model, mv.layer).map(|s| s.tier),
        };
        let result = match at {
            Ok(tier) if tier != mv.from => {
                run.outcomes[index] = Some(MoveOutcome::NotAttempted);
                return true;
            }
            Ok(_) => self.apply_move(mv, &mut run.report).await,
            Err(err) => Err(err.into()),
        };
        match result {
            Ok(()) => {
                run.moved.insert((mv.model, mv.layer), mv.to);
                run.outcomes[index] = Some(MoveOutcome::Done);
                true
            }
            Err(err) => {
                run.outcomes[index] = Some(MoveOutcome::Failed);
                run.failure = Some(err);
                false
            }
        }
    }

    /// Trims the pool if memory was released and confirms what was done.
    fn finish(
        &mut self,
        manager: &mut Manager,
        run: PlanRun<'_>,
    ) -> Result<ApplyReport, ExecError> {
        let PlanRun {
            plan,
            mut report,
            outcomes,
            failure,
            ..
        } = run;
        if report.released_bytes > 0 || plan.empty_cache {
            self.device().memory_cleanup();
            report.cleaned_up = true;
        }
        // Moves never reached count as not attempted.
        let outcomes: Vec<MoveOutcome> = (outcomes.into_iter())
            .map(|o| o.unwrap_or(MoveOutcome::NotAttempted))
            .collect();
        report.confirm = manager.confirm(plan, &outcomes)?;
        match failure {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Performs one move on the slot it names.
    async fn apply_move(
        &mut self,
        mv: &LayerMove,
        report: &mut ApplyReport,
    ) -> Result<(), ExecError> {
        let Self {
            compute,
            models,
            source,
            simulated_capacity,
            ..
        } = self;
        let source = source.as_deref();
        let slot = slot_mut(models, mv)?;
        match (mv.from, mv.to) {
            (_, Tier::Gpu) if slot.gpu.is_some() => {}
            // The wasm copy stays when the plan keeps it, or when there is no source (nothing the
            // executor was given is dropped: it could not come back); otherwise it is dropped once
            // uploaded. A refused upload leaves the slot as it was.
            (_, Tier::Gpu) => {
                let copy = host_bytes_of(slot, mv.model, source).await?;
                let weights = upload(compute, copy.layer(), *simulated_capacity).await?;
                let fetched = copy.into_fetched();
                report.uploaded_bytes += weights.bytes();
                report.fetched_bytes += fetched.as_ref().map_or(0, |f| f.bytes());
                slot.gpu = Some(weights);
                let keep = mv.keep_host_copy || source.is_none();
                slot.host = if keep {
                    slot.host.take().or(fetched)
                } else {
                    None
                };
            }
            (Tier::Cache, Tier::Remote) | (Tier::Remote, Tier::Cache) => {
                return Err(ExecError::UnsupportedMove {
                    layer: mv.name.clone(),
                    from: mv.from,
                    to: mv.to,
                });
            }
            (_, Tier::Host) => {
                let copy = host_bytes_of(slot, mv.model, source).await?;
                let fetched = copy.into_fetched();
                report.fetched_bytes += fetched.as_ref().map_or(0, |f| f.bytes());
                slot.host = slot.host.take().or(fetched);
                report.released_bytes += slot.gpu.take().map_or(0, |w| w.bytes());
            }
            (_, Tier::Cache | Tier::Remote) => {
                report.released_bytes += slot.gpu.take().map_or(0, |w| w.bytes());
                if source.is_some() {
                    slot.host = None;
                }
            }
        }
        Ok(())
    }
}

/// A plan that moves layers to or from the GPU needs a live device; one that only moves them
/// between wasm memory and storage (a load's placement) does not, so a lost device does not fail
/// a load: the next call that needs the device replaces it.
fn check_device(exec: &Executor, plan: &Plan) -> Result<(), ExecError> {
    let touches_gpu = |mv: &LayerMove| mv.to == Tier::Gpu || mv.from == Tier::Gpu;
    match plan.moves.iter().any(touches_gpu) {
        true => exec.watch.check(),
        false => Ok(()),
    }
}

/// The slot a move names.
fn slot_mut<'m>(
    models: &'m mut BTreeMap<ModelId, Vec<Slot>>,
    mv: &LayerMove,
) -> Result<&'m mut Slot, ExecError> {
    let slots = models
        .get_mut(&mv.model)
        .ok_or(ExecError::UnknownModel { model: mv.model })?;
    let count = slots.len();
    slots
        .get_mut(mv.layer)
        .ok_or_else(|| ExecError::LayerMismatch {
            model: mv.model,
            inserted: vec![format!("{count} layers")],
            runs: vec![mv.name.clone()],
        })
}
