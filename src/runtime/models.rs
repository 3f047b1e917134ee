//! Models in the runtime: loading a folder in HF layout, running it through the executor in
//! whatever VRAM state the manager chose, unloading it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Error;
use crate::exec::{ExecError, HostSink, HostTensor};
use crate::fetch::{ByteSource, FetchError, LoadOptions, Loaded, Progress, fetch_file, load_model};
use crate::manager::{Dtype, InferenceEstimate, LayerSpec, ModelId, ModelSpec};
use crate::models::bert::{
    BertConfig, BertModel, CONFIG_FILE, EMBEDDINGS_LAYER, MODULES_FILE, PoolingConfig,
    SENTENCE_BERT_FILE, SentenceBertConfig, SentenceHead, SentenceModules, SentenceTokenizer,
    TOKENIZER_FILE, WORD_TABLE, layer_of,
};
use crate::runtime::Runtime;
use crate::weights::ConvertTarget;

/// Largest config file read whole (configs are a few hundred bytes).
const CONFIG_LIMIT: u64 = 1 << 20;
/// Largest `tokenizer.json` read whole (BERT's is ~700 KB; multilingual ones reach ~20 MB).
const TOKENIZER_LIMIT: u64 = 64 << 20;

/// A loaded sentence-embedding model: the architecture and tokenizer. Its weights live in the
/// executor, its placement in the manager's books.
#[derive(Debug)]
pub struct SentenceModel {
    url: String,
    pub(super) bert: BertModel,
    /// The word-embedding table, kept in wasm memory: lookups are gathered on the host.
    pub(super) words: HostTensor,
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
    /// `model.safetensors.index.json` + shards or `model.safetensors`), streaming its weights
    /// into wasm memory and registering its layers with the manager. Nothing is uploaded yet:
    /// the first [`embed`](Self::embed) places the layers as the VRAM state says.
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
        let (mut layers, loaded) = load_weights(source, base, options, held_as, progress).await?;
        let words = (layers.get_mut(EMBEDDINGS_LAYER))
            .and_then(|layer| layer.tensors.remove(WORD_TABLE))
            .ok_or_else(|| ExecError::MissingTensor {
                layer: EMBEDDINGS_LAYER.into(),
                tensor: WORD_TABLE.into(),
            })?;
        let names = crate::exec::LayeredModel::layer_names(&bert);
        let dtype = Dtype::from(held_as);
        let specs = (names.iter().enumerate())
            .map(|(order, name)| {
                let bytes = layers.get(name).map_or(0, |l| l.bytes());
                LayerSpec::new(name.clone(), order as u32, dtype, bytes)
            })
            .collect();
        let config = bert.config();
        let largest_layer = layers.values().map(|l| l.bytes()).max().unwrap_or(0);
        let widened_weights = match held_as {
            ConvertTarget::F16 => largest_layer.saturating_mul(2),
            ConvertTarget::F32 => 0,
        };
        let spec = ModelSpec {
            name: base.to_owned(),
            dtype,
            layers: specs,
            inference: InferenceEstimate::Encoder {
                hidden: config.hidden_size() as u64,
                intermediate: config.intermediate_size() as u64,
                heads: config.num_attention_heads() as u64,
                bytes_per_element: 4,
                widened_weights,
            },
            cached: false,
        };
        let id = self.manager.register(spec)?;
        let weight_bytes = layers.values().map(|l| l.bytes()).sum();
        if let Err(err) = self.exec.insert_model(&self.manager, id, layers) {
            let _ = self.manager.unregister(id);
            return Err(err.into());
        }
        if let Some(files) = &self.files {
            let refetched = |tensor: &str| {
                layer_of(tensor)
                    .filter(|(layer, name)| !(layer == EMBEDDINGS_LAYER && name == WORD_TABLE))
            };
            files.register(id, &loaded, &refetched, held_as);
        }
        // The executor holds every layer in wasm memory now: the books say so too.
        let arrived = self.manager.loaded_into_host(id, self.now_ms())?;
        self.manager.confirm_all(&arrived);
        let info = ModelInfo {
            id: id.get(),
            url: base.to_owned(),
            file_bytes: loaded.total(),
            weight_bytes,
            weight_dtype: dtype,
            layers: names.len(),
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
            words,
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
        if let Some(files) = &self.files {
            files.forget(model_id);
        }
        // Dropping the executor's copies frees every byte the plan names, so confirming the
        // plan keeps the books true without executing each move.
        let plan = self.manager.evict_model(model_id)?;
        self.exec.remove_model(model_id);
        self.manager.confirm_all(&plan);
        self.manager.unregister(model_id)?;
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

/// Streams the weights of the model in `base` into wasm memory, grouped by layer. Tries a single
/// `model.safetensors` first (the common case, and the one a 404 probe would otherwise make noisy
/// in the console), then the sharded index.
async fn load_weights<S: ByteSource>(
    source: &S,
    base: &str,
    options: &LoadOptions,
    held_as: ConvertTarget,
    mut progress: impl FnMut(&Progress<'_>),
) -> Result<(BTreeMap<String, crate::exec::HostLayer>, Loaded), Error> {
    let layer_of = layer_of;
    let single = format!("{base}/model.safetensors");
    let mut sink = HostSink::new(&layer_of).storing(held_as);
    match load_model(source, &single, &mut sink, options, &mut progress).await {
        Ok(loaded) => return Ok((sink.into_layers(), loaded)),
        Err(FetchError::NotFound { url }) if url == single => {}
        Err(err) => return Err(err.into()),
    }
    let index = format!("{base}/model.safetensors.index.json");
    let mut sink = HostSink::new(&layer_of).storing(held_as);
    let loaded = load_model(source, &index, &mut sink, options, &mut progress).await?;
    Ok((sink.into_layers(), loaded))
}
