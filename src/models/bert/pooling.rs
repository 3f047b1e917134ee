//! `1_Pooling/config.json`: how token vectors become one sentence vector.

use serde::Deserialize;

use crate::models::error::ModelError;
use crate::models::json::{parse, unsupported};

/// The usual path of the Pooling module's config, as errors name it; the real one comes from
/// [`SentenceModules::pooling_config_path`](super::SentenceModules::pooling_config_path).
pub const POOLING_FILE: &str = "1_Pooling/config.json";

/// One pooling mode. sentence-transformers concatenates several when more than one is set; that
/// (and its other modes) is refused, not approximated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps (`pooling_mode_mean_tokens`).
    Mean,
    /// The `[CLS]` token's vector (`pooling_mode_cls_token`).
    Cls,
    /// Element-wise maximum over the kept tokens (`pooling_mode_max_tokens`).
    Max,
}

/// The pooling config: its mode and the width it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolingConfig {
    mode: Pooling,
    dimension: Option<usize>,
}

#[derive(Deserialize)]
struct Raw {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

const SUPPORTED: &str =
    "exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_max_tokens";

impl PoolingConfig {
    /// Parses and validates the bytes of the Pooling module's `config.json`.
    ///
    /// # Errors
    /// [`ModelError::InvalidJson`]; [`ModelError::Unsupported`] naming the first mode set that we do
    /// not implement, or `pooling_mode` when none or several supported modes are set.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let raw: Raw = parse(POOLING_FILE, bytes)?;
        let others = [
            (
                "pooling_mode_mean_sqrt_len_tokens",
                raw.pooling_mode_mean_sqrt_len_tokens,
            ),
            (
                "pooling_mode_weightedmean_tokens",
                raw.pooling_mode_weightedmean_tokens,
            ),
            ("pooling_mode_lasttoken", raw.pooling_mode_lasttoken),
        ];
        if let Some((field, _)) = others.iter().find(|(_, on)| *on) {
            return Err(unsupported(POOLING_FILE, field, true, SUPPORTED));
        }
        let modes = [
            (Pooling::Mean, raw.pooling_mode_mean_tokens),
            (Pooling::Cls, raw.pooling_mode_cls_token),
            (Pooling::Max, raw.pooling_mode_max_tokens),
        ];
        let on: Vec<Pooling> = modes
            .iter()
            .filter(|(_, on)| *on)
            .map(|(m, _)| *m)
            .collect();
        match on.as_slice() {
            [mode] => Ok(Self {
                mode: *mode,
                dimension: raw.word_embedding_dimension,
            }),
            _ => Err(unsupported(
                POOLING_FILE,
                "pooling_mode",
                format!("{on:?}"),
                SUPPORTED,
            )),
        }
    }

    /// The pooling mode.
    pub fn mode(&self) -> Pooling {
        self.mode
    }

    /// `word_embedding_dimension`, when the file states it; it must equal the hidden size.
    pub fn dimension(&self) -> Option<usize> {
        self.dimension
    }
}
