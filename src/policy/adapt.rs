//! Learning from out-of-memory events: shrink the budget, step the state down, remember it.

use serde::{Deserialize, Serialize};

use super::budget::min_inference;
use super::decision::Decision;
use super::error::PolicyError;
use super::reasons::{Reason, bytes_value};
use super::state::VramState;
use super::units::{MIB, format_bytes, scale};

/// After an out-of-memory event the budget becomes this percent of what it was. A quarter off
/// converges in a few events from a 2× overestimate, without halving a budget that was nearly
/// right.
pub const OOM_BUDGET_PERCENT: u64 = 75;

/// The step-down never takes the budget below this (unless it was already lower): a GPU that
/// cannot give a page 64 MiB is better served by `vram: 'cpu'`, which the user can choose.
pub const OOM_BUDGET_FLOOR: u64 = 64 * MIB;

/// What webvram learned about one adapter, stored by the browser layer (`localStorage`, keyed by
/// [`fingerprint`](Self::fingerprint)) so the next visit starts at the stepped-down budget.
///
/// Serialized in camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LearnedBudget {
    /// The adapter fingerprint this applies to.
    pub fingerprint: String,
    /// The budget that survived the last out-of-memory event.
    pub budget_bytes: u64,
    /// The state after the last step-down.
    pub state: VramState,
    /// How many out-of-memory events led here.
    pub oom_count: u32,
    /// Caller-provided time of the last event, in milliseconds.
    pub updated_ms: u64,
}

impl LearnedBudget {
    /// Whether this entry was learned on the adapter with this fingerprint.
    pub fn applies_to(&self, fingerprint: &str) -> bool {
        self.fingerprint == fingerprint
    }

    /// The JSON form to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored entry back.
    ///
    /// # Errors
    /// [`PolicyError::LearnedBudget`] when the text is not a learned budget (a corrupted or
    /// foreign `localStorage` entry); the caller should delete it and start fresh.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(|err| PolicyError::LearnedBudget {
            detail: err.to_string(),
        })
    }
}

/// The decision after an out-of-memory event, and the learned budget to store.
///
/// The budget drops to [`OOM_BUDGET_PERCENT`] of itself (not below [`OOM_BUDGET_FLOOR`]), the
/// state steps down ([`VramState::step_down`]), the inference floor follows the new budget, and
/// a reason records the change. ComfyUI keeps its state and only unloads and retries; a browser
/// budget is a guess, so the guess is corrected. This applies to explicit `vram` modes too: an
/// out-of-memory event is stronger evidence than an option.
pub fn step_down_after_oom(decision: &Decision, now_ms: u64) -> (Decision, LearnedBudget) {
    let old_budget = decision.budget_bytes;
    let shrunk = scale(old_budget, OOM_BUDGET_PERCENT, 100);
    let budget = shrunk.max(OOM_BUDGET_FLOOR.min(old_budget));
    let state = decision.state.step_down();
    let oom_count = decision.oom_count.saturating_add(1);
    let mut next = decision.clone();
    next.state = state;
    next.budget_bytes = budget;
    next.min_inference_bytes = min_inference(budget);
    next.oom_count = oom_count;
    next.reasons.push(Reason::new(
        "out-of-memory",
        format!("event {oom_count} at {now_ms} ms"),
        format!(
            "budget {} → {}, state {} → {}",
            format_bytes(old_budget),
            format_bytes(budget),
            decision.state,
            state
        ),
    ));
    let learned = LearnedBudget {
        fingerprint: decision.fingerprint.clone(),
        budget_bytes: budget,
        state,
        oom_count,
        updated_ms: now_ms,
    };
    (next, learned)
}

/// Lowers the budget after an out-of-memory event to what the device proved it could hold:
/// `held_bytes` were on it when it refused more, and a retry streams layers beyond what its plan
/// counts (`streaming_bytes`: the executor's prefetched layer), so the new budget is at most
/// `held_bytes − streaming_bytes`. This may go below [`OOM_BUDGET_FLOOR`]: the
/// floor keeps repeated guesses from collapsing, evidence is not a guess. Nothing held, no
/// evidence: the budget stays as [`step_down_after_oom`] left it.
pub fn cap_to_held(
    decision: &mut Decision,
    learned: &mut LearnedBudget,
    held_bytes: u64,
    streaming_bytes: u64,
) {
    let proven = held_bytes.saturating_sub(streaming_bytes);
    if held_bytes == 0 || proven >= decision.budget_bytes {
        return;
    }
    decision.reasons.push(Reason::new(
        "out-of-memory",
        format!(
            "{} held when the device refused more",
            format_bytes(held_bytes)
        ),
        format!(
            "budget {} → {} (room left to stream {})",
            format_bytes(decision.budget_bytes),
            format_bytes(proven),
            format_bytes(streaming_bytes)
        ),
    ));
    decision.budget_bytes = proven;
    decision.min_inference_bytes = min_inference(proven);
    learned.budget_bytes = proven;
}

