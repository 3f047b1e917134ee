//! BERT's two kinds of layer: the embeddings, and one encoder block (self-attention + feed-forward).

use burn::tensor::{Int, Tensor};

use crate::exec::{ExecError, LayerWeights};
use crate::models::bert::config::BertConfig;
use crate::models::bert::ops::{layer_norm, linear, weight};
use crate::models::ops::{gelu, softmax_last};

/// word + position + token-type embeddings, then LayerNorm. The word vectors are either looked
/// up in the layer's table on the device, or arrive already gathered on the host (`words`,
/// [batch × seq, hidden]) when the table is kept off the device.
///
/// # Shapes
/// `ids`, `types` [batch × seq] (row-major) → [batch, seq, hidden].
pub(crate) fn embeddings(
    config: &BertConfig,
    layer: &LayerWeights,
    (ids, words): (Tensor<1, Int>, Option<Tensor<2>>),
    types: Tensor<1, Int>,
    [batch, seq]: [usize; 2],
) -> Result<Tensor<3>, ExecError> {
    let hidden = config.hidden_size();
    let word = match words {
        Some(words) => words,
        None => weight(
            layer,
            "word_embeddings.weight",
            [config.vocab_size(), hidden],
        )?
        .select(0, ids),
    };
    let position = weight(
        layer,
        "position_embeddings.weight",
        [config.max_position_embeddings(), hidden],
    )?;
    let token_type = weight(
        layer,
        "token_type_embeddings.weight",
        [config.type_vocab_size(), hidden],
    )?;
    let x = word.reshape([batch, seq, hidden])
        + token_type.select(0, types).reshape([batch, seq, hidden])
        + position.narrow(0, 0, seq).unsqueeze::<3>();
    layer_norm(x, layer, "LayerNorm", hidden, config.layer_norm_eps())
}

/// One encoder block: multi-head self-attention with the padding `bias` [batch, 1, 1, seq], residual
/// and LayerNorm, then the erf-GELU feed-forward, residual and LayerNorm (post-norm, as BERT).
///
/// # Shapes
/// `x` [batch, seq, hidden] → the same.
pub(crate) fn encoder_block(
    config: &BertConfig,
    layer: &LayerWeights,
    x: Tensor<3>,
    bias: &Tensor<4>,
) -> Result<Tensor<3>, ExecError> {
    let (h, inner, eps) = (
        config.hidden_size(),
        config.intermediate_size(),
        config.layer_norm_eps(),
    );
    let attended = self_attention(config, layer, x.clone(), bias)?;
    let attended = linear(attended, layer, "attention.output.dense", h, h)?;
    let x = layer_norm(attended + x, layer, "attention.output.LayerNorm", h, eps)?;
    let up = gelu(linear(x.clone(), layer, "intermediate.dense", h, inner)?)?;
    let down = linear(up, layer, "output.dense", inner, h)?;
    layer_norm(down + x, layer, "output.LayerNorm", h, eps)
}

/// softmax(Q·Kᵀ/√d + bias)·V per head, heads concatenated back to [batch, seq, hidden].
fn self_attention(
    config: &BertConfig,
    layer: &LayerWeights,
    x: Tensor<3>,
    bias: &Tensor<4>,
) -> Result<Tensor<3>, ExecError> {
    let (h, heads, d) = (
        config.hidden_size(),
        config.num_attention_heads(),
        config.head_size(),
    );
    let [batch, seq, _] = x.dims();
    let split = |t: Tensor<3>| t.reshape([batch, seq, heads, d]).swap_dims(1, 2);
    // 1/√d scales Q (batch·seq·hidden values) rather than the batch·heads·seq² scores.
    let query = linear(x.clone(), layer, "attention.self.query", h, h)?;
    let q = split(query.mul_scalar(1.0 / (d as f64).sqrt()));
    let k = split(linear(x.clone(), layer, "attention.self.key", h, h)?);
    let v = split(linear(x, layer, "attention.self.value", h, h)?);
    let scores = q.matmul(k.swap_dims(2, 3)) + bias.clone();
    let context = softmax_last(scores)?.matmul(v);
    Ok(context.swap_dims(1, 2).reshape([batch, seq, h]))
}
