//! Models in the runtime: loading a folder in HF layout, running it through the executor in
//! whatever VRAM state the manager chose, unloading it.

use serde::Serialize;

use crate::Error;
use crate::exec::ExecError;
use crate::fetch::{ByteSource, LoadOptions, Loaded, Progress, fetch_file};
use crate::manager::{Dtype, InferenceEstimate, ModelId};
use crate::models::bert::{
    BertConfig, BertModel, CONFIG_FILE, EMBEDDINGS_LAYER, MODULES_FILE, PoolingConfig,
    SENTENCE_BERT_FILE, SentenceBertConfig, SentenceHead, SentenceModules, SentenceTokenizer,
    TOKENIZER_FILE, WORD_TABLE, layer_of,
};
use crate::runtime::Runtime;
use crate::runtime::placement::{PINNED_LAYER, WeightLayout};
use crate::weights::ConvertTarget;

/// Largest config file read whole (configs are a few hundred bytes).
const CONFIG_LIMIT: u64 = 1 << 20;
/// Largest `tokenizer.json` read whole (BERT's is ~700 KB; multilingual ones reach ~20 MB).
const TOKENIZER_LIMIT: u64 = 64 << 20;

/// A loaded sentence-embedding model: the architecture and tokenizer. Its weights live in the
/// executor (the word table pinned there, gathered on the host), its placement in the
/// manager's books.
#[derive(Debug)]
pub struct SentenceModel {
    url: String,
    pub(super) bert: BertModel,
    pub(super) tokenizer: SentenceTokenizer,
    loaded: Loaded,
}

/// What `loadModel` reports about a model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The runtime's handle for it.
    pub id: u32,
    /// The folder it was loaded from.
    pub url: String,
    /// Bytes of its weight files.
    pub file_bytes: u64,
    /// Bytes of its weights as held (f32, or f16 with `shader-f16`), what the manager books.
    pub weight_bytes: u64,
    /// What its weights are held in: `"f32"` or `"f16"`.
    pub weight_dtype: Dtype,
    /// Layers registered with the manager.
    pub layers: usize,
    /// Width of its embeddings.
    pub dimension: usize,
    /// Weight files read.
    pub shards: Vec<String>,
}

impl Runtime {
    /// Loads the sentence-transformers model in the folder at `folder` (HF layout: `config.json`,
    /// `modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`, `tokenizer.json`, and
    /// `model.safetensors.index.json` + shards or `model.safetensors`): its layers are
    /// registered and planned from the headers, then kept in wasm memory as they stream in as
    /// far as the host budget allows (the rest is read back from the cache or the network when
    /// a call needs it, once a layer reader is set). Nothing is uploaded yet: the first
    /// [`embed`](Self::embed) places the layers as the VRAM state says.
    ///
    /// # Errors
    /// [`Error::Fetch`] (naming the file), [`Error::Model`] for invalid configs, [`Error::Manager`].
    pub async fn load_model<S: ByteSource>(
        &mut self,
        source: &S,
        folder: &str,
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<ModelInfo, Error> {
        self.check_alive()?;
        let base = folder.trim_end_matches('/');
        let file = |name: &str| format!("{base}/{name}");
        let small =
            |name: String, limit| async move { fetch_file(source, options, &name, limit).await };
        let config = BertConfig::from_json(&small(file(CONFIG_FILE), CONFIG_LIMIT).await?)?;
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
            widened_weights: match held_as {
                ConvertTarget::F16 => largest_layer.saturating_mul(2),
                ConvertTarget::F32 => 0,
            },
        };
        let layout = WeightLayout {
            name: base,
            layers: crate::exec::LayeredModel::layer_names(&bert),
            layer_of: &layer_of,
            inference: &inference,
            pinned: &[(EMBEDDINGS_LAYER, WORD_TABLE)],
        };
        let placed = (self.place_weights(source, base, &layout, options, progress)).await?;
        let id = placed.id;
        let loaded = placed.loaded;
        let dtype = Dtype::from(held_as);
        let info = ModelInfo {
            id: id.get(),
            url: base.to_owned(),
            file_bytes: loaded.total(),
            weight_bytes: placed.weight_bytes,
            weight_dtype: dtype,
            layers: layout.layers.len(),
            dimension: bert.config().hidden_size(),
            shards: loaded
                .shards()
                .iter()
                .map(|s| s.name().to_owned())
                .collect(),
        };
        let model = SentenceModel {
            url: base.to_owned(),
            bert,
            tokenizer,
            loaded,
        };
        self.models.insert(id, model);
        Ok(info)
    }

    /// Unloads model `id`: its layers leave the device and wasm memory, and the manager forgets it.
    ///
    /// # Errors
    /// [`Error::UnknownModel`].
    pub async fn unload_model(&mut self, id: u32) -> Result<(), Error> {
        self.check_alive()?;
        self.forget(ModelId::new(id))
    }

    /// Removes a model from the runtime, the executor and the books.
    pub(crate) fn forget(&mut self, model_id: ModelId) -> Result<(), Error> {
        if self.models.remove(&model_id).is_none() {
            return Err(Error::UnknownModel(model_id.get()));
        }
        self.drop_weights(model_id);
        Ok(())
    }

    /// The folder model `id` was loaded from, and what its load read.
    pub fn model(&self, id: u32) -> Option<(&str, &Loaded)> {
        let model = self.models.get(&ModelId::new(id))?;
        Some((model.url.as_str(), &model.loaded))
    }

    /// Opens a new device after a loss and moves every model onto it.
    pub(super) async fn replace_device(&mut self) -> Result<(), Error> {
        let (_, gpu) = crate::device::open(self.power).await?;
        let gpu = gpu.ok_or_else(|| ExecError::DeviceLost {
            reason: "the device was lost and no adapter is available any more".into(),
        })?;
        self.exec.replace_device(gpu, &mut self.manager).await;
        Ok(())
    }

    /// Milliseconds since the runtime started: the manager's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}
