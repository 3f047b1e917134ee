//! `Runtime` in JS: create, inspect, load models, free memory, listen, destroy.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use futures_util::lock::{Mutex, MutexGuard};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::args::{
    bool_option, invalid_input, options_object, string_arg, type_name, whole_option,
};
use super::model::{HANDLE_METHOD, JsModel};
use super::panic::{self, Poisoned};
use super::weights::{LOAD_KEYS, cache_option, fetch_error, load_options};
use super::{js_error, parse_options, storage, to_js, to_js_error};
use crate::fetch::{CacheMode, CachedSource, FetchSource, ModelCache, Progress, browser_sleep};
use crate::manager::ModelId;
use crate::runtime::RuntimeEvent;
use crate::{Error, Runtime, SystemStats};

/// The events a runtime dispatches (`error` after a panic).
const EVENT_TYPES: [&str; 5] = ["statechange", "oom", "devicelost", "layermove", "error"];

thread_local! {
    /// Runtime identities: never reused within a page, so a handle names one runtime.
    static NEXT_RUNTIME: Cell<u32> = const { Cell::new(1) };
}

/// The runtime shared by the JS `Runtime` and its `Model`s. Calls that await the GPU hold the
/// async lock, so concurrent JS calls run one after another instead of failing.
pub(crate) struct Shared {
    /// This runtime's identity: every `Model` handle carries it.
    pub uid: u32,
    /// Take it with [`lock`](Self::lock), which also watches for a panic.
    runtime: Mutex<Runtime>,
    /// Models whose handle was dropped while a call held the lock: unloaded when it frees.
    pub dropped: RefCell<Vec<ModelId>>,
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
    /// The runtime, once every call before this one is done; `PANIC` if the module panicked
    /// (also while waiting: the lock of a call that panicked is never released).
    pub async fn lock(&self) -> Result<MutexGuard<'_, Runtime>, JsValue> {
        panic::check()?;
        let poisoned = Poisoned::new();
        match select(self.runtime.lock(), poisoned).await {
            Either::Left((guard, _)) => Ok(guard),
            Either::Right(((), _)) => Err(to_js_error(Error::Panicked)),
        }
    }

    /// The runtime if no call holds it now (for sync getters and `Drop`).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Runtime>> {
        self.runtime.try_lock()
    }

    /// Ends a call: unloads the models whose handles were dropped meanwhile, refreshes the
    /// snapshot, stores a learned budget, releases the lock and then dispatches what happened
    /// (so listeners may call back into the runtime).
    pub fn settle(&self, mut runtime: MutexGuard<'_, Runtime>) {
        for id in std::mem::take(&mut *self.dropped.borrow_mut()) {
            let _ = runtime.forget(id);
        }
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
        if let Ok(detail) = to_js(event) {
            self.dispatch_detail(event.kind(), &detail);
        }
    }

    /// Fires `error` with `{type: 'error', code: 'PANIC', message}`: the module panicked.
    pub fn dispatch_error(&self, message: &str) {
        let detail = Object::new();
        for (key, value) in [("type", "error"), ("code", "PANIC"), ("message", message)] {
            let _ = Reflect::set(&detail, &key.into(), &value.into());
        }
        self.dispatch_detail("error", &detail);
    }

    fn dispatch_detail(&self, kind: &str, detail: &JsValue) {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(kind, &init) {
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
        panic::install_hook();
        panic::check()?;
        let (options, remember_budget) = parse_options(options.unwrap_or_default())?;
        let mut runtime = Runtime::create(options).await.map_err(to_js_error)?;
        runtime.set_layer_reader(Box::<super::reader::BrowserReader>::default());
        let adapter = to_js(runtime.adapter())?;
        let events = web_sys::EventTarget::new()?;
        let shared = Rc::new(Shared {
            uid: NEXT_RUNTIME.with(|n| n.replace(n.get() + 1)),
            snapshot: RefCell::new(Snapshot::of(&runtime)),
            runtime: Mutex::new(runtime),
            dropped: RefCell::default(),
            events,
            remember_budget,
        });
        panic::register(&shared);
        Ok(JsRuntime { shared, adapter })
    }

    /// The adapter profile: vendor, architecture, description, features, limits, host facts.
    #[wasm_bindgen(getter, unchecked_return_type = "AdapterProfile")]
    pub fn adapter(&self) -> Result<JsValue, JsValue> {
        panic::check()?;
        Ok(self.adapter.clone())
    }

    /// ComfyUI's VRAM state name (`"SHARED"`, `"DISABLED"`, …); it can step down after an
    /// out-of-memory error.
    #[wasm_bindgen(getter, js_name = vramState, unchecked_return_type = "VramState")]
    pub fn vram_state(&self) -> Result<String, JsValue> {
        panic::check()?;
        Ok(match self.shared.try_lock() {
            Some(runtime) => runtime.vram_state().to_owned(),
            None => self.shared.snapshot.borrow().vram_state.clone(),
        })
    }

    /// ComfyUI's `/system_stats` object, with the same field names, plus `policy`, `books` and
    /// `memory_map`. While another call is running, the state after the previous call.
    #[wasm_bindgen(js_name = systemStats, unchecked_return_type = "SystemStats")]
    pub fn system_stats(&self) -> Result<JsValue, JsValue> {
        panic::check()?;
        match self.shared.try_lock() {
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
        #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadModelOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<JsModel, JsValue> {
        panic::check()?;
        let url = string_arg(&url, "url")?;
        let options = options_object(&options.unwrap_or_default(), "loadModel", &LOAD_KEYS)?;
        let (load, signal, on_progress) = load_options(options.as_ref())?;
        let mode = cache_option(options.as_ref(), CacheMode::Prefer)?;
        let report = |p: &Progress<'_>| emit(on_progress.as_ref(), p);
        let network = FetchSource::new(signal);
        let mut runtime = self.shared.lock().await?;
        let loaded = match ModelCache::open_for(mode).await {
            None => runtime.load_model(&network, &url, &load, report).await,
            Some(cache) => {
                let source = CachedSource::new(network, cache.clone(), &url, mode).await;
                let loaded = runtime.load_model(&source, &url, &load, report).await;
                source.finish(loaded.is_ok()).await;
                if let Ok(info) = &loaded {
                    // The layers whose files the cache now holds are booked `cache`.
                    let index = cache.index().await;
                    let stored: Vec<String> = (runtime.model(info.id).into_iter())
                        .flat_map(|(_, loaded)| loaded.shards())
                        .map(|shard| shard.url().to_owned())
                        .filter(|url| index.file(url).is_some())
                        .collect();
                    runtime.mark_files_cached(info.id, &stored);
                }
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
        #[wasm_bindgen(unchecked_param_type = "Model[]")] models: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ memoryRequired?: number }")]
        options: Option<JsValue>,
    ) -> Result<(), JsValue> {
        panic::check()?;
        if !Array::is_array(&models) {
            let got = type_name(&models);
            return Err(invalid_input(
                "models",
                &format!("expected an array of Model objects, got {got}"),
            ));
        }
        let ids = (Array::from(&models).iter().enumerate())
            .map(|(index, model)| self.model_id(&model, index))
            .collect::<Result<Vec<_>, _>>()?;
        let options = options_object(
            &options.unwrap_or_default(),
            "loadModelsGpu",
            &["memoryRequired"],
        )?;
        let memory_required = whole_option(options.as_ref(), "memoryRequired")?.unwrap_or(0);
        let mut runtime = self.shared.lock().await?;
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
        panic::check()?;
        let keys = ["unloadModels", "freeMemory"];
        let options = options_object(&options.unwrap_or_default(), "free", &keys)?;
        let unload = bool_option(options.as_ref(), keys[0])?.unwrap_or(true);
        let free = bool_option(options.as_ref(), keys[1])?.unwrap_or(true);
        let mut runtime = self.shared.lock().await?;
        let result = runtime.free(unload, free).await;
        self.shared.settle(runtime);
        result.map_err(to_js_error)
    }

    /// Unloads every model, gives GPU memory back and destroys the device. Later calls fail
    /// with `INVALID_STATE`; `systemStats()` still answers.
    pub async fn destroy(&self) -> Result<(), JsValue> {
        let mut runtime = self.shared.lock().await?;
        runtime.destroy();
        self.shared.settle(runtime);
        Ok(())
    }

    /// Destroys the GPU device as a driver reset would. The next call notices, opens a new
    /// device, restores the weights and succeeds (a `devicelost` event says so): for testing
    /// how a page copes.
    #[wasm_bindgen(js_name = loseDevice)]
    pub async fn lose_device(&self) -> Result<(), JsValue> {
        let runtime = self.shared.lock().await?;
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
        Ok(())
    }

    /// Panics inside the runtime's lock, on purpose: how the tests check that a panic poisons
    /// the module, wakes waiting calls and fires `error`. Not part of the API.
    #[wasm_bindgen(js_name = __panicForTesting, skip_typescript)]
    pub async fn panic_for_testing(&self) -> Result<(), JsValue> {
        let _runtime = self.shared.lock().await?;
        panic!("a panic on purpose (Runtime.__panicForTesting)");
    }

    /// `EventTarget.addEventListener` for `statechange`, `oom`, `devicelost`, `layermove` and
    /// `error` (a panic: every later call fails); each event is a `CustomEvent` whose `detail`
    /// says what happened.
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
        panic::check()?;
        let known = kind
            .as_string()
            .filter(|k| EVENT_TYPES.contains(&k.as_str()));
        if known.is_none() {
            let expected = EVENT_TYPES.join(", ");
            return Err(invalid_input(
                "type",
                &format!("expected one of {expected}"),
            ));
        }
        if !(listener.is_function() || listener.is_object()) {
            return Err(invalid_input(
                "listener",
                "expected a function or an object with handleEvent",
            ));
        }
        let target: &JsValue = self.shared.events.as_ref();
        let function: Function = Reflect::get(target, &method.into())?.dyn_into()?;
        function.call3(target, &kind, &listener, &options)?;
        Ok(())
    }

    /// The model id behind `models[index]`, which must be a live `Model` of this runtime.
    fn model_id(&self, model: &JsValue, index: usize) -> Result<u32, JsValue> {
        let argument = format!("models[{index}]");
        let method = match model.is_object() {
            true => Reflect::get(model, &HANDLE_METHOD.into()).ok(),
            false => None,
        };
        let Some(method) = method.and_then(|m| m.dyn_into::<Function>().ok()) else {
            let got = type_name(model);
            return Err(invalid_input(
                &argument,
                &format!("expected a Model, got {got}"),
            ));
        };
        // wasm-bindgen's glue throws for a handle whose memory was released (`free()`).
        let handle = method.call0(model).map_err(|_| {
            let message = format!("{argument} was freed (model.free()); load the model again");
            js_error(&message, "INVALID_STATE", &[])
        })?;
        let field = |i: u32| Array::from(&handle).get(i).as_f64();
        match (field(0), field(1), field(2)) {
            (Some(runtime), Some(id), Some(unloaded)) if runtime as u32 == self.shared.uid => {
                match unloaded != 0.0 {
                    true => Err(js_error(
                        &format!("{argument} was unloaded; load it again"),
                        "INVALID_STATE",
                        &[],
                    )),
                    false => Ok(id as u32),
                }
            }
            (Some(_), Some(_), Some(_)) => {
                Err(invalid_input(&argument, "is a Model of another runtime"))
            }
            _ => Err(invalid_input(&argument, "expected a Model")),
        }
    }
}

/// Sends a progress event to the caller's callback (if any); serialises only when there is one.
pub(crate) fn emit<T: serde::Serialize>(callback: Option<&Function>, progress: &T) {
    if let Some(callback) = callback
        && let Ok(event) = to_js(progress)
    {
        let _ = callback.call1(&JsValue::NULL, &event);
    }
}
