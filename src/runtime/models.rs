//! The runtime's model registry: loading a folder in HF layout as the kind its `config.json`
//! names, unloading it, and the calls every kind shares. What each kind does is in its own
//! module ([`sentence`](super::sentence), [`decoder`](super::decoder)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::exec::ExecError;
use crate::fetch::{ByteSource, LoadOptions, Loaded, Progress, fetch_file};
use crate::manager::{Dtype, ModelId};
use crate::models::llama::DECODER_TYPES;
use crate::runtime::Runtime;
use crate::runtime::decoder::CausalLm;
use crate::runtime::placement::Placed;
use crate::runtime::sentence::SentenceModel;

/// Largest config file read whole (configs are a few hundred bytes).
pub(super) const CONFIG_LIMIT: u64 = 1 << 20;
/// Largest `tokenizer.json` read whole (BERT's is ~700 KB; multilingual ones reach ~20 MB).
pub(super) const TOKENIZER_LIMIT: u64 = 64 << 20;
/// The file whose `model_type` says which kind a folder holds.
const CONFIG_FILE: &str = "config.json";

/// What a model is for: the calls it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Texts to vectors (`embed`).
    SentenceEmbedding,
    /// Text generation (`generate`, `logits`, `tokenize`, `decode`).
    CausalLm,
}

impl ModelKind {
    /// The name the JS layer and errors use.
    pub fn name(self) -> &'static str {
        match self {
            Self::SentenceEmbedding => "sentence-embedding",
            Self::CausalLm => "causal-lm",
        }
    }
}

/// A model in the registry: where it came from, what its load read, and its kind's state.
#[derive(Debug)]
pub(crate) struct LoadedModel {
    pub url: String,
    pub loaded: Loaded,
    pub kind: Kind,
    /// Pinned tensors left in their files and read by rows per call.
    pub row_read: Vec<String>,
}

/// A model kind's own state (architecture and tokenizer; weights are in the executor).
#[derive(Debug)]
pub(crate) enum Kind {
    Sentence(Box<SentenceModel>),
    CausalLm(Box<CausalLm>),
}

/// What `loadModel` reports about a model.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The runtime's handle for it.
    pub id: u32,
    /// What it is for.
    pub kind: ModelKind,
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
    /// Width of its embeddings (an encoder's output, a decoder's hidden states).
    pub dimension: usize,
    /// A causal LM's vocabulary size (the length of `logits`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// A causal LM's longest context (`max_position_embeddings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_length: Option<usize>,
    /// Weight files read.
    pub shards: Vec<String>,
    /// Lookup tables left in their files because they did not fit `hostBudget`: each call reads
    /// only the rows it needs from Cache Storage (or the network).
    pub row_read_tables: Vec<String>,
}

impl ModelInfo {
    /// The fields every kind fills the same way, from its placed weights.
    pub(super) fn placed(
        placed: &Placed,
        kind: ModelKind,
        url: &str,
        layers: usize,
        dtype: Dtype,
    ) -> Self {
        Self {
            id: placed.id.get(),
            kind,
            url: url.to_owned(),
            file_bytes: placed.loaded.total(),
            weight_bytes: placed.weight_bytes,
            weight_dtype: dtype,
            layers,
            dimension: 0,
            vocab_size: None,
            context_length: None,
            shards: (placed.loaded.shards().iter())
                .map(|s| s.name().to_owned())
                .collect(),
            row_read_tables: placed.row_read.clone(),
        }
    }
}

#[derive(Deserialize)]
struct ModelType {
    model_type: Option<String>,
}

impl Runtime {
    /// Loads the model in the folder at `folder` (HF layout) as the kind its `config.json`'s
    /// `model_type` names: `bert` → a sentence-transformers encoder (see
    /// [`load_sentence`](Self::load_sentence)), `llama` / `qwen2` → a causal LM (see
    /// [`load_decoder`](Self::load_decoder)). Its layers are registered and planned from the
    /// headers, then kept in wasm memory as they stream in as far as the host budget allows
    /// (the rest is read back from the cache or the network when a call needs it, once a layer
    /// reader is set). Nothing is uploaded yet: the first call places the layers as the VRAM
    /// state says.
    ///
    /// # Errors
    /// [`Error::Fetch`] (naming the file), [`Error::Model`] for invalid or unsupported configs,
    /// [`Error::Manager`].
    pub async fn load_model<S: ByteSource>(
        &mut self,
        source: &S,
        folder: &str,
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<ModelInfo, Error> {
        self.check_alive()?;
        let base = folder.trim_end_matches('/');
        let config_url = format!("{base}/{CONFIG_FILE}");
        let config = fetch_file(source, options, &config_url, CONFIG_LIMIT).await?;
        let kind: ModelType = crate::models::parse_json(CONFIG_FILE, &config)?;
        match kind.model_type.as_deref() {
            Some(t) if DECODER_TYPES.contains(&t) => {
                self.load_decoder(source, base, &config, options, progress)
                    .await
            }
            _ => {
                self.load_sentence(source, base, &config, options, progress)
                    .await
            }
        }
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

    /// What model `id` is for.
    pub fn model_kind(&self, id: u32) -> Option<ModelKind> {
        self.models.get(&ModelId::new(id)).map(|m| m.kind.kind())
    }

    /// Adds a placed model to the registry.
    pub(super) fn register_model(&mut self, placed: Placed, url: &str, kind: Kind) {
        let model = LoadedModel {
            url: url.to_owned(),
            loaded: placed.loaded,
            kind,
            row_read: placed.row_read,
        };
        self.models.insert(placed.id, model);
    }

    /// Model `id`'s entry, checked to exist.
    pub(super) fn entry(&self, id: ModelId) -> Result<&LoadedModel, Error> {
        entry(&self.models, id)
    }

    /// Opens a new device after a loss and moves every model onto it.
    pub(super) async fn replace_device(&mut self) -> Result<(), Error> {
        let (_, gpu) = crate::device::open(self.power, self.max_binding_bytes).await?;
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

/// Model `id`'s entry in `models`, checked to exist: a borrow of the registry alone, so the
/// executor and the manager can be borrowed mutably beside it.
pub(super) fn entry(
    models: &BTreeMap<ModelId, LoadedModel>,
    id: ModelId,
) -> Result<&LoadedModel, Error> {
    models.get(&id).ok_or(Error::UnknownModel(id.get()))
}

impl Kind {
    /// What this kind is for.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::Sentence(_) => ModelKind::SentenceEmbedding,
            Self::CausalLm(_) => ModelKind::CausalLm,
        }
    }

    /// The sentence encoder, or [`Error::WrongKind`] naming `call`.
    pub fn sentence(&self, id: ModelId, call: &'static str) -> Result<&SentenceModel, Error> {
        match self {
            Self::Sentence(m) => Ok(m),
            other => Err(other.wrong(id, call)),
        }
    }

    /// The causal LM, or [`Error::WrongKind`] naming `call`.
    pub fn causal(&self, id: ModelId, call: &'static str) -> Result<&CausalLm, Error> {
        match self {
            Self::CausalLm(m) => Ok(m),
            other => Err(other.wrong(id, call)),
        }
    }

    fn wrong(&self, id: ModelId, call: &'static str) -> Error {
        Error::WrongKind {
            model: id.get(),
            kind: self.kind().name(),
            call,
        }
    }
}
