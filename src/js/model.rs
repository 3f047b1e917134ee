//! `Model` in JS: what `runtime.loadModel()` resolves to.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::args::{bool_option, function_option, options_object, signal_option, texts_arg};
use super::panic;
use super::runtime::{Shared, emit};
use super::{js_error, to_js, to_js_error};
use crate::manager::ModelId;
use crate::runtime::{EmbedOptions, ModelInfo};

/// The hidden method `loadModelsGpu` calls on each item to learn which runtime and model it is:
/// wasm-bindgen's glue runs it on the real handle (or throws for a freed one).
pub(crate) const HANDLE_METHOD: &str = "__webvramHandle";

/// `embed`'s option keys.
const EMBED_KEYS: [&str; 3] = ["truncate", "onProgress", "signal"];

/// A loaded model: `await model.embed(texts)`, `model.memoryMap()`, `await model.unload()`.
///
/// Every method takes `&self` and goes through the runtime's lock, so any interleaving of calls
/// is served in order (or refused with a webvram error). The async ones return a promise built
/// from a clone of the handle's state, so no call keeps the JS object borrowed: `free()` during
/// an `embed` drops the handle (the model is unloaded when the lock frees) instead of failing
/// with wasm-bindgen's "attempted to take ownership of Rust value while it was borrowed".
#[wasm_bindgen(js_name = Model)]
pub struct JsModel {
    pub(super) handle: Rc<Handle>,
}

/// What a `Model` knows, shared with its calls in flight.
pub(super) struct Handle {
    pub(super) shared: Rc<Shared>,
    pub(super) info: ModelInfo,
    unloaded: Cell<bool>,
}

impl JsModel {
    pub(crate) fn new(shared: Rc<Shared>, info: ModelInfo) -> Self {
        let handle = Handle {
            shared,
            info,
            unloaded: Cell::new(false),
        };
        Self {
            handle: Rc::new(handle),
        }
    }
}

impl Handle {
    fn id(&self) -> ModelId {
        ModelId::new(self.info.id)
    }

    pub(super) fn check_loaded(&self) -> Result<(), JsValue> {
        panic::check()?;
        match self.unloaded.get() {
            true => Err(js_error(
                &format!("model {} was unloaded; load it again", self.info.url),
                "INVALID_STATE",
                &[],
            )),
            false => Ok(()),
        }
    }
}

