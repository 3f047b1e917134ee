//! Out of memory: step the budget down through the manager, unload, and retry once.

use burn::tensor::Device;

use crate::exec::apply::ApplyReport;
use crate::exec::error::ExecError;
use crate::exec::executor::Executor;
use crate::exec::forward::{ForwardStats, NonResident};
use crate::exec::model::LayeredModel;
use crate::manager::{LoadRequest, Manager, ModelId};
use crate::policy::LearnedBudget;

/// What [`Executor::load_and_run`] did.
#[derive(Clone, Debug)]
pub struct Run<A> {
    /// The model's output, not yet read back (see [`Executor::read`]).
    pub output: A,
    /// The forward call's statistics.
    pub stats: ForwardStats,
    /// What the load plan did (the retry's, after an out-of-memory event).
    pub load: ApplyReport,
    /// The stepped-down budget when an out-of-memory event happened: store it under its
    /// fingerprint (`localStorage`) so the next visit starts there.
    pub oom: Option<LearnedBudget>,
}

impl Executor {
    /// ComfyUI's answer to running out of memory, plus webvram's correction of its guess: the
    /// manager steps the decision down (smaller budget, lower state) and plans unloading every
    /// model; the plan is applied (releases only, which cannot fail for lack of memory) and
    /// burn's pool gives its pages back. Load again afterwards; the new plan fits the smaller
    /// budget.
    ///
    /// # Errors
    /// [`ExecError::DeviceLost`] when the device is known to be lost; a release to wasm memory
    /// whose bytes cannot be had ([`ExecError::NotInMemory`], [`ExecError::Source`]).
    pub async fn recover_from_oom(
        &mut self,
        manager: &mut Manager,
        now_ms: u64,
    ) -> Result<LearnedBudget, ExecError> {
        let step = manager.on_oom(now_ms);
        self.apply(manager, &step.plan).await?;
        self.device().memory_cleanup();
        Ok(step.learned)
    }

    /// Loads `request` (ComfyUI's `load_models_gpu`), applies the plan and runs `model` on the
    /// input `input` builds on the device — and on [`ExecError::OutOfMemory`], from the load or
    /// from a streamed upload, [`recover_from_oom`](Self::recover_from_oom) and try once more.
    ///
    /// Only weight uploads run inside error scopes: an activation that does not fit surfaces
    /// as a lost device or a failed read, not as [`ExecError::OutOfMemory`].
    ///
    /// # Errors
    /// The second attempt's error, or the first one's when it was not out of memory; a
    /// [`ExecError::Manager`] `DoesNotFit` when the stepped-down budget cannot run the model.
    pub async fn load_and_run<M: LayeredModel>(
        &mut self,
        manager: &mut Manager,
        id: ModelId,
        model: &M,
        request: &LoadRequest,
        input: impl Fn(&Device) -> Result<M::Activation, ExecError>,
        now_ms: u64,
    ) -> Result<Run<M::Activation>, ExecError> {
        let split = NonResident::Upload;
        (self.load_and_run_split(manager, id, model, request, input, split, now_ms)).await
    }

    /// [`load_and_run`](Self::load_and_run) with the non-resident layers run where `split`
    /// says ([`forward_split`](Self::forward_split)).
    ///
    /// # Errors
    /// As [`load_and_run`](Self::load_and_run).
    #[allow(clippy::too_many_arguments)] // the same call as load_and_run, plus the split
    pub async fn load_and_run_split<M: LayeredModel>(
        &mut self,
        manager: &mut Manager,
        id: ModelId,
        model: &M,
        request: &LoadRequest,
        input: impl Fn(&Device) -> Result<M::Activation, ExecError>,
        split: NonResident,
        now_ms: u64,
    ) -> Result<Run<M::Activation>, ExecError> {
        let first = (self.attempt(manager, id, model, request, &input, split, now_ms)).await;
        match first {
            Err(ExecError::OutOfMemory { .. }) => {
                let learned = self.recover_from_oom(manager, now_ms).await?;
                let retry = self.attempt(manager, id, model, request, &input, split, now_ms);
                let mut run = retry.await?;
                run.oom = Some(learned);
                Ok(run)
            }
            other => other,
        }
    }

    /// One load-apply-forward attempt.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<M: LayeredModel>(
        &mut self,
        manager: &mut Manager,
        id: ModelId,
        model: &M,
        request: &LoadRequest,
        input: &impl Fn(&Device) -> Result<M::Activation, ExecError>,
        split: NonResident,
        now_ms: u64,
    ) -> Result<Run<M::Activation>, ExecError> {
        let plan = manager.load_models_gpu(request, now_ms)?;
        let load = self.apply(manager, &plan).await?;
        let input = input(self.device())?;
        // A layer read ahead waits outside wasm memory: the host budget's cap holds, and
        // it bounds that layer too.
        self.set_read_ahead_room(manager.decision().host_budget_bytes);
        let (output, stats) = self.forward_split(id, model, input, split).await?;
        Ok(Run {
            output,
            stats,
            load,
            oom: None,
        })
    }
}