/// Lowers a fresh budget to a learned one for the same adapter. Returns the budget to use.
pub(crate) fn learned_budget(
    budget: u64,
    learned: &LearnedBudget,
    reasons: &mut Vec<Reason>,
) -> u64 {
    if learned.budget_bytes < budget {
        let effect = format!(
            "budget lowered from {} after {} OOM event(s)",
            format_bytes(budget),
            learned.oom_count
        );
        reasons.push(Reason::new(
            "learnedBudget",
            bytes_value(learned.budget_bytes),
            effect,
        ));
        learned.budget_bytes
    } else {
        budget
    }
}

/// Lowers a freshly chosen `auto` state to a learned one for the same adapter.
pub(crate) fn learned_state(
    state: VramState,
    learned: &LearnedBudget,
    reasons: &mut Vec<Reason>,
) -> VramState {
    if learned.state.rank() < state.rank() && state != VramState::Disabled {
        let effect = format!("state lowered from {state}");
        reasons.push(Reason::new(
            "learnedBudget.state",
            learned.state.name(),
            effect,
        ));
        learned.state
    } else {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::units::GIB;

    #[test]
    fn shrinks_by_a_quarter_and_steps_down() {
        let decision = Decision::fixed(VramState::HighVram, 4 * GIB, 0);
        let (next, learned) = step_down_after_oom(&decision, 1_000);
        assert_eq!(next.budget_bytes, 3 * GIB);
        assert_eq!(next.state, VramState::NormalVram);
        assert_eq!(next.min_inference_bytes, 3 * GIB / 8);
        assert_eq!(learned.budget_bytes, 3 * GIB);
        assert_eq!(learned.oom_count, 1);
        assert_eq!(learned.updated_ms, 1_000);
    }

    #[test]
    fn never_goes_below_the_floor_nor_above_a_tiny_budget() {
        let small = Decision::fixed(VramState::NoVram, 70 * MIB, 0);
        assert_eq!(
            step_down_after_oom(&small, 0).0.budget_bytes,
            OOM_BUDGET_FLOOR
        );
        let tiny = Decision::fixed(VramState::NoVram, 10 * MIB, 0);
        assert_eq!(step_down_after_oom(&tiny, 0).0.budget_bytes, 10 * MIB);
    }

    #[test]
    fn the_held_bytes_cap_the_budget_below_the_floor_but_never_raise_it() {
        let decision = Decision::fixed(VramState::NormalVram, 200 * MIB, 0);
        let (mut next, mut learned) = step_down_after_oom(&decision, 0);
        assert_eq!(next.budget_bytes, 150 * MIB);
        cap_to_held(&mut next, &mut learned, 28 * MIB, 14 * MIB);
        assert_eq!(
            (next.budget_bytes, learned.budget_bytes),
            (14 * MIB, 14 * MIB)
        );
        assert_eq!(next.min_inference_bytes, min_inference(14 * MIB));
        assert!(
            next.reasons.last().unwrap().effect.contains("→ 14"),
            "{:?}",
            next.reasons
        );

        let (mut roomy, mut learned) = step_down_after_oom(&decision, 0);
        cap_to_held(&mut roomy, &mut learned, 190 * MIB, 14 * MIB);
        assert_eq!(
            roomy.budget_bytes,
            150 * MIB,
            "a cap above the budget changes nothing"
        );
        cap_to_held(&mut roomy, &mut learned, 0, 14 * MIB);
        assert_eq!(roomy.budget_bytes, 150 * MIB, "nothing held is no evidence");
        cap_to_held(&mut roomy, &mut learned, 10 * MIB, 14 * MIB);
        assert_eq!(
            roomy.budget_bytes, 0,
            "less than two streamed layers: nothing resident"
        );
    }

    #[test]
    fn json_round_trips_and_garbage_is_a_typed_error() {
        let learned = step_down_after_oom(&Decision::fixed(VramState::LowVram, GIB, 0), 5).1;
        assert_eq!(
            LearnedBudget::from_json(&learned.to_json()).unwrap(),
            learned
        );
        assert!(learned.to_json().contains("\"budgetBytes\""));
        let err = LearnedBudget::from_json("{not json").unwrap_err();
        assert!(matches!(err, PolicyError::LearnedBudget { .. }));
    }
}
