//! `Runtime` in JS: create, inspect, load models, free memory.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::lock::Mutex;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use super::model::JsModel;
use super::weights::{cache_option, fetch_error, load_options};
use super::{parse_options, to_js, to_js_error};
use crate::fetch::{CacheMode, CachedSource, FetchSource, ModelCache, Progress};
use crate::{Runtime, SystemStats};

/// The runtime shared by the JS `Runtime` and its `Model`s. Calls that await the GPU hold the
/// async lock, so concurrent JS calls run one after another instead of failing.
pub(crate) struct Shared {
    pub runtime: Mutex<Runtime>,
    /// What the sync getters answer while a call holds the lock: refreshed after every call.
    pub snapshot: RefCell<Snapshot>,
}

/// The last state the sync getters saw.
pub(crate) struct Snapshot {
    pub vram_state: String,
    pub stats: SystemStats,
}

impl Snapshot {
    fn of(runtime: &Runtime) -> Self {
        Self {
            vram_state: runtime.vram_state().to_owned(),
            stats: runtime.system_stats(),
        }
    }
}

impl Shared {
    /// Refreshes the snapshot from `runtime`.
    pub fn remember(&self, runtime: &Runtime) {
        *self.snapshot.borrow_mut() = Snapshot::of(runtime);
    }
}

/// The webvram runtime, as JS sees it: `await Runtime.create(options)`.
#[wasm_bindgen(js_name = Runtime)]
pub struct JsRuntime {
    shared: Rc<Shared>,
    adapter: JsValue,
}

#[wasm_bindgen(js_class = Runtime)]
impl JsRuntime {
    /// Probe WebGPU and start the runtime; falls back to the CPU (state `DISABLED`) when the
    /// page has no WebGPU adapter.
    pub async fn create(options: JsValue) -> Result<JsRuntime, JsValue> {
        console_error_panic_hook::set_once();
        let options = parse_options(options)?;
        let runtime = Runtime::create(options).await.map_err(to_js_error)?;
        let adapter = to_js(runtime.adapter())?;
        let shared = Shared {
            snapshot: RefCell::new(Snapshot::of(&runtime)),
            runtime: Mutex::new(runtime),
        };
        Ok(JsRuntime {
            shared: Rc::new(shared),
            adapter,
        })
    }

    /// The adapter profile: vendor, architecture, description, features, limits, host facts.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> JsValue {
        self.adapter.clone()
    }

    /// ComfyUI's VRAM state name (`"SHARED"`, `"DISABLED"`, …); it can step down after an
    /// out-of-memory error.
    #[wasm_bindgen(getter, js_name = vramState)]
    pub fn vram_state(&self) -> String {
        match self.shared.runtime.try_lock() {
            Some(runtime) => runtime.vram_state().to_owned(),
            None => self.shared.snapshot.borrow().vram_state.clone(),
        }
    }

    /// ComfyUI's `/system_stats` object, with the same field names, plus `policy`, `books` and
    /// `memory_map`. While another call is running, the state after the previous call.
    #[wasm_bindgen(js_name = systemStats)]
    pub fn system_stats(&self) -> Result<JsValue, JsValue> {
        match self.shared.runtime.try_lock() {
            Some(runtime) => to_js(&runtime.system_stats()),
            None => to_js(&self.shared.snapshot.borrow().stats),
        }
    }

    /// Loads the sentence-transformers model in the folder at `url` (HF layout). Options:
    /// `onProgress({phase, loaded, total, shard, tensor})`, `signal` (AbortSignal), `cache`
    /// (`true` — the default — `false` or `"revalidate"`), `chunkSize`, `maxRetries`,
    /// `retryBackoffMs`, `sha256`, `allowExternal`.
    #[wasm_bindgen(js_name = loadModel)]
    pub async fn load_model(&self, url: String, options: JsValue) -> Result<JsModel, JsValue> {
        let (load, signal, on_progress) = load_options(&options)?;
        let mode = cache_option(&options, CacheMode::Prefer)?;
        let report = |p: &Progress<'_>| emit(on_progress.as_ref(), p);
        let network = FetchSource::new(signal);
        let mut runtime = self.shared.runtime.lock().await;
        let loaded = match ModelCache::open_for(mode).await {
            None => runtime.load_model(&network, &url, &load, report).await,
            Some(cache) => {
                let source = CachedSource::new(network, cache, &url, mode).await;
                let loaded = runtime.load_model(&source, &url, &load, report).await;
                source.finish(loaded.is_ok()).await;
                loaded
            }
        };
        self.shared.remember(&runtime);
        let info = loaded.map_err(|err| match err {
            crate::Error::Fetch(err) => fetch_error(err),
            other => to_js_error(other),
        })?;
        Ok(JsModel::new(self.shared.clone(), info))
    }

    /// ComfyUI's `POST /free`: `{unloadModels, freeMemory}` (both default `true`). Unloaded
    /// models stay usable; their layers return to the GPU on the next call.
    pub async fn free(&self, options: JsValue) -> Result<(), JsValue> {
        let flag = |key: &str| {
            Reflect::get(&options, &key.into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(true)
        };
        let (unload, free) = match options.is_object() {
            true => (flag("unloadModels"), flag("freeMemory")),
            false => (true, true),
        };
        let mut runtime = self.shared.runtime.lock().await;
        let result = runtime.free(unload, free).await;
        self.shared.remember(&runtime);
        result.map_err(to_js_error)
    }
}

/// Sends a progress event to the caller's callback (if any); serialises only when there is one.
pub(crate) fn emit(callback: Option<&Function>, progress: &Progress<'_>) {
    if let Some(callback) = callback
        && let Ok(event) = to_js(progress)
    {
        let _ = callback.call1(&JsValue::NULL, &event);
    }
}
