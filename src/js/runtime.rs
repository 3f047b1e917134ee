//! `Runtime` in JS: create, inspect, load models, free memory, listen, destroy.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::lock::{Mutex, MutexGuard};
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;

use super::model::JsModel;
use super::weights::{cache_option, fetch_error, load_options};
use super::{invalid_option, js_error, parse_options, storage, to_js, to_js_error};
use crate::fetch::{CacheMode, CachedSource, FetchSource, ModelCache, Progress, browser_sleep};
use crate::runtime::RuntimeEvent;
use crate::{Runtime, SystemStats};

/// The runtime shared by the JS `Runtime` and its `Model`s. Calls that await the GPU hold the
/// async lock, so concurrent JS calls run one after another instead of failing.
pub(crate) struct Shared {
    pub runtime: Mutex<Runtime>,
    /// What the sync getters answer while a call holds the lock: refreshed after every call.
    pub snapshot: RefCell<Snapshot>,
    /// Where `statechange`, `oom`, `devicelost` and `layermove` events are dispatched.
    events: web_sys::EventTarget,
    /// Whether budgets learned from out-of-memory events go to `localStorage`.
    remember_budget: bool,
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
    /// Ends a call: refreshes the snapshot, stores a learned budget, releases the lock and then
    /// dispatches what happened (so listeners may call back into the runtime).
    pub fn settle(&self, mut runtime: MutexGuard<'_, Runtime>) {
        *self.snapshot.borrow_mut() = Snapshot::of(&runtime);
        if let Some(learned) = runtime.take_learned()
            && self.remember_budget
        {
            storage::remember(&learned);
        }
        let events = runtime.take_events();
        drop(runtime);
        for event in &events {
            self.dispatch(event);
        }
    }

    fn dispatch(&self, event: &RuntimeEvent) {
        let Ok(detail) = to_js(event) else {
            return;
        };
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&detail);
        if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(event.kind(), &init) {
            let _ = self.events.dispatch_event(&event);
        }
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
    /// page has no WebGPU adapter. A budget learned from an earlier out-of-memory event on the
    /// same adapter applies unless `rememberBudget: false`.
    pub async fn create(
        #[wasm_bindgen(unchecked_optional_param_type = "RuntimeOptions")] options: Option<JsValue>,
    ) -> Result<JsRuntime, JsValue> {
        console_error_panic_hook::set_once();
        let (options, remember_budget) = parse_options(options.unwrap_or_default())?;
        let mut runtime = Runtime::create(options).await.map_err(to_js_error)?;
        runtime.set_layer_reader(Box::new(super::reader::BrowserReader));
        let adapter = to_js(runtime.adapter())?;
        let events = web_sys::EventTarget::new()?;
        let shared = Shared {
            snapshot: RefCell::new(Snapshot::of(&runtime)),
            runtime: Mutex::new(runtime),
            events,
            remember_budget,
        };
        Ok(JsRuntime {
            shared: Rc::new(shared),
            adapter,
        })
    }

    /// The adapter profile: vendor, architecture, description, features, limits, host facts.
    #[wasm_bindgen(getter, unchecked_return_type = "AdapterProfile")]
    pub fn adapter(&self) -> JsValue {
        self.adapter.clone()
    }

    /// ComfyUI's VRAM state name (`"SHARED"`, `"DISABLED"`, …); it can step down after an
    /// out-of-memory error.
    #[wasm_bindgen(getter, js_name = vramState, unchecked_return_type = "VramState")]
    pub fn vram_state(&self) -> String {
        match self.shared.runtime.try_lock() {
            Some(runtime) => runtime.vram_state().to_owned(),
            None => self.shared.snapshot.borrow().vram_state.clone(),
        }
    }

