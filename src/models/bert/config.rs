//! `config.json`: the BERT encoder's hyper-parameters, as Hugging Face transformers writes them.

use serde::Deserialize;

use crate::models::error::ModelError;
use crate::models::json::{invalid, parse, positive, unsupported};

/// The file this config is read from, as errors name it.
pub const CONFIG_FILE: &str = "config.json";

/// The BERT encoder's shape and numerics, validated: every size is at least 1, the heads divide the
/// hidden size, and the activation is one we implement, so building the model cannot fail later.
///
/// Fields transformers gives defaults to (`hidden_act`, `layer_norm_eps`, `max_position_embeddings`,
/// `type_vocab_size`) take the same defaults here; the sizes that shape the weights are required.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    layer_norm_eps: f64,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    vocab_size: usize,
}

/// `config.json` as written, every field optional so a missing one gets a typed error.
#[derive(Deserialize)]
struct Raw {
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    vocab_size: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
    type_vocab_size: Option<usize>,
    model_type: Option<String>,
    position_embedding_type: Option<String>,
}

impl BertConfig {
    /// Parses and validates the bytes of `config.json`.
    ///
    /// # Errors
    /// [`ModelError::InvalidJson`], [`ModelError::MissingField`] for a missing size,
    /// [`ModelError::InvalidValue`] for a zero size or heads that do not divide `hidden_size`, and
    /// [`ModelError::Unsupported`] for a `hidden_act` other than `gelu` (erf GELU), a `model_type`
    /// other than `bert`, or relative position embeddings. Each names `config.json` and the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let raw: Raw = parse(CONFIG_FILE, bytes)?;
        check_kind(&raw)?;
        let f = CONFIG_FILE;
        let config = Self {
            hidden_size: positive(f, "hidden_size", raw.hidden_size)?,
            num_hidden_layers: positive(f, "num_hidden_layers", raw.num_hidden_layers)?,
            num_attention_heads: positive(f, "num_attention_heads", raw.num_attention_heads)?,
            intermediate_size: positive(f, "intermediate_size", raw.intermediate_size)?,
            vocab_size: positive(f, "vocab_size", raw.vocab_size)?,
            layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-12),
            max_position_embeddings: positive(
                f,
                "max_position_embeddings",
                raw.max_position_embeddings.or(Some(512)),
            )?,
            type_vocab_size: positive(f, "type_vocab_size", raw.type_vocab_size.or(Some(2)))?,
        };
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            let reason = format!("hidden_size {} is not a multiple of it", config.hidden_size);
            return Err(invalid(
                f,
                "num_attention_heads",
                config.num_attention_heads,
                &reason,
            ));
        }
        if !(config.layer_norm_eps.is_finite() && config.layer_norm_eps >= 0.0) {
            return Err(invalid(
                f,
                "layer_norm_eps",
                config.layer_norm_eps,
                "must be a finite number ≥ 0",
            ));
        }
        Ok(config)
    }

    /// Width of the hidden states (384 for MiniLM-L6).
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Number of encoder layers.
    pub fn num_hidden_layers(&self) -> usize {
        self.num_hidden_layers
    }

    /// Number of attention heads; divides [`hidden_size`](Self::hidden_size).
    pub fn num_attention_heads(&self) -> usize {
        self.num_attention_heads
    }

    /// Width of each head: `hidden_size / num_attention_heads`.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Width of the feed-forward block.
    pub fn intermediate_size(&self) -> usize {
        self.intermediate_size
    }

    /// The LayerNorm epsilon.
    pub fn layer_norm_eps(&self) -> f64 {
        self.layer_norm_eps
    }

    /// The longest sequence the position embeddings cover.
    pub fn max_position_embeddings(&self) -> usize {
        self.max_position_embeddings
    }

    /// Number of token types (segments).
    pub fn type_vocab_size(&self) -> usize {
        self.type_vocab_size
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
}

/// Refuses configs for architectures or numerics this implementation would get silently wrong.
fn check_kind(raw: &Raw) -> Result<(), ModelError> {
    let f = CONFIG_FILE;
    // transformers' "gelu" is the exact erf GELU; "gelu_new" and friends are the tanh approximation.
    match raw.hidden_act.as_deref() {
        None | Some("gelu") => {}
        Some(other) => return Err(unsupported(f, "hidden_act", other, "\"gelu\" (erf)")),
    }
    match raw.model_type.as_deref() {
        None | Some("bert") => {}
        Some(other) => return Err(unsupported(f, "model_type", other, "\"bert\"")),
    }
    match raw.position_embedding_type.as_deref() {
        None | Some("absolute") => Ok(()),
        Some(other) => Err(unsupported(
            f,
            "position_embedding_type",
            other,
            "\"absolute\"",
        )),
    }
}
