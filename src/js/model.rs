//! `Model` in JS: what `runtime.loadModel()` resolves to.

use std::rc::Rc;

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;

use super::runtime::Shared;
use super::{js_error, to_js, to_js_error};
use crate::runtime::ModelInfo;

/// A loaded model: `await model.embed(texts)`, `model.memoryMap()`, `await model.unload()`.
#[wasm_bindgen(js_name = Model)]
pub struct JsModel {
    shared: Rc<Shared>,
    info: ModelInfo,
    unloaded: bool,
}

impl JsModel {
    pub(crate) fn new(shared: Rc<Shared>, info: ModelInfo) -> Self {
        Self {
            shared,
            info,
            unloaded: false,
        }
    }

    fn check_loaded(&self) -> Result<(), JsValue> {
        match self.unloaded {
            true => Err(js_error(
                &format!("model {} was unloaded", self.info.url),
                "INVALID_STATE",
                &[],
            )),
            false => Ok(()),
        }
    }
}

#[wasm_bindgen(js_class = Model)]
impl JsModel {
    /// `{id, url, fileBytes, weightBytes, weightDtype, layers, dimension, shards}`.
    #[wasm_bindgen(getter, unchecked_return_type = "ModelInfo")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.info)
    }

    /// Sentence embeddings: one `Float32Array` per text, as sentence-transformers computes them
    /// (its truncation, pooling and normalisation).
    #[wasm_bindgen(unchecked_return_type = "Float32Array[]")]
    pub async fn embed(&self, texts: Vec<String>) -> Result<Array, JsValue> {
        Ok(self.embed_with_stats(texts).await?.0)
    }

    /// Like `embed`, resolving to `{vectors, stats}` where `stats` says what the call did
    /// (`forward.streamedLayers`, `forward.uploadedBytes`, `steppedDown`, `deviceReplaced`).
    #[wasm_bindgen(
        js_name = embedWithStats,
        unchecked_return_type = "{ vectors: Float32Array[], stats: EmbedStats }"
    )]
    pub async fn embed_with_stats_js(&self, texts: Vec<String>) -> Result<JsValue, JsValue> {
        let (vectors, stats) = self.embed_with_stats(texts).await?;
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"vectors".into(), &vectors)?;
        js_sys::Reflect::set(&out, &"stats".into(), &stats)?;
        Ok(out.into())
    }

    /// Every layer of this model with its bytes and tier (`gpu`, `host`, `cache`, `remote`).
    #[wasm_bindgen(js_name = memoryMap, unchecked_return_type = "LayerEntry[]")]
    pub fn memory_map(&self) -> Result<JsValue, JsValue> {
        let map = match self.shared.runtime.try_lock() {
            Some(runtime) => runtime.manager().memory_map(),
            None => self.shared.snapshot.borrow().stats.memory_map.clone(),
        };
        let id = crate::manager::ModelId::new(self.info.id);
        let layers: Vec<_> = (map.layers.iter())
            .filter(|layer| layer.model == id)
            .collect();
        to_js(&layers)
    }

    /// Releases the model: its layers leave the GPU and wasm memory. Calls afterwards fail with
    /// `INVALID_STATE`.
    pub async fn unload(&mut self) -> Result<(), JsValue> {
        if self.unloaded {
            return Ok(());
        }
        let mut runtime = self.shared.runtime.lock().await;
        let result = runtime.unload_model(self.info.id).await;
        self.shared.settle(runtime);
        self.unloaded = true;
        result.map_err(to_js_error)
    }
}

/// Dropping the handle (`model.free()`, or the garbage collector through wasm-bindgen's
/// finalizer) unloads the model, so a forgotten `Model` does not pin GPU and wasm memory. If a
/// call holds the runtime at that moment, the model stays until `unload`, `destroy` or the next
/// runtime.
impl Drop for JsModel {
    fn drop(&mut self) {
        if self.unloaded {
            return;
        }
        if let Some(mut runtime) = self.shared.runtime.try_lock() {
            let _ = runtime.forget(crate::manager::ModelId::new(self.info.id));
            self.shared.settle(runtime);
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
}

impl JsModel {
    async fn embed_with_stats(&self, texts: Vec<String>) -> Result<(Array, JsValue), JsValue> {
        self.check_loaded()?;
        let mut runtime = self.shared.runtime.lock().await;
        let result = runtime.embed(self.info.id, &texts).await;
        self.shared.settle(runtime);
        let report = result.map_err(to_js_error)?;
        let vectors = report
            .vectors
            .iter()
            .map(|v| JsValue::from(Float32Array::from(v.as_slice())))
            .collect();
        let stats = to_js(&Stats {
            forward: &report.forward,
            stepped_down: report.stepped_down,
            device_replaced: report.device_replaced,
        })?;
        Ok((vectors, stats))
    }
}
