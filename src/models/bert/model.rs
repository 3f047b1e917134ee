//! The BERT encoder with its sentence-transformers head, as a [`LayeredModel`].

use burn::tensor::{Device, Tensor, TensorData};

use crate::exec::{ExecError, HostTensor, LayerWeights, LayeredModel};
use crate::models::bert::activation::{BertActivation, Stage};
use crate::models::bert::config::{BertConfig, CONFIG_FILE};
use crate::models::bert::encoder::{embeddings, encoder_block};
use crate::models::bert::head::SentenceHead;
use crate::models::bert::modules::SENTENCE_BERT_FILE;
use crate::models::bert::names::{EMBEDDINGS_LAYER, encoder_layer_name};
use crate::models::bert::pooling::POOLING_FILE;
use crate::models::bert::tokens::TokenBatch;
use crate::models::error::ModelError;
use crate::models::json::invalid;
use crate::models::resident::run_resident;
use crate::models::saturating_product;

/// The word-embedding table's name within the embeddings layer.
pub const WORD_TABLE: &str = "word_embeddings.weight";

/// A sentence-embedding BERT: layer 0 is `"embeddings"`, layers 1..=N are `"encoder.layer.{i}"`,
/// and [`pool`](Self::pool) applies the head to the last layer's output.
///
/// The model holds no weights: the executor passes each layer's [`LayerWeights`] in, so the same
/// model runs whether its layers are resident or streamed.
#[derive(Clone, Debug)]
pub struct BertModel {
    config: BertConfig,
    head: SentenceHead,
    names: Vec<String>,
}

impl BertModel {
    /// The model described by `config` with the sentence-transformers `head`.
    ///
    /// # Errors
    /// [`ModelError::InvalidValue`] when the head's `max_seq_length` exceeds the position
    /// embeddings, or the pooling width differs from `hidden_size`.
    pub fn new(config: BertConfig, head: SentenceHead) -> Result<Self, ModelError> {
        let positions = config.max_position_embeddings();
        if head.max_seq_length() > positions {
            let reason = format!("{CONFIG_FILE} has only {positions} max_position_embeddings");
            return Err(invalid(
                SENTENCE_BERT_FILE,
                "max_seq_length",
                head.max_seq_length(),
                &reason,
            ));
        }
        if let Some(width) = head.dimension().filter(|&w| w != config.hidden_size()) {
            let reason = format!("{CONFIG_FILE} has hidden_size {}", config.hidden_size());
            return Err(invalid(
                POOLING_FILE,
                "word_embedding_dimension",
                width,
                &reason,
            ));
        }
        let encoder = (0..config.num_hidden_layers()).map(encoder_layer_name);
        let names = std::iter::once(EMBEDDINGS_LAYER.to_owned())
            .chain(encoder)
            .collect();
        Ok(Self {
            config,
            head,
            names,
        })
    }

    /// The encoder's config.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The sentence-transformers head.
    pub fn head(&self) -> &SentenceHead {
        &self.head
    }

    /// Uploads `tokens` to `device` as the input of layer 0.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] for an empty batch or texts, more tokens than position embeddings,
    /// or a token id / token type outside the vocabulary (which would read out of bounds).
    pub fn input(&self, tokens: &TokenBatch, device: &Device) -> Result<BertActivation, ExecError> {
        let bad = |m: String| Err(ExecError::BadInput(m));
        let (batch, seq) = (tokens.batch(), tokens.seq());
        if batch == 0 || seq == 0 {
            return bad(format!("empty batch ({batch} texts of {seq} tokens)"));
        }
        if seq > self.config.max_position_embeddings() {
            return bad(format!(
                "{seq} tokens; the model has {} positions",
                self.config.max_position_embeddings()
            ));
        }
        let limit = |n: usize| n.min(i32::MAX as usize);
        let vocab = limit(self.config.vocab_size());
        if let Some(id) = tokens.ids().iter().find(|&&id| id as usize >= vocab) {
            return bad(format!(
                "token id {id} is outside the vocabulary of {vocab}"
            ));
        }
        let types = limit(self.config.type_vocab_size());
        if let Some(t) = tokens
            .token_type_ids()
            .iter()
            .find(|&&t| t as usize >= types)
        {
            return bad(format!("token type {t} is outside the {types} token types"));
        }
        Ok(BertActivation::from_tokens(tokens, device))
    }

    /// Like [`input`](Self::input), with the word vectors looked up on the host in `table` (the
    /// checkpoint's `word_embeddings.weight`, [vocab, hidden]) and uploaded gathered: the table
    /// then never needs the device. A lookup is a copy, not compute, and for small encoders the
    /// table is most of the weights (all-MiniLM-L6-v2: 47 of 91 MB), so this is what lets them
    /// run on a budget smaller than half the model.
    ///
    /// # Errors
    /// As [`input`](Self::input); [`ExecError::BadShape`] when `table` is not [vocab, hidden].
    pub fn input_with_table(
        &self,
        tokens: &TokenBatch,
        table: &HostTensor,
        device: &Device,
    ) -> Result<BertActivation, ExecError> {
        let hidden = self.config.hidden_size();
        let expected = [self.config.vocab_size(), hidden];
        if table.shape != expected || table.data.len() != expected[0] * hidden {
            return Err(ExecError::BadShape {
                layer: EMBEDDINGS_LAYER.into(),
                tensor: WORD_TABLE.into(),
                actual: table.shape.clone(),
                expected: format!("{expected:?}"),
            });
        }
        let mut words = Vec::with_capacity(tokens.ids().len() * hidden);
        for &id in tokens.ids() {
            let start = id as usize * hidden;
            table.data.extend_f32(start..start + hidden, &mut words);
        }
        self.input_with_rows(tokens, words, device)
    }

