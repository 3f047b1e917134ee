//! `config.json` of a Llama-family decoder (`LlamaForCausalLM`, `Qwen2ForCausalLM`), as Hugging
//! Face transformers writes it.

use serde::Deserialize;

use crate::models::error::ModelError;
use crate::models::json::{invalid, parse, positive, unsupported};

/// The file this config is read from, as errors name it.
pub const CONFIG_FILE: &str = "config.json";

/// The `model_type`s this decoder implements: the same block, Qwen2 with q/k/v biases.
pub const DECODER_TYPES: &[&str] = &["llama", "qwen2"];

/// How positions are rotated: HF's default RoPE, or Llama 3's frequency-dependent scaling.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// `inv_freq = 1 / theta^(2i / head_dim)`.
    Default,
    /// Llama 3.1+: long wavelengths divided by `factor`, short ones kept, a smooth blend between
    /// (transformers' `_compute_llama3_parameters`).
    Llama3 {
        /// How much the low frequencies are slowed.
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are scaled fully.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context the model was pre-trained on.
        original_max_position_embeddings: f64,
    },
}

/// The decoder's shape and numerics, validated: sizes at least 1, KV heads dividing the heads,
/// an even head size, SiLU activation; building and running the model cannot fail on config.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// `hidden_size`.
    pub hidden: usize,
    /// `intermediate_size` (the SwiGLU width).
    pub intermediate: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `num_attention_heads`.
    pub heads: usize,
    /// `num_key_value_heads` (grouped-query attention; = heads without it).
    pub kv_heads: usize,
    /// `head_dim` (= hidden / heads without it).
    pub head_dim: usize,
    /// `vocab_size`.
    pub vocab: usize,
    /// `rms_norm_eps`.
    pub rms_eps: f64,
    /// `rope_theta`.
    pub rope_theta: f64,
    /// `rope_scaling`.
    pub rope_scaling: RopeScaling,
    /// `max_position_embeddings`: the longest context.
    pub max_positions: usize,
    /// `tie_word_embeddings`: the output projection is the embedding table.
    pub tied: bool,
    /// q/k/v projections have biases (`attention_bias`, always for Qwen2).
    pub qkv_bias: bool,
    /// `bos_token_id`, if any.
    pub bos: Option<u32>,
    /// `eos_token_id`: one id or several.
    pub eos: Vec<u32>,
}

/// A token id field that is one id or a list (`eos_token_id`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

impl OneOrMany {
    /// The ids as a list.
    pub(crate) fn into_vec(self) -> Vec<u32> {
        match self {
            Self::One(id) => vec![id],
            Self::Many(ids) => ids,
        }
    }
}

#[derive(Deserialize)]
struct RawScaling {
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<f64>,
}

#[derive(Deserialize)]
struct Raw {
    model_type: Option<String>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawScaling>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
}

impl LlamaConfig {
    /// Parses and validates the bytes of `config.json`.
    ///
    /// # Errors
    /// [`ModelError::InvalidJson`], [`ModelError::MissingField`] for a missing size,
    /// [`ModelError::InvalidValue`] for sizes that cannot be right, [`ModelError::Unsupported`]
    /// for another `model_type`, `hidden_act`, MLP biases or RoPE scaling type. Each names
    /// `config.json` and the field.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let raw: Raw = parse(CONFIG_FILE, bytes)?;
        let f = CONFIG_FILE;
        let kind = raw.model_type.as_deref().unwrap_or("");
        if !DECODER_TYPES.contains(&kind) {
            return Err(unsupported(
                f,
                "model_type",
                kind,
                &DECODER_TYPES.join(", "),
            ));
        }
        if let Some(act) = raw.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(unsupported(f, "hidden_act", act, "silu"));
        }
        if raw.mlp_bias == Some(true) {
            return Err(unsupported(f, "mlp_bias", true, "false"));
        }
        let hidden = positive(f, "hidden_size", raw.hidden_size)?;
        let heads = positive(f, "num_attention_heads", raw.num_attention_heads)?;
        let kv_heads = positive(
            f,
            "num_key_value_heads",
            raw.num_key_value_heads.or(Some(heads)),
        )?;
        if !heads.is_multiple_of(kv_heads) {
            let reason = format!("num_attention_heads {heads} is not a multiple of it");
            return Err(invalid(f, "num_key_value_heads", kv_heads, &reason));
        }
        let head_dim = match raw.head_dim {
            Some(d) => d,
            None if hidden.is_multiple_of(heads) => hidden / heads,
            None => {
                let reason = format!("hidden_size {hidden} is not a multiple of it");
                return Err(invalid(f, "num_attention_heads", heads, &reason));
            }
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(invalid(
                f,
                "head_dim",
                head_dim,
                "RoPE needs an even head size",
            ));
        }
        let rope_theta = raw.rope_theta.unwrap_or(10_000.0);
        if !(rope_theta.is_finite() && rope_theta > 1.0) {
            return Err(invalid(
                f,
                "rope_theta",
                rope_theta,
                "must be a finite number above 1",
            ));
        }
        let rms_eps = raw.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_eps.is_finite() && rms_eps > 0.0) {
            return Err(invalid(
                f,
                "rms_norm_eps",
                rms_eps,
                "must be a positive number",
            ));
        }
        let eos = raw
            .eos_token_id
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
        Ok(Self {
            hidden,
            intermediate: positive(f, "intermediate_size", raw.intermediate_size)?,
            layers: positive(f, "num_hidden_layers", raw.num_hidden_layers)?,
            heads,
            kv_heads,
            head_dim,
            vocab: positive(f, "vocab_size", raw.vocab_size)?,
            rms_eps,
            rope_theta,
            rope_scaling: scaling(raw.rope_scaling)?,
            max_positions: positive(
                f,
                "max_position_embeddings",
                raw.max_position_embeddings.or(Some(2048)),
            )?,
            tied: raw.tie_word_embeddings.unwrap_or(false),
            qkv_bias: raw.attention_bias.unwrap_or(kind == "qwen2"),
            bos: raw.bos_token_id,
            eos,
        })
    }

    /// Query heads per KV head.
    pub fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// `rope_scaling`: absent, `default`, or `llama3` with its four numbers.
