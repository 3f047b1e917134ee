//! Causal LMs (Llama-family decoders): loading; generation is in [`generate`](super::generate).

use serde::Deserialize;

use crate::Error;
use crate::fetch::{ByteSource, FetchError, LoadOptions, Progress, fetch_file};
use crate::manager::{Dtype, InferenceEstimate};
use crate::models::llama::{
    EMBED_TABLE, LlamaConfig, LlamaModel, OUTPUT_TABLE, OneOrMany, TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE, TextCodec, layer_of,
};
use crate::runtime::Runtime;
use crate::runtime::models::{Kind, ModelInfo, ModelKind, TOKENIZER_LIMIT};
use crate::runtime::placement::{PINNED_LAYER, WeightLayout};
use crate::runtime::sentence::widened;
use crate::runtime::split::DecodeSplit;

/// The file with the model's default end-of-sequence ids.
const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// A loaded causal LM: the architecture, the text codec and the ids that end a generation.
/// Its weights live in the executor (the token table pinned there, gathered and projected on
/// the host), its placement in the manager's books.
#[derive(Debug)]
pub struct CausalLm {
    pub(super) llama: LlamaModel,
    pub(super) codec: TextCodec,
    /// End-of-sequence ids: `config.json`'s and `generation_config.json`'s.
    pub(super) eos: Vec<u32>,
    /// The output table's pinned name: [`OUTPUT_TABLE`], or [`EMBED_TABLE`] when tied.
    pub(super) output_table: &'static str,
    /// Where decode steps run the non-resident layers, once a generation has measured it.
    pub(super) decode_split: Option<DecodeSplit>,
}

#[derive(Deserialize)]
struct GenerationConfig {
    eos_token_id: Option<OneOrMany>,
}

impl Runtime {
    /// Loads a Llama-family causal LM from `base` (`config.json` given as `config`,
    /// `tokenizer.json`, optional `tokenizer_config.json` with the chat template and
    /// `generation_config.json`, and the weights). The token table (and an untied output
    /// table) are pinned in wasm memory; the blocks and the final norm are planned like any
    /// model's layers.
    ///
    /// # Errors
    /// As [`load_model`](Self::load_model).
    pub(super) async fn load_decoder<S: ByteSource>(
        &mut self,
        source: &S,
        base: &str,
        config: &[u8],
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<ModelInfo, Error> {
        let file = |name: &str| format!("{base}/{name}");
        let config = LlamaConfig::from_json(config)?;
        let tokenizer_json =
            fetch_file(source, options, &file(TOKENIZER_FILE), TOKENIZER_LIMIT).await?;
        let tokenizer_config = optional(source, options, &file(TOKENIZER_CONFIG_FILE)).await?;
        let codec = TextCodec::from_bytes(&tokenizer_json, tokenizer_config.as_deref())?;
        drop(tokenizer_json);
        let mut eos = config.eos.clone();
        if let Some(bytes) = optional(source, options, &file(GENERATION_CONFIG_FILE)).await? {
            let generation: GenerationConfig =
                crate::models::parse_json(GENERATION_CONFIG_FILE, &bytes)?;
            eos.extend(
                generation
                    .eos_token_id
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default(),
            );
        }
        eos.sort_unstable();
        eos.dedup();
        let llama = LlamaModel::new(config);
        let c = llama.config();
        let held_as = self.weight_dtype();
        // Both tables stay on the host: the gather and the one-position output projection run
        // there, so the GPU budget goes to the blocks.
        let layer_of = |tensor: &str| {
            let (layer, name) = layer_of(tensor)?;
            match layer.as_str() {
                "model.embed_tokens" | "lm_head" => {
                    Some((PINNED_LAYER.to_owned(), tensor.to_owned()))
                }
                _ => Some((layer, name)),
            }
        };
        let inference = |largest_layer: u64| InferenceEstimate::Decoder {
            hidden: c.hidden as u64,
            intermediate: c.intermediate as u64,
            heads: c.heads as u64,
            q_width: (c.heads * c.head_dim) as u64,
            kv_width: (c.kv_heads * c.head_dim) as u64,
            layers: c.layers as u64,
            bytes_per_element: 4,
            widened_weights: widened(held_as, largest_layer),
        };
        let pinned: &[(&str, &str)] = match c.tied {
            true => &[("model.embed_tokens", EMBED_TABLE)],
            false => &[
                ("model.embed_tokens", EMBED_TABLE),
                ("lm_head", OUTPUT_TABLE),
            ],
        };
        let layout = WeightLayout {
            name: base,
            layers: crate::exec::LayeredModel::layer_names(&llama),
            layer_of: &layer_of,
            inference: &inference,
            pinned,
            // The output projection reads every row of its table per step (the token table's,
            // when tied), so the tables stay whole in wasm memory.
            row_read: &[],
        };
        let placed = (self.place_weights(source, base, &layout, options, progress)).await?;
        let mut info = ModelInfo::placed(
            &placed,
            ModelKind::CausalLm,
            base,
            layout.layers.len(),
            Dtype::from(held_as),
        );
        info.dimension = c.hidden;
        info.vocab_size = Some(c.vocab);
        info.context_length = Some(c.max_positions);
        let output_table = if c.tied { EMBED_TABLE } else { OUTPUT_TABLE };
        let model = CausalLm {
            llama,
            codec,
            eos,
            output_table,
            decode_split: None,
        };
        self.register_model(placed, base, Kind::CausalLm(Box::new(model)));
        Ok(info)
    }
}

/// A file the folder may lack: `None` on 404.
async fn optional<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
) -> Result<Option<Vec<u8>>, Error> {
    match fetch_file(source, options, url, TOKENIZER_LIMIT).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FetchError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
