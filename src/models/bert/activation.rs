//! What flows between BERT's layers.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::models::bert::tokens::TokenBatch;

/// Added to the attention score of every padding key: far enough below any real score that its
/// softmax weight is exactly 0 in f32, yet finite so no `inf - inf` can appear.
const MASK_BIAS: f32 = -1e9;

/// The activation of [`BertModel`](super::BertModel): token ids before the embeddings layer, hidden
/// states [batch, seq, hidden] after it, always with the attention mask and its additive bias.
pub struct BertActivation {
    stage: Stage,
    mask: Tensor<2>,
    bias: Tensor<4>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "moved once per layer; a few hundred bytes are nothing next to the layer's GPU work"
)]
pub(crate) enum Stage {
    Tokens(TokenTensors),
    Hidden(Tensor<3>),
}

/// Token ids and token types, flat [batch × seq].
pub(crate) struct TokenTensors {
    pub(crate) ids: Tensor<1, Int>,
    pub(crate) types: Tensor<1, Int>,
    /// Word vectors gathered on the host, [batch × seq, hidden], when the table stays off the
    /// device.
    pub(crate) words: Option<Tensor<2>>,
}

impl BertActivation {
    /// Uploads a (validated) token batch: the input of the embeddings layer.
    pub(crate) fn from_tokens(tokens: &TokenBatch, device: &Device) -> Self {
        let [batch, seq] = [tokens.batch(), tokens.seq()];
        let ints = |values: &[u32]| {
            let data: Vec<i32> = values.iter().map(|&v| v as i32).collect();
            Tensor::<1, Int>::from_data(TensorData::new(data, [batch * seq]), device)
        };
        let mask: Vec<f32> = tokens.attention_mask().iter().map(|&m| m as f32).collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, seq]), device);
        // (1 - mask) * MASK_BIAS, shaped to broadcast over heads and query positions.
        let bias = (mask.clone().neg() + 1.0)
            .mul_scalar(MASK_BIAS)
            .reshape([batch, 1, 1, seq]);
        Self {
            stage: Stage::Tokens(TokenTensors {
                ids: ints(tokens.ids()),
                types: ints(tokens.token_type_ids()),
                words: None,
            }),
            mask,
            bias,
        }
    }

    /// The hidden states [batch, seq, hidden], once the embeddings layer has run.
    pub fn hidden(&self) -> Option<&Tensor<3>> {
        match &self.stage {
            Stage::Hidden(h) => Some(h),
            Stage::Tokens(_) => None,
        }
    }

    /// The attention mask [batch, seq]: 1.0 for real tokens, 0.0 for padding.
    pub fn attention_mask(&self) -> &Tensor<2> {
        &self.mask
    }

    /// [batch, seq].
    pub fn dims(&self) -> [usize; 2] {
        self.mask.dims()
    }

    pub(crate) fn stage(&self) -> &Stage {
        &self.stage
    }

    pub(crate) fn bias(&self) -> &Tensor<4> {
        &self.bias
    }

    /// The same batch moved on to `hidden`.
    pub(crate) fn with_hidden(self, hidden: Tensor<3>) -> Self {
        Self {
            stage: Stage::Hidden(hidden),
            ..self
        }
    }

    pub(crate) fn into_parts(self) -> (Stage, Tensor<2>) {
        (self.stage, self.mask)
    }

    /// Attaches word vectors gathered on the host ([batch × seq, hidden]) to token input.
    pub(crate) fn with_words(mut self, words: Tensor<2>) -> Self {
        if let Stage::Tokens(tokens) = &mut self.stage {
            tokens.words = Some(words);
        }
        self
    }
}

impl std::fmt::Debug for BertActivation {
    // Shapes only: formatting a tensor's values would read it back synchronously.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.stage {
            Stage::Tokens(_) => "tokens".to_owned(),
            Stage::Hidden(h) => format!("hidden {:?}", h.dims()),
        };
        f.debug_struct("BertActivation")
            .field("stage", &stage)
            .field("dims", &self.dims())
            .finish()
    }
}