    /// [`input_with_table`](Self::input_with_table) with the word rows already read, one per
    /// token id in order ([batch × seq, hidden] row-major): from a table left in its file.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] for a row count that is not one per token, and as [`input`](Self::input).
    pub fn input_with_rows(
        &self,
        tokens: &TokenBatch,
        words: Vec<f32>,
        device: &Device,
    ) -> Result<BertActivation, ExecError> {
        let (count, hidden) = (tokens.ids().len(), self.config.hidden_size());
        if words.len() != count * hidden {
            return Err(ExecError::BadInput(format!(
                "{} word values for {count} tokens of width {hidden}",
                words.len()
            )));
        }
        let activation = self.input(tokens, device)?;
        let words = TensorData::new(words, [count, hidden]);
        Ok(activation.with_words(Tensor::from_data(words, device)))
    }

    /// Applies the head to the last layer's output: pooling over the attention mask, then L2
    /// normalisation if the model has it. [batch, hidden], still on the device.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] when `output` has not been through the layers.
    pub fn pool(&self, output: BertActivation) -> Result<Tensor<2>, ExecError> {
        match output.into_parts() {
            (Stage::Hidden(hidden), mask) => Ok(self.head.apply(hidden, mask)),
            (Stage::Tokens(_), _) => Err(ExecError::BadInput(
                "pooling token ids: run the layers first".into(),
            )),
        }
    }

    /// Embeds `tokens` with every layer resident (`weights[i]` for layer `i`) and reads the rows
    /// back: one vector per text.
    ///
    /// # Errors
    /// [`ModelError::Exec`] from the input or a layer; [`ModelError::Readback`] if the device fails.
    pub async fn embed_resident(
        &self,
        weights: &[LayerWeights],
        tokens: &TokenBatch,
        device: &Device,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let output = run_resident(self, weights, self.input(tokens, device)?)?;
        read_rows(self.pool(output)?).await
    }

    /// An upper bound on the device bytes (f32, before allocator padding) one forward pass over
    /// `batch` texts of `seq` tokens needs besides the weights.
    ///
    /// It assumes no operator fusion and counts, as if alive together: the attention block's
    /// twelve [batch, seq, hidden] tensors (input, Q, K, V and their head-split copies, context
    /// and its copy, projection, residual sum, LayerNorm output), two score tensors
    /// [batch, heads, seq, seq] (softmax keeps at most two alive), the feed-forward block's four
    /// [batch, seq, hidden] and two [batch, seq, intermediate] tensors, the mask, its bias and the
    /// token ids, and the pooled output twice. burn frees each intermediate once consumed, so the
    /// real peak is lower; the pool keeps it reserved, which is why the blocks are summed.
    pub fn inference_bytes(&self, batch: usize, seq: usize) -> u64 {
        let c = &self.config;
        let [b, s, h, i, heads] = [
            batch,
            seq,
            c.hidden_size(),
            c.intermediate_size(),
            c.num_attention_heads(),
        ]
        .map(|n| n as u64);
        let product = saturating_product;
        let per_token = product(&[16, h])
            .saturating_add(product(&[2, i]))
            .saturating_add(4);
        let elements = product(&[b, s, per_token])
            .saturating_add(product(&[2, b, heads, s, s]))
            .saturating_add(product(&[2, b, h]));
        elements.saturating_mul(size_of::<f32>() as u64)
    }
}

impl LayeredModel for BertModel {
    type Activation = BertActivation;

    fn layer_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn run_layer(
        &self,
        index: usize,
        weights: &LayerWeights,
        input: BertActivation,
    ) -> Result<BertActivation, ExecError> {
        let expected = self.names.get(index).ok_or_else(|| {
            ExecError::BadInput(format!(
                "layer {index} of a model with {} layers",
                self.names.len()
            ))
        })?;
        if weights.name() != expected {
            let got = weights.name();
            return Err(ExecError::BadInput(format!(
                "layer {index} is \"{expected}\" but got weights of \"{got}\""
            )));
        }
        let hidden = match (index, input.stage()) {
            (0, Stage::Tokens(t)) => embeddings(
                &self.config,
                weights,
                (t.ids.clone(), t.words.clone()),
                t.types.clone(),
                input.dims(),
            )?,
            (1.., Stage::Hidden(x)) => {
                encoder_block(&self.config, weights, x.clone(), input.bias())?
            }
            _ => {
                return Err(ExecError::BadInput(format!(
                    "layer \"{expected}\" got {input:?}"
                )));
            }
        };
        Ok(input.with_hidden(hidden))
    }
}

/// Reads a [rows, width] tensor back without blocking (synchronous reads panic in a browser).
///
/// # Errors
/// [`ModelError::Readback`] when the device fails.
pub async fn read_rows(tensor: Tensor<2>) -> Result<Vec<Vec<f32>>, ModelError> {
    let [_, width] = tensor.dims();
    let readback = |message: String| ModelError::Readback { message };
    let data = tensor
        .into_data_async()
        .await
        .map_err(|e| readback(e.to_string()))?;
    let values = data
        .try_into_vec::<f32>()
        .map_err(|e| readback(format!("{e:?}")))?;
    Ok(values.chunks(width.max(1)).map(<[f32]>::to_vec).collect())
}
