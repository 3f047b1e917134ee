//! Applying what actually happened: the books follow the executor's report, not the plan.

use serde::{Deserialize, Serialize};

use super::books::Books;
use super::error::ManagerError;
use super::plan::Plan;

/// What happened to one planned move. Serialized in camelCase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MoveOutcome {
    /// The layer is now where the move said.
    Done,
    /// The move was tried and failed (out of memory, network error); the layer is where it was.
    Failed,
    /// The executor stopped before this move.
    NotAttempted,
}

/// What a confirmation changed. Serialized in camelCase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmReport {
    /// Moves applied to the books.
    pub applied: usize,
    /// Moves reported failed.
    pub failed: usize,
    /// Moves not attempted (including those with no outcome reported).
    pub not_attempted: usize,
    /// Indices of moves reported done whose layer was no longer where the move started (the
    /// plan was stale); the books keep the layer where they had it.
    pub stale: Vec<usize>,
    /// GPU bytes after the confirmation.
    pub gpu_bytes: u64,
    /// Wasm-memory bytes after the confirmation.
    pub host_bytes: u64,
}

/// Applies each move reported done, in order, then the plan's loaded-list changes.
///
/// Outcomes are matched to moves by position; missing trailing outcomes mean "not attempted".
/// A model on the plan's `unloaded` list leaves the loaded list only if it really has no GPU
/// bytes left; models on `loaded` go to the front even if some of their moves failed, because
/// they were used.
///
/// # Errors
/// [`ManagerError::OutcomeCount`] when there are more outcomes than moves; nothing is applied.
pub(crate) fn confirm(
    books: &mut Books,
    plan: &Plan,
    outcomes: &[MoveOutcome],
) -> Result<ConfirmReport, ManagerError> {
    if outcomes.len() > plan.moves.len() {
        return Err(ManagerError::OutcomeCount {
            given: outcomes.len(),
            moves: plan.moves.len(),
        });
    }
    let mut report = ConfirmReport::default();
    for (index, mv) in plan.moves.iter().enumerate() {
        match outcomes
            .get(index)
            .copied()
            .unwrap_or(MoveOutcome::NotAttempted)
        {
            MoveOutcome::Done if books.apply(mv) => report.applied += 1,
            MoveOutcome::Done => report.stale.push(index),
            MoveOutcome::Failed => report.failed += 1,
            MoveOutcome::NotAttempted => report.not_attempted += 1,
        }
    }
    for id in &plan.unloaded {
        books.mark_unloaded(*id);
    }
    for id in &plan.loaded {
        books.mark_loaded(*id, plan.now_ms);
    }
    report.gpu_bytes = books.gpu_bytes();
    report.host_bytes = books.host_bytes();
    Ok(report)
}
