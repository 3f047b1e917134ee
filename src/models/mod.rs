//! Model architectures, written against the executor's [`LayeredModel`](crate::exec::LayeredModel)
//! contract so every model runs the same way whatever the VRAM state.
//!
//! - [`bert`]: the BERT encoder with the sentence-transformers head (all-MiniLM-L6-v2).
//! - [`llama`]: Llama-family decoders (Llama, Qwen2, SmolLM2) for text generation.
//!
//! Every file a model reads (its `config.json`, `tokenizer.json`, …) is parsed from bytes, because
//! in the browser the runtime fetches them; errors name the file and field at fault ([`ModelError`]).
#![warn(missing_docs)]

pub mod bert;
mod error;
mod host_activation;
mod host_linear;
mod json;
pub mod llama;
mod ops;
mod resident;

pub use error::ModelError;
pub(crate) use json::parse as parse_json;
pub use resident::run_resident;

/// The product of `factors`, saturating: a size estimate from absurd dimensions is `u64::MAX`
/// (never fits) instead of wrapping to a small number.
pub(crate) fn saturating_product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |acc, &f| acc.saturating_mul(f))
}
