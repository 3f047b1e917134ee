//! Why a decision came out as it did: one entry per signal that moved a number.

use serde::{Deserialize, Serialize};

/// One step of a decision: which signal was read, what it said, and what it changed.
///
/// The list of reasons is what `systemStats` and the demo page show, so someone whose page picked
/// `LOW_VRAM` can see that it was because `maxBufferSize` was 1 GiB. Serialized in camelCase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// The signal or option read (`"adapter.vendor"`, `"limits.maxBufferSize"`, `"reserveVram"`).
    pub signal: String,
    /// What it said, as text (`"nvidia"`, `"1073741824 (1.00 GiB)"`).
    pub value: String,
    /// What that did to the decision (`"discrete GPU"`, `"budget = 2 × maxBufferSize"`).
    pub effect: String,
}

impl Reason {
    /// A reason from its three parts.
    pub fn new(
        signal: impl Into<String>,
        value: impl Into<String>,
        effect: impl Into<String>,
    ) -> Self {
        Self {
            signal: signal.into(),
            value: value.into(),
            effect: effect.into(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: {}", self.signal, self.value, self.effect)
    }
}

/// A byte count as a reason's value: exact, then readable.
pub(crate) fn bytes_value(bytes: u64) -> String {
    format!("{bytes} ({})", super::units::format_bytes(bytes))
}
