//! Inference-memory estimates per architecture, as a function of the workload.

use serde::{Deserialize, Serialize};

/// The most inference memory one batch of a split call is given, whatever the budget: what
/// sentence-transformers' batch of 32 short texts needs for a MiniLM-sized encoder, and room for
/// 16 texts of 128 tokens. A larger batch computes no faster (the matmuls are already large) and
/// would hold more wasm memory on the CPU path, where no budget caps activations.
pub const BATCH_MEMORY_BYTES: u64 = 64 << 20;

/// The size of one run: how many sequences of how many tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// Sequences per call.
    pub batch: u64,
    /// Tokens per sequence (after padding).
    pub sequence: u64,
}

/// How much GPU memory a model's forward pass needs beyond its weights, per architecture.
///
/// ComfyUI asks each model (`memory_required(input_shape)`); webvram does the same, so the
/// number grows with batch × sequence instead of being a constant. Arithmetic saturates: an
/// absurd workload yields `u64::MAX`, which then fails the fit check with a typed error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InferenceEstimate {
    /// A transformer encoder (BERT) run one block at a time. Peak elements in one block:
    /// hidden in and out (2·T·H), Q, K and V (3·T·H), attention scores and probabilities
    /// (2·B·heads·S²) and the feed-forward intermediate (T·I), with T = B·S tokens; times
    /// `bytes_per_element`, plus the widened copy of an f16 layer. A sum, so an upper bound of
    /// the true peak.
    #[serde(rename_all = "camelCase")]
    Encoder {
        /// Hidden size H.
        hidden: u64,
        /// Feed-forward size I.
        intermediate: u64,
        /// Attention heads.
        heads: u64,
        /// Bytes per activation element (4 for f32 compute, 2 for f16).
        bytes_per_element: u64,
        /// Bytes of the f32 copies a layer held in f16 is widened into while it runs (the
        /// largest layer's, twice its f16 bytes); 0 when weights are held in f32.
        #[serde(default)]
        widened_weights: u64,
    },
    /// A decoder generating with a KV cache, `sequence` = the context (prompt + new tokens).
    /// The cache of every layer (`layers · 2 · kv_width` elements per position) stays alive
    /// for the whole call; on top, one block's prefill over the whole context, counted as the
    /// encoder's terms with grouped-query widths: hidden in, out and normed (3·T·H), Q (T·q),
    /// K and V and their concatenated copies (4·T·kv), the scores and probabilities
    /// (2·B·heads·S²) and SwiGLU's gate, up and product (3·T·I). An upper bound: a decode step
    /// needs only one position's activations.
    #[serde(rename_all = "camelCase")]
    Decoder {
        /// Hidden size H.
        hidden: u64,
        /// SwiGLU width I.
        intermediate: u64,
        /// Query heads.
        heads: u64,
        /// Query width (heads × head_dim).
        q_width: u64,
        /// Key/value width (KV heads × head_dim).
        kv_width: u64,
        /// Decoder blocks (each caches K and V).
        layers: u64,
        /// Bytes per activation and cache element (4 for f32).
        bytes_per_element: u64,
        /// As for [`Encoder`](Self::Encoder).
        #[serde(default)]
        widened_weights: u64,
    },
    /// `fixed + per_token × batch × sequence`, for architectures without a closed form yet.
    #[serde(rename_all = "camelCase")]
    PerToken {
        /// Bytes needed whatever the workload.
        fixed: u64,
        /// Bytes per token.
        per_token: u64,
    },
    /// A constant, for tests and models whose activations do not depend on the input.
    Fixed(u64),
}

