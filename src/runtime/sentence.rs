//! Sentence-embedding models (BERT with the sentence-transformers head): loading; `embed` is
//! in [`embed`](super::embed).

use crate::Error;
use crate::fetch::{ByteSource, LoadOptions, Progress, fetch_file};
use crate::manager::{Dtype, InferenceEstimate};
use crate::models::bert::{
    BertConfig, BertModel, EMBEDDINGS_LAYER, MODULES_FILE, PoolingConfig, SENTENCE_BERT_FILE,
    SentenceBertConfig, SentenceHead, SentenceModules, SentenceTokenizer, TOKENIZER_FILE,
    WORD_TABLE, layer_of,
};
use crate::runtime::Runtime;
use crate::runtime::models::{CONFIG_LIMIT, Kind, ModelInfo, ModelKind, TOKENIZER_LIMIT};
use crate::runtime::placement::{PINNED_LAYER, WeightLayout};
use crate::weights::ConvertTarget;

/// A loaded sentence-embedding model: the architecture and tokenizer. Its weights live in the
/// executor (the word table pinned there, gathered on the host), its placement in the
/// manager's books.
#[derive(Debug)]
pub struct SentenceModel {
    pub(super) bert: BertModel,
    pub(super) tokenizer: SentenceTokenizer,
}

impl Runtime {
    /// Loads a sentence-transformers model from `base` (`config.json` given as `config`,
    /// `modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`, `tokenizer.json`,
    /// and `model.safetensors.index.json` + shards or `model.safetensors`).
    ///
    /// # Errors
    /// As [`load_model`](Self::load_model).
    pub(super) async fn load_sentence<S: ByteSource>(
        &mut self,
        source: &S,
        base: &str,
        config: &[u8],
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<ModelInfo, Error> {
        let file = |name: &str| format!("{base}/{name}");
        let small =
            |name: String, limit| async move { fetch_file(source, options, &name, limit).await };
        let config = BertConfig::from_json(config)?;
        let modules = SentenceModules::from_json(&small(file(MODULES_FILE), CONFIG_LIMIT).await?)?;
        let pooling_path = file(&modules.pooling_config_path());
        let pooling = PoolingConfig::from_json(&small(pooling_path, CONFIG_LIMIT).await?)?;
        let sentence = small(file(SENTENCE_BERT_FILE), CONFIG_LIMIT).await?;
        let head = SentenceHead::new(&modules, pooling, SentenceBertConfig::from_json(&sentence)?);
        let tokenizer_json = small(file(TOKENIZER_FILE), TOKENIZER_LIMIT).await?;
        let tokenizer = SentenceTokenizer::from_bytes(&tokenizer_json, &head)?;
        drop(tokenizer_json);
        let bert = BertModel::new(config, head)?;

        let held_as = self.weight_dtype();
        // The word table is gathered on the host: pinned in wasm memory, never uploaded.
        let layer_of = |tensor: &str| {
            let (layer, name) = layer_of(tensor)?;
            match layer == EMBEDDINGS_LAYER && name == WORD_TABLE {
                true => Some((PINNED_LAYER.to_owned(), name)),
                false => Some((layer, name)),
            }
        };
        let config = bert.config();
        let (hidden, intermediate) = (config.hidden_size(), config.intermediate_size());
        let heads = config.num_attention_heads() as u64;
        let inference = |largest_layer: u64| InferenceEstimate::Encoder {
            hidden: hidden as u64,
            intermediate: intermediate as u64,
            heads,
            bytes_per_element: 4,
            widened_weights: widened(held_as, largest_layer),
        };
        let layout = WeightLayout {
            name: base,
            layers: crate::exec::LayeredModel::layer_names(&bert),
            layer_of: &layer_of,
            inference: &inference,
            pinned: &[(EMBEDDINGS_LAYER, WORD_TABLE)],
            row_read: &[WORD_TABLE],
        };
        let placed = (self.place_weights(source, base, &layout, options, progress)).await?;
        let kind = ModelKind::SentenceEmbedding;
        let mut info = ModelInfo::placed(
            &placed,
            kind,
            base,
            layout.layers.len(),
            Dtype::from(held_as),
        );
        info.dimension = hidden;
        self.register_model(
            placed,
            base,
            Kind::Sentence(Box::new(SentenceModel { bert, tokenizer })),
        );
        Ok(info)
    }
}

/// Bytes of the f32 copies a layer held in f16 is widened into while it runs (twice its bytes).
pub(super) fn widened(held_as: ConvertTarget, largest_layer: u64) -> u64 {
    match held_as {
        ConvertTarget::F16 => largest_layer.saturating_mul(2),
        ConvertTarget::F32 => 0,
    }
}
