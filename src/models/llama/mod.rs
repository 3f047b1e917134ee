//! Llama-family decoder LLMs (`LlamaForCausalLM` and Qwen2's variant with q/k/v biases):
//! RMSNorm, RoPE (with Llama 3 scaling), grouped-query attention with a KV cache, SwiGLU.
//!
//! The model holds no weights and no per-sequence state: the executor passes each layer's
//! weights in, and the KV cache travels with the activation, owned by the call.

mod block;
mod chat;
mod config;
mod head;
mod model;
mod rope;
mod text;

pub use chat::{ChatTemplate, Message, TOKENIZER_CONFIG_FILE};
pub(crate) use config::OneOrMany;
pub use config::{CONFIG_FILE, DECODER_TYPES, LlamaConfig, RopeScaling};
pub use head::project_on_host;
pub use model::{
    DecoderActivation, EMBED_TABLE, KvCache, LlamaModel, NORM_LAYER, OUTPUT_TABLE, check_table,
};
pub use text::{TOKENIZER_FILE, TextCodec};

/// The executor layer and in-layer name of a checkpoint tensor: `model.layers.{i}.…` and
/// `model.norm.…` are layers; the tables are returned as (`model.embed_tokens` / `lm_head`,
/// `weight`) for the caller to keep on the host.
pub fn layer_of(tensor: &str) -> Option<(String, String)> {
    if let Some(rest) = tensor.strip_prefix("model.layers.") {
        let (index, name) = rest.split_once('.')?;
        index.parse::<usize>().ok()?;
        return Some((format!("model.layers.{index}"), name.to_owned()));
    }
    let (layer, name) = tensor.rsplit_once('.')?;
    match layer {
        "model.norm" | "model.embed_tokens" | "lm_head" => {
            Some((layer.to_owned(), name.to_owned()))
        }
        _ => None,
    }
}
