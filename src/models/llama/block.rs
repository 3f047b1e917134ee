//! One decoder block: RMSNorm → grouped-query self-attention with RoPE and a KV cache →
//! residual → RMSNorm → SwiGLU → residual (pre-norm, as Llama).

use burn::tensor::Tensor;
use burn::tensor::activation::silu;

use crate::exec::{ExecError, LayerWeights};
use crate::models::llama::config::LlamaConfig;
use crate::models::llama::rope::rotate;
use crate::models::ops::{project, rms_norm, softmax_last};

/// One layer's keys and values for the positions seen so far, each [batch, kv_heads, len, head_dim].
pub type LayerCache = (Tensor<4>, Tensor<4>);

/// What every block of one forward call shares: the rotation tables of the new positions and
/// the causal mask.
pub struct Positions {
    /// cos and sin, [seq, head_dim].
    pub angles: [Tensor<2>; 2],
    /// Additive mask [group × seq, past + seq] (0 or −∞-like): `None` for a single new token,
    /// which may see every cached position.
    pub mask: Option<Tensor<2>>,
}

/// Runs one block on `x` [batch, seq, hidden], extending `cache` by `seq` positions.
///
/// # Errors
/// [`ExecError::MissingTensor`] / [`ExecError::BadShape`] for a checkpoint that does not match
/// the config.
pub fn decoder_block(
    c: &LlamaConfig,
    layer: &LayerWeights,
    x: Tensor<3>,
    positions: &Positions,
    cache: Option<LayerCache>,
) -> Result<(Tensor<3>, LayerCache), ExecError> {
    let normed = rms_norm(
        x.clone(),
        layer,
        "input_layernorm.weight",
        c.hidden,
        c.rms_eps,
    )?;
    let (attended, cache) = attention(c, layer, normed, positions, cache)?;
    let x = x + attended;
    let normed = rms_norm(
        x.clone(),
        layer,
        "post_attention_layernorm.weight",
        c.hidden,
        c.rms_eps,
    )?;
    let gate = project(
        normed.clone(),
        layer,
        "mlp.gate_proj",
        [c.hidden, c.intermediate],
        false,
    )?;
    let up = project(
        normed,
        layer,
        "mlp.up_proj",
        [c.hidden, c.intermediate],
        false,
    )?;
    let down = project(
        silu(gate) * up,
        layer,
        "mlp.down_proj",
        [c.intermediate, c.hidden],
        false,
    )?;
    Ok((x + down, cache))
}

/// softmax(Q·Kᵀ/√d + mask)·V with `group` query heads per KV head, then `o_proj`.
///
/// The query heads of one KV head are laid out as one [group × seq, head_dim] matrix, so K and V
/// are read once per KV head instead of being repeated `group` times.
fn attention(
    c: &LlamaConfig,
    layer: &LayerWeights,
    x: Tensor<3>,
    positions: &Positions,
    cache: Option<LayerCache>,
) -> Result<(Tensor<3>, LayerCache), ExecError> {
    let [batch, seq, _] = x.dims();
    let (heads, kv, d) = (c.heads, c.kv_heads, c.head_dim);
    let bias = c.qkv_bias;
    let split = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, d]).swap_dims(1, 2);
    let q = project(
        x.clone(),
        layer,
        "self_attn.q_proj",
        [c.hidden, heads * d],
        bias,
    )?;
    let k = project(
        x.clone(),
        layer,
        "self_attn.k_proj",
        [c.hidden, kv * d],
        bias,
    )?;
    let v = project(x, layer, "self_attn.v_proj", [c.hidden, kv * d], bias)?;
    let [cos, sin] = &positions.angles;
    // 1/√d scales Q (seq · heads · d values) rather than the scores.
    let q = rotate(split(q, heads), cos, sin).mul_scalar(1.0 / (d as f64).sqrt());
    let k = rotate(split(k, kv), cos, sin);
    let v = split(v, kv);
    let (k, v) = match cache {
        Some((past_k, past_v)) => (
            Tensor::cat(vec![past_k, k], 2),
            Tensor::cat(vec![past_v, v], 2),
        ),
        None => (k, v),
    };
    let q = q.reshape([batch, kv, c.group() * seq, d]);
    let mut scores = q.matmul(k.clone().swap_dims(2, 3));
    if let Some(mask) = &positions.mask {
        scores = scores + mask.clone().unsqueeze::<4>();
    }
    let context = softmax_last(scores)?.matmul(v.clone());
    let context = context
        .reshape([batch, heads, seq, d])
        .swap_dims(1, 2)
        .reshape([batch, seq, heads * d]);
    let out = project(
        context,
        layer,
        "self_attn.o_proj",
        [heads * d, c.hidden],
        false,
    )?;
    Ok((out, (k, v)))
}
