//! Models in the runtime: loading a folder in HF layout, running it through the executor in
//! whatever VRAM state the manager chose, unloading it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Error;
use crate::exec::{ExecError, ForwardStats, HostSink, HostTensor, Run};
use crate::fetch::{ByteSource, FetchError, LoadOptions, Loaded, Progress, fetch_file, load_model};
use crate::manager::{Dtype, InferenceEstimate, LayerSpec, ModelId, ModelSpec, Workload};
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
    bert: BertModel,
    /// The word-embedding table, kept in wasm memory: lookups are gathered on the host.
    words: HostTensor,
    tokenizer: SentenceTokenizer,
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

/// The longest text `embed` takes, in characters (Unicode scalar values). The model reads at
/// most its `max_seq_length` tokens (256 for all-MiniLM-L6-v2, about 1,500 characters of
/// English); the cap only keeps a runaway input from filling wasm memory while it is tokenized.
pub const MAX_TEXT_CHARS: usize = 1 << 20;

/// The most characters one `embed` call takes over all its texts.
pub const MAX_CALL_CHARS: usize = 16 << 20;

/// How one `embed` call treats its texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Cut texts longer than the model's `max_seq_length` (as sentence-transformers does, and
    /// reported in [`EmbedReport::truncated`]); `false` refuses them with
    /// [`Error::InvalidInput`] naming the text and its token count.
    pub truncate: bool,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self { truncate: true }
    }
}

/// What one `embed` call did, next to its vectors.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedReport {
    /// One unit-length (when the model normalises) vector per text.
    #[serde(skip)]
    pub vectors: Vec<Vec<f32>>,
    /// Layers streamed in for this call, bytes uploaded, peak pool bytes.
    pub forward: ForwardStats,
    /// Whether an out-of-memory error stepped the budget down during the call.
    pub stepped_down: bool,
    /// Whether the device was lost and replaced during the call.
    pub device_replaced: bool,
    /// The indices of the texts cut at the model's `max_seq_length`, ascending.
    pub truncated: Vec<usize>,
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

    /// Embeds `texts` with model `id`: places its layers as the manager plans for this workload
    /// (streaming what does not fit), runs the encoder layer by layer and pools. On out-of-memory
    /// the budget steps down once and the call is retried; on a lost device a new one is opened,
    /// the resident layers restored, and the call retried once.
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::Model`] (tokenizer), [`Error::Exec`] (`OOM` after the
    /// step-down, `DEVICE_LOST` when no new device could be had), [`Error::Manager`].
    pub async fn embed(&mut self, id: u32, texts: &[String]) -> Result<EmbedReport, Error> {
        self.embed_with(id, texts, &EmbedOptions::default()).await
    }

    /// [`embed`](Self::embed) with options. No texts give no vectors, without planning anything.
    ///
    /// # Errors
    /// As [`embed`](Self::embed); [`Error::InvalidInput`] for a text over [`MAX_TEXT_CHARS`],
    /// texts over [`MAX_CALL_CHARS`] together, or (with `truncate: false`) a text longer than
    /// the model takes.
    pub async fn embed_with(
        &mut self,
        id: u32,
        texts: &[String],
        options: &EmbedOptions,
    ) -> Result<EmbedReport, Error> {
        self.check_alive()?;
        let model_id = ModelId::new(id);
        let model = self.models.get(&model_id).ok_or(Error::UnknownModel(id))?;
        check_texts(texts)?;
        if texts.is_empty() {
            return Ok(EmbedReport::default());
        }
        let (tokens, truncated) = model.tokenizer.encode_reporting(texts)?;
        if !options.truncate
            && let Some(&index) = truncated.first()
        {
            let length = model.tokenizer.full_length(&texts[index])?;
            let most = model.tokenizer.max_length();
            return Err(Error::InvalidInput {
                argument: format!("texts[{index}]"),
                message: format!(
                    "{length} tokens, but the model takes at most {most}; shorten the text or \
                     pass truncate: true to cut it"
                ),
            });
        }
        let workload = Workload {
            batch: tokens.batch() as u64,
            sequence: tokens.seq() as u64,
        };
        let request = self.manager.request_for(&[model_id], workload)?;
        let mut device_replaced = false;
        let (stats, oom, values, width) = loop {
            let now = self.now_ms();
            self.check_alive()?;
            let model = self.models.get(&model_id).ok_or(Error::UnknownModel(id))?;
            let (bert, words) = (&model.bert, &model.words);
            let input = |device: &_| bert.input_with_table(&tokens, words, device);
            let result = (self.exec)
                .load_and_run(&mut self.manager, model_id, bert, &request, input, now)
                .await;
            // Reading the output is where a lost device shows up natively: inside the loop.
            let result = match result {
                Ok(Run {
                    output, stats, oom, ..
                }) => {
                    let pooled = bert.pool(output)?;
                    let [_, width] = pooled.dims();
                    (self.exec.read(pooled).await).map(|values| (stats, oom, values, width))
                }
                Err(err) => Err(err),
            };
            match result {
                Err(ExecError::DeviceLost { .. }) if !device_replaced => {
                    if let Err(err) = self.replace_device().await {
                        self.note(None, Some(false));
                        return Err(err);
                    }
                    device_replaced = true;
                }
                Ok(done) => break done,
                Err(err) => {
                    self.note(None, device_replaced.then_some(true));
                    return Err(err.into());
                }
            }
        };
        let stepped_down = oom.is_some();
        self.note(oom, device_replaced.then_some(true));
        let vectors = values.chunks(width.max(1)).map(<[f32]>::to_vec).collect();
        Ok(EmbedReport {
            vectors,
            forward: stats,
            stepped_down,
            device_replaced,
            truncated,
        })
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
    async fn replace_device(&mut self) -> Result<(), Error> {
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

/// Refuses texts over [`MAX_TEXT_CHARS`], or over [`MAX_CALL_CHARS`] together.
fn check_texts(texts: &[String]) -> Result<(), Error> {
    let mut total = 0usize;
    for (index, text) in texts.iter().enumerate() {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(Error::InvalidInput {
                argument: format!("texts[{index}]"),
                message: format!(
                    "{chars} characters; at most {MAX_TEXT_CHARS} are taken (the model reads only \
                     its first few hundred tokens)"
                ),
            });
        }
        total += chars;
    }
    if total > MAX_CALL_CHARS {
        return Err(Error::InvalidInput {
            argument: "texts".into(),
            message: format!(
                "{total} characters in all; one call takes at most {MAX_CALL_CHARS}: split it"
            ),
        });
    }
    Ok(())
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
