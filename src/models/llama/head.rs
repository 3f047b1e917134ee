//! The output projection on the host: one hidden vector times the [vocab, hidden] table.
//!
//! Llama-family models tie it to the token embedding, which stays in wasm memory for the gather;
//! projecting the one position a step needs there (vocab × hidden multiply-adds, ~28 M for
//! SmolLM2) costs less than keeping a second copy of the largest tensor on the GPU.

use crate::exec::HostTensor;
use crate::models::host_linear::linear;

/// `table · hidden`: one logit per row of `table` ([vocab, hidden], checked by the caller).
pub fn project_on_host(table: &HostTensor, hidden: &[f32]) -> Vec<f32> {
    linear(table, hidden, hidden.len())
}