#[wasm_bindgen(js_class = Model)]
impl JsModel {
    /// `{id, kind, url, fileBytes, weightBytes, weightDtype, layers, dimension, vocabSize?,
    /// contextLength?, shards}`; `kind` is `'sentence-embedding'` or `'causal-lm'`.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        panic::check()?;
        to_js(&self.handle.info)
    }

    /// Sentence embeddings: one `Float32Array` per text, as sentence-transformers computes them
    /// (its truncation, pooling and normalisation). `{truncate: false}` refuses a text longer
    /// than the model takes instead of cutting it.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedOptions")] options: Option<JsValue>,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            let (vectors, _) = handle.embed_with_stats(texts, options).await?;
            Ok(vectors.into())
        })
    }

    /// Like `embed`, resolving to `{vectors, stats}` where `stats` says what the call did
    /// (`forward.streamedLayers`, `forward.uploadedBytes`, `steppedDown`, `deviceReplaced`,
    /// `truncated`).
    #[wasm_bindgen(
        js_name = embedWithStats,
        unchecked_return_type = "Promise<{ vectors: Float32Array[], stats: EmbedStats }>"
    )]
    pub fn embed_with_stats_js(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedOptions")] options: Option<JsValue>,
    ) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            let (vectors, stats) = handle.embed_with_stats(texts, options).await?;
            let out = js_sys::Object::new();
            js_sys::Reflect::set(&out, &"vectors".into(), &vectors)?;
            js_sys::Reflect::set(&out, &"stats".into(), &stats)?;
            Ok(out.into())
        })
    }

    /// Every layer of this model with its bytes and tier (`gpu`, `host`, `cache`, `remote`).
    #[wasm_bindgen(js_name = memoryMap, unchecked_return_type = "LayerEntry[]")]
    pub fn memory_map(&self) -> Result<JsValue, JsValue> {
        panic::check()?;
        let shared = &self.handle.shared;
        let map = match shared.try_lock() {
            Some(runtime) => runtime.manager().memory_map(),
            None => shared.snapshot.borrow().stats.memory_map.clone(),
        };
        let layers: Vec<_> = (map.layers.iter())
            .filter(|layer| layer.model == self.handle.id())
            .collect();
        to_js(&layers)
    }

    /// Releases the model: its layers leave the GPU and wasm memory. Calls afterwards fail with
    /// `INVALID_STATE`; a second `unload` does nothing.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn unload(&self) -> Promise {
        let handle = self.handle.clone();
        future_to_promise(async move {
            handle.unload().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `[runtime identity, model id, unloaded]`, for `loadModelsGpu` (see [`HANDLE_METHOD`]).
    #[wasm_bindgen(js_name = __webvramHandle, skip_typescript)]
    pub fn handle(&self) -> Array {
        let fields = [
            f64::from(self.handle.shared.uid),
            f64::from(self.handle.info.id),
            f64::from(u8::from(self.handle.unloaded.get())),
        ];
        fields.into_iter().map(JsValue::from).collect()
    }
}

/// Dropping the handle (`model.free()`, or the garbage collector through wasm-bindgen's
/// finalizer) unloads the model, so a forgotten `Model` does not pin GPU and wasm memory. If a
/// call holds the runtime at that moment, the model is unloaded as soon as that call ends.
impl Drop for JsModel {
    fn drop(&mut self) {
        let handle = &self.handle;
        if handle.unloaded.replace(true) {
            return;
        }
        handle.shared.dropped.borrow_mut().push(handle.id());
        if let Some(runtime) = handle.shared.try_lock() {
            handle.shared.settle(runtime);
        }
    }
}

/// `embedWithStats().stats`: the report without the vectors (they travel as `Float32Array`s).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats<'a> {
    forward: &'a crate::exec::ForwardStats,
    stepped_down: bool,
    device_replaced: bool,
    /// Batches the call was split into.
    batches: usize,
    /// How many texts were cut at the model's `max_seq_length`.
    truncated: usize,
    /// Which ones (indices into `texts`).
    truncated_texts: &'a [usize],
}

impl Handle {
    async fn unload(&self) -> Result<(), JsValue> {
        panic::check()?;
        if self.unloaded.replace(true) {
            return Ok(());
        }
        let mut runtime = self.shared.lock().await?;
        let result = runtime.unload_model(self.info.id).await;
        self.shared.settle(runtime);
        result.map_err(to_js_error)
    }

    async fn embed_with_stats(
        &self,
        texts: JsValue,
        options: Option<JsValue>,
    ) -> Result<(Array, JsValue), JsValue> {
        self.check_loaded()?;
        let texts = texts_arg(&texts)?;
        let options = options_object(&options.unwrap_or_default(), "embed", &EMBED_KEYS)?;
        let options = options.as_ref();
        let on_progress = function_option(options, "onProgress")?;
        let signal = signal_option(options, "signal")?;
        let cancel = signal.as_ref().map(crate::fetch::cancel_on_abort);
        let options = EmbedOptions {
            truncate: bool_option(options, "truncate")?.unwrap_or(true),
            cancel,
        };
        let mut runtime = self.shared.lock().await?;
        let report = |p| emit(on_progress.as_ref(), &p);
        let result = (runtime.embed_with(self.info.id, &texts, &options, report)).await;
        self.shared.settle(runtime);
        let report = result.map_err(to_js_error)?;
        let vectors = (report.vectors.iter())
            .map(|v| JsValue::from(Float32Array::from(v.as_slice())))
            .collect();
        let stats = to_js(&Stats {
            forward: &report.forward,
            stepped_down: report.stepped_down,
            device_replaced: report.device_replaced,
            batches: report.batches,
            truncated: report.truncated.len(),
            truncated_texts: &report.truncated,
        })?;
        Ok((vectors, stats))
    }
}