impl InferenceEstimate {
    /// Bytes of inference memory for `workload`.
    pub fn bytes(&self, workload: Workload) -> u64 {
        let tokens = workload.batch.saturating_mul(workload.sequence);
        match *self {
            Self::Encoder {
                hidden,
                intermediate,
                heads,
                bytes_per_element,
                widened_weights,
            } => {
                let hidden_elements = tokens.saturating_mul(hidden).saturating_mul(5);
                let attention = workload
                    .batch
                    .saturating_mul(heads)
                    .saturating_mul(workload.sequence.saturating_mul(workload.sequence))
                    .saturating_mul(2);
                let ffn = tokens.saturating_mul(intermediate);
                hidden_elements
                    .saturating_add(attention)
                    .saturating_add(ffn)
                    .saturating_mul(bytes_per_element)
                    .saturating_add(widened_weights)
            }
            Self::Decoder {
                hidden,
                intermediate,
                heads,
                q_width,
                kv_width,
                layers,
                bytes_per_element,
                widened_weights,
            } => {
                let sum = |terms: &[u64]| terms.iter().fold(0u64, |acc, &t| acc.saturating_add(t));
                let cache = tokens
                    .saturating_mul(layers)
                    .saturating_mul(kv_width.saturating_mul(2));
                let block = tokens.saturating_mul(sum(&[
                    hidden.saturating_mul(3),
                    q_width,
                    kv_width.saturating_mul(4),
                    intermediate.saturating_mul(3),
                ]));
                let attention = (workload.batch.saturating_mul(heads))
                    .saturating_mul(workload.sequence.saturating_mul(workload.sequence))
                    .saturating_mul(2);
                sum(&[cache, block, attention])
                    .saturating_mul(bytes_per_element)
                    .saturating_add(widened_weights)
            }
            Self::PerToken { fixed, per_token } => {
                fixed.saturating_add(per_token.saturating_mul(tokens))
            }
            Self::Fixed(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minilm_encoder_estimate_by_hand() {
        let minilm = InferenceEstimate::Encoder {
            hidden: 384,
            intermediate: 1536,
            heads: 12,
            bytes_per_element: 4,
            widened_weights: 0,
        };
        // T = 256: 5·256·384 = 491_520; 2·12·256² = 1_572_864; 256·1536 = 393_216.
        let expected = (491_520 + 1_572_864 + 393_216) * 4;
        assert_eq!(
            minilm.bytes(Workload {
                batch: 1,
                sequence: 256
            }),
            expected
        );
        assert!(
            minilm.bytes(Workload {
                batch: 8,
                sequence: 256
            }) > 8 * expected / 2
        );
        // Held in f16, the largest layer's f32 copy comes on top.
        let f16 = InferenceEstimate::Encoder {
            hidden: 384,
            intermediate: 1536,
            heads: 12,
            bytes_per_element: 4,
            widened_weights: 7_077_888,
        };
        let one = Workload {
            batch: 1,
            sequence: 256,
        };
        assert_eq!(f16.bytes(one), expected + 7_077_888);
    }

    #[test]
    fn smollm2_decoder_estimate_by_hand() {
        let smollm2 = InferenceEstimate::Decoder {
            hidden: 576,
            intermediate: 1536,
            heads: 9,
            q_width: 576,
            kv_width: 192,
            layers: 30,
            bytes_per_element: 4,
            widened_weights: 0,
        };
        let one = |sequence| Workload { batch: 1, sequence };
        // S = 1024: cache 1024·30·384; block 1024·(1728 + 576 + 768 + 4608); scores 2·9·1024².
        let cache = 1024 * 30 * 384;
        let block = 1024 * (1728 + 576 + 768 + 4608);
        let scores = 2 * 9 * 1024 * 1024;
        assert_eq!(smollm2.bytes(one(1024)), (cache + block + scores) * 4);
        // The cache is linear in the context, the scores quadratic: 4x the context, > 4x the bytes.
        assert!(smollm2.bytes(one(4096)) > 4 * smollm2.bytes(one(1024)));
        assert_eq!(smollm2.bytes(one(u64::MAX)), u64::MAX);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let estimate = InferenceEstimate::PerToken {
            fixed: 1,
            per_token: u64::MAX,
        };
        assert_eq!(
            estimate.bytes(Workload {
                batch: 2,
                sequence: 2
            }),
            u64::MAX
        );
    }
}
