//! The JS API: thin wrappers that turn Rust values into plain JS objects and Rust errors into
//! JS `Error`s carrying a `code`. No logic lives here.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{Error, Runtime, RuntimeOptions};

mod weights;

/// The webvram runtime, as JS sees it: `await Runtime.create(options)`.
#[wasm_bindgen(js_name = Runtime)]
pub struct JsRuntime {
    inner: Runtime,
}

#[wasm_bindgen(js_class = Runtime)]
impl JsRuntime {
    /// Probe WebGPU and start the runtime; falls back to the CPU (state `DISABLED`) when the
    /// page has no WebGPU adapter.
    pub async fn create(options: JsValue) -> Result<JsRuntime, JsValue> {
        console_error_panic_hook::set_once();
        let options = parse_options(options)?;
        let inner = Runtime::create(options).await.map_err(to_js_error)?;
        Ok(JsRuntime { inner })
    }

    /// The adapter profile: vendor, architecture, description, features, limits, host facts.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.adapter())
    }

    /// ComfyUI's VRAM state name (`"SHARED"`, `"DISABLED"`, …).
    #[wasm_bindgen(getter, js_name = vramState)]
    pub fn vram_state(&self) -> String {
        self.inner.vram_state().to_owned()
    }

    /// ComfyUI's `/system_stats` object, with the same field names.
    #[wasm_bindgen(js_name = systemStats)]
    pub fn system_stats(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.system_stats())
    }
}

/// `powerPreference` belongs to the device, everything else to the policy, which rejects
/// unknown keys and wrong types with serde's message.
fn parse_options(options: JsValue) -> Result<RuntimeOptions, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(RuntimeOptions::default());
    }
    let invalid = |option: &str, message: String| {
        to_js_error(Error::InvalidOption {
            option: option.into(),
            message,
        })
    };
    let Some(given) = options.dyn_ref::<js_sys::Object>() else {
        return Err(invalid("options", "expected an object".into()));
    };
    let rest = js_sys::Object::assign(&js_sys::Object::new(), given);
    let key = JsValue::from_str("powerPreference");
    let power = js_sys::Reflect::get(&rest, &key).unwrap_or(JsValue::UNDEFINED);
    let _ = js_sys::Reflect::delete_property(&rest, &key);
    let power_preference = if power.is_undefined() {
        None
    } else {
        let text = power.as_string();
        Some(text.ok_or_else(|| invalid("powerPreference", "expected a string".into()))?)
    };
    let policy = serde_wasm_bindgen::from_value(rest.into())
        .map_err(|err| invalid("options", err.to_string()))?;
    Ok(RuntimeOptions {
        policy,
        power_preference,
    })
}

/// Plain JS objects (maps as objects, not `Map`s) so results print and JSON-encode naturally.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| JsValue::from(js_sys::Error::new(&err.to_string())))
}

/// A JS `Error` whose `code` says what kind of failure it was.
fn to_js_error(err: Error) -> JsValue {
    js_error(&err.to_string(), err.code(), &[])
}

/// A `WebvramError` with a `code` and extra string fields (`kind`, `url`, …).
pub(crate) fn js_error(message: &str, code: &str, fields: &[(&str, &str)]) -> JsValue {
    let js = js_sys::Error::new(message);
    js.set_name("WebvramError");
    let _ = js_sys::Reflect::set(&js, &"code".into(), &code.into());
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&js, &(*key).into(), &(*value).into());
    }
    js.into()
}
