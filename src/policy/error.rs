//! The policy layer's errors.

use thiserror::Error;

/// What can go wrong in the policy layer. Selection itself cannot fail; parsing what the page or
/// `localStorage` hands back can.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The `vram` option was not one of the known spellings.
    #[error("unknown vram mode {given:?}: use one of auto, high, normal, low, none, cpu")]
    UnknownVramMode {
        /// What the page passed.
        given: String,
    },
    /// A stored learned budget could not be read back (for example a corrupted `localStorage`
    /// entry).
    #[error("learned budget is not valid JSON ({detail}); delete the stored entry and start fresh")]
    LearnedBudget {
        /// The JSON parser's message.
        detail: String,
    },
}