fn scaling(raw: Option<RawScaling>) -> Result<RopeScaling, ModelError> {
    let Some(raw) = raw else {
        return Ok(RopeScaling::Default);
    };
    let f = CONFIG_FILE;
    let kind = raw
        .rope_type
        .or(raw.kind)
        .unwrap_or_else(|| "default".into());
    match kind.as_str() {
        "default" => Ok(RopeScaling::Default),
        "llama3" => {
            let field = |name: &str, value: Option<f64>| match value {
                Some(v) if v.is_finite() && v > 0.0 => Ok(v),
                Some(v) => Err(invalid(
                    f,
                    &format!("rope_scaling.{name}"),
                    v,
                    "must be positive",
                )),
                None => Err(ModelError::MissingField {
                    file: f.into(),
                    field: format!("rope_scaling.{name}"),
                }),
            };
            let low = field("low_freq_factor", raw.low_freq_factor)?;
            let high = field("high_freq_factor", raw.high_freq_factor)?;
            if high <= low {
                let reason = format!("must exceed low_freq_factor {low}");
                return Err(invalid(f, "rope_scaling.high_freq_factor", high, &reason));
            }
            Ok(RopeScaling::Llama3 {
                factor: field("factor", raw.factor)?,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_position_embeddings: field(
                    "original_max_position_embeddings",
                    raw.original_max_position_embeddings,
                )?,
            })
        }
        other => Err(unsupported(
            f,
            "rope_scaling.rope_type",
            other,
            "default, llama3",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = r#"{"model_type":"llama","hidden_size":576,"intermediate_size":1536,
        "num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"vocab_size":49152,
        "rms_norm_eps":1e-5,"rope_theta":100000.0,"max_position_embeddings":8192,
        "tie_word_embeddings":true,"hidden_act":"silu","bos_token_id":1,"eos_token_id":2}"#;

    #[test]
    fn smollm2_reads_with_its_grouped_heads() {
        let c = LlamaConfig::from_json(SMOLLM2.as_bytes()).unwrap();
        assert_eq!(
            (c.head_dim, c.group(), c.tied, c.qkv_bias),
            (64, 3, true, false)
        );
        assert_eq!((c.bos, c.eos.as_slice()), (Some(1), &[2][..]));
        assert_eq!(c.rope_scaling, RopeScaling::Default);
    }

    #[test]
    fn qwen2_has_qkv_biases_and_eos_lists_read() {
        let json = SMOLLM2
            .replace("\"llama\"", "\"qwen2\"")
            .replace("\"eos_token_id\":2", "\"eos_token_id\":[2,7]");
        let c = LlamaConfig::from_json(json.as_bytes()).unwrap();
        assert!(c.qkv_bias);
        assert_eq!(c.eos, vec![2, 7]);
    }

    #[test]
    fn llama3_scaling_needs_its_numbers() {
        let with = |s: &str| {
            SMOLLM2.replace(
                "\"hidden_act\"",
                &format!("\"rope_scaling\":{s},\"hidden_act\""),
            )
        };
        let ok = with(
            r#"{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}"#,
        );
        let c = LlamaConfig::from_json(ok.as_bytes()).unwrap();
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));
        let missing = with(r#"{"rope_type":"llama3","factor":32.0}"#);
        let err = LlamaConfig::from_json(missing.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("rope_scaling.low_freq_factor"),
            "{err}"
        );
        let other = with(r#"{"rope_type":"yarn","factor":4.0}"#);
        assert!(matches!(
            LlamaConfig::from_json(other.as_bytes()),
            Err(ModelError::Unsupported { .. })
        ));
    }

    #[test]
    fn wrong_kinds_and_shapes_are_named() {
        let bert = SMOLLM2.replace("\"llama\"", "\"bert\"");
        let err = LlamaConfig::from_json(bert.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("model_type"), "{err}");
        let kv = SMOLLM2.replace("\"num_key_value_heads\":3", "\"num_key_value_heads\":4");
        let err = LlamaConfig::from_json(kv.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("num_key_value_heads"), "{err}");
        let gelu = SMOLLM2.replace("\"silu\"", "\"gelu\"");
        assert!(matches!(
            LlamaConfig::from_json(gelu.as_bytes()),
            Err(ModelError::Unsupported { .. })
        ));
    }
}