    /// ComfyUI's `/system_stats` object, with the same field names, plus `policy`, `books` and
    /// `memory_map`. While another call is running, the state after the previous call.
    #[wasm_bindgen(js_name = systemStats, unchecked_return_type = "SystemStats")]
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
    pub async fn load_model(
        &self,
        url: String,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadModelOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<JsModel, JsValue> {
        let options = options.unwrap_or_default();
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
        self.shared.settle(runtime);
        let info = loaded.map_err(|err| match err {
            crate::Error::Fetch(err) => fetch_error(err),
            other => to_js_error(other),
        })?;
        Ok(JsModel::new(self.shared.clone(), info))
    }

    /// ComfyUI's `load_models_gpu`: places the models' layers on the device now, as far as the
    /// budget allows after keeping `{memoryRequired}` bytes free for inference (default 0).
    #[wasm_bindgen(js_name = loadModelsGpu)]
    pub async fn load_models_gpu(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Model[]")] models: Array,
        #[wasm_bindgen(unchecked_param_type = "{ memoryRequired?: number }")] options: Option<
            JsValue,
        >,
    ) -> Result<(), JsValue> {
        let options = options.unwrap_or_default();
        let ids = (models.iter())
            .map(|model| model_id(&model))
            .collect::<Result<Vec<_>, _>>()?;
        let memory_required = match Reflect::get(&options, &"memoryRequired".into()) {
            Ok(v) if v.is_undefined() || v.is_null() => 0,
            Ok(v) => match v.as_f64() {
                Some(bytes) if bytes >= 0.0 => bytes as u64,
                _ => return Err(invalid_option("memoryRequired", "expected bytes ≥ 0")),
            },
            Err(_) => 0,
        };
        let mut runtime = self.shared.runtime.lock().await;
        let result = runtime.load_models_gpu(&ids, memory_required).await;
        self.shared.settle(runtime);
        result.map_err(to_js_error)
    }

    /// ComfyUI's `POST /free`: `{unloadModels, freeMemory}` (both default `true`). Unloaded
    /// models stay usable; their layers return to the GPU on the next call.
    pub async fn free(
        &self,
        #[wasm_bindgen(
            unchecked_optional_param_type = "{ unloadModels?: boolean, freeMemory?: boolean }"
        )]
        options: Option<JsValue>,
    ) -> Result<(), JsValue> {
        let options = options.unwrap_or_default();
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
        self.shared.settle(runtime);
        result.map_err(to_js_error)
    }

    /// Unloads every model, gives GPU memory back and destroys the device. Later calls fail
    /// with `INVALID_STATE`; `systemStats()` still answers.
    pub async fn destroy(&self) {
        let mut runtime = self.shared.runtime.lock().await;
        runtime.destroy();
        self.shared.settle(runtime);
    }

    /// Destroys the GPU device as a driver reset would. The next call notices, opens a new
    /// device, restores the weights and succeeds (a `devicelost` event says so): for testing
    /// how a page copes.
    #[wasm_bindgen(js_name = loseDevice)]
    pub async fn lose_device(&self) {
        let runtime = self.shared.runtime.lock().await;
        runtime.lose_device();
        // The browser reports the loss asynchronously; resolve once the runtime has heard it, so
        // the next call takes the recovery path deterministically.
        let sleep = browser_sleep();
        for _ in 0..100 {
            if runtime.gpu().is_none() || runtime.executor().device_lost().is_some() {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        self.shared.settle(runtime);
    }

    /// `EventTarget.addEventListener` for `statechange`, `oom`, `devicelost` and `layermove`;
    /// each event is a `CustomEvent` whose `detail` says what happened.
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RuntimeEventType")] kind: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent) => void")] listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "boolean | AddEventListenerOptions")]
        options: JsValue,
    ) -> Result<(), JsValue> {
        self.forward("addEventListener", kind, listener, options)
    }

    /// `EventTarget.removeEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RuntimeEventType")] kind: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent) => void")] listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "boolean | EventListenerOptions")]
        options: JsValue,
    ) -> Result<(), JsValue> {
        self.forward("removeEventListener", kind, listener, options)
    }
}

impl JsRuntime {
    /// Calls the event target's own method, so every listener form (`once`, `signal`, objects
    /// with `handleEvent`) behaves as on any `EventTarget`.
    fn forward(
        &self,
        method: &str,
        kind: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> Result<(), JsValue> {
        let target: &JsValue = self.shared.events.as_ref();
        let function: Function = Reflect::get(target, &method.into())?.dyn_into()?;
        function.call3(target, &kind, &listener, &options)?;
        Ok(())
    }
}

/// The id of a JS `Model` (read through its `info` getter, so the object stays usable).
fn model_id(model: &JsValue) -> Result<u32, JsValue> {
    let info = Reflect::get(model, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let id = Reflect::get(&info, &"id".into()).unwrap_or(JsValue::UNDEFINED);
    id.as_f64()
        .map(|id| id as u32)
        .ok_or_else(|| js_error("expected an array of Model objects", "INVALID_INPUT", &[]))
}

/// Sends a progress event to the caller's callback (if any); serialises only when there is one.
pub(crate) fn emit(callback: Option<&Function>, progress: &Progress<'_>) {
    if let Some(callback) = callback
        && let Ok(event) = to_js(progress)
    {
        let _ = callback.call1(&JsValue::NULL, &event);
    }
}
