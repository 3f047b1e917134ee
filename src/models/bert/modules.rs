//! `modules.json` and `sentence_bert_config.json`: which sentence-transformers modules follow the
//! encoder, and how long its input may be.

use serde::Deserialize;

use crate::models::error::ModelError;
use crate::models::json::{invalid, parse, positive, require, unsupported};

/// The file listing the modules, as errors name it.
pub const MODULES_FILE: &str = "modules.json";
/// The file holding `max_seq_length`, as errors name it.
pub const SENTENCE_BERT_FILE: &str = "sentence_bert_config.json";

const TRANSFORMER: &str = "sentence_transformers.models.Transformer";
const POOLING: &str = "sentence_transformers.models.Pooling";
const NORMALIZE: &str = "sentence_transformers.models.Normalize";

/// The module pipeline of a sentence-transformers model: Transformer → Pooling → optional Normalize.
///
/// Other modules (Dense projections, LayerNorm, …) would change the output, so they are refused
/// rather than skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentenceModules {
    pooling_dir: String,
    normalize: bool,
}

#[derive(Deserialize)]
struct RawModule {
    idx: Option<usize>,
    path: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl SentenceModules {
    /// Parses and validates the bytes of `modules.json`.
    ///
    /// # Errors
    /// [`ModelError::InvalidJson`]; [`ModelError::MissingField`] for a module without `type`, or
    /// no Pooling module; [`ModelError::Unsupported`] for any module other than Transformer,
    /// Pooling and Normalize, or those three out of order.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut raw: Vec<RawModule> = parse(MODULES_FILE, bytes)?;
        raw.sort_by_key(|m| m.idx.unwrap_or(usize::MAX));
        let mut kinds = Vec::with_capacity(raw.len());
        for m in &raw {
            kinds.push(require(MODULES_FILE, "type", m.kind.as_deref())?);
        }
        let expected = [TRANSFORMER, POOLING, NORMALIZE];
        let in_order = kinds.len() >= 2
            && kinds.len() <= 3
            && kinds.iter().zip(expected).all(|(k, e)| *k == e);
        if !in_order {
            let found = format!("[{}]", kinds.join(", "));
            let supported = "Transformer, Pooling, then optionally Normalize";
            return Err(unsupported(MODULES_FILE, "type", found, supported));
        }
        let pooling_dir = raw[1].path.clone().unwrap_or_default();
        Ok(Self {
            pooling_dir,
            normalize: kinds.len() == 3,
        })
    }

    /// The path of the Pooling module's config inside the model folder (`1_Pooling/config.json`).
    pub fn pooling_config_path(&self) -> String {
        if self.pooling_dir.is_empty() {
            "config.json".to_owned()
        } else {
            format!("{}/config.json", self.pooling_dir.trim_end_matches('/'))
        }
    }

    /// Whether a Normalize module (L2 normalisation) follows the pooling.
    pub fn normalize(&self) -> bool {
        self.normalize
    }
}

/// `sentence_bert_config.json`: the Transformer module's own settings.
///
/// sentence-transformers truncates at this `max_seq_length`, not at the limit stored in
/// `tokenizer.json`, so this file decides how long the model's input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentenceBertConfig {
    max_seq_length: usize,
    do_lower_case: bool,
}

#[derive(Deserialize)]
struct RawSentenceBert {
    max_seq_length: Option<usize>,
    do_lower_case: Option<bool>,
}

impl SentenceBertConfig {
    /// Parses and validates the bytes of `sentence_bert_config.json`.
    ///
    /// # Errors
    /// [`ModelError::InvalidJson`]; [`ModelError::MissingField`] or [`ModelError::InvalidValue`]
    /// when `max_seq_length` is missing or below 2 (room for `[CLS]` and `[SEP]`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let raw: RawSentenceBert = parse(SENTENCE_BERT_FILE, bytes)?;
        let max_seq_length = positive(SENTENCE_BERT_FILE, "max_seq_length", raw.max_seq_length)?;
        if max_seq_length < 2 {
            let reason = "must leave room for [CLS] and [SEP]";
            return Err(invalid(
                SENTENCE_BERT_FILE,
                "max_seq_length",
                max_seq_length,
                reason,
            ));
        }
        Ok(Self {
            max_seq_length,
            do_lower_case: raw.do_lower_case.unwrap_or(false),
        })
    }

    /// The most tokens (with `[CLS]` and `[SEP]`) the model sees; longer input is truncated.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Whether sentence-transformers lowercases the text before the tokenizer sees it.
    pub fn do_lower_case(&self) -> bool {
        self.do_lower_case
    }
}
