//! The JS API: thin wrappers that turn Rust values into plain JS objects and Rust errors into
//! JS `Error`s carrying a `code`. No logic lives here.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::policy::Options;
use crate::{Error, RuntimeOptions};

mod args;
mod bench;
mod cache;
mod generate;
mod model;
mod panic;
mod reader;
mod runtime;
mod storage;
mod types;
mod weights;

/// Runs the module's static constructors when wasm-bindgen's init instantiates the module (see
/// [`run_static_constructors`](crate::device::run_static_constructors)).
#[wasm_bindgen(start)]
fn start() {
    crate::device::run_static_constructors();
}

/// Option keys the JS layer handles itself; the rest ([`Options::KEYS`]) belong to the policy.
const JS_KEYS: [&str; 4] = [
    "powerPreference",
    "simulatedGpuCapacity",
    "rememberBudget",
    "maxBindingBytes",
];

/// `Runtime.create`'s options, and whether to store budgets learned from out-of-memory events
/// (`rememberBudget`, default `true`).
pub(crate) fn parse_options(options: JsValue) -> Result<(RuntimeOptions, bool), JsValue> {
    let keys: Vec<&str> = JS_KEYS.iter().chain(&Options::KEYS).copied().collect();
    let Some(given) = args::options_object(&options, "Runtime.create", &keys)? else {
        return Ok((RuntimeOptions::default(), true));
    };
    let given = Some(&given);
    let power_preference = match args::get(given, JS_KEYS[0]) {
        v if v.is_undefined() => None,
        v => Some((v.as_string()).ok_or_else(|| invalid_option(JS_KEYS[0], "expected a string"))?),
    };
    let simulated_gpu_capacity = args::whole_option(given, JS_KEYS[1])?;
    let remember = args::bool_option(given, JS_KEYS[2])?.unwrap_or(true);
    let max_binding_bytes = args::whole_option(given, JS_KEYS[3])?;
    // The policy's own keys, through serde (types, enum spellings); undefined means absent.
    let policy_part = js_sys::Object::new();
    for key in Options::KEYS {
        let value = args::get(given, key);
        if !value.is_undefined() {
            js_sys::Reflect::set(&policy_part, &key.into(), &value)?;
        }
    }
    let policy = serde_wasm_bindgen::from_value(policy_part.into())
        .map_err(|err| invalid_option("options", &err.to_string()))?;
    let learned = match remember {
        true => storage::learned_budgets(),
        false => Vec::new(),
    };
    let options = RuntimeOptions {
        policy,
        power_preference,
        learned,
        simulated_gpu_capacity,
        max_binding_bytes,
    };
    Ok((options, remember))
}

/// Plain JS objects (maps as objects, not `Map`s) so results print and JSON-encode naturally.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|err| JsValue::from(js_sys::Error::new(&err.to_string())))
}

/// A JS `Error` whose `code` says what kind of failure it was.
pub(crate) fn to_js_error(err: Error) -> JsValue {
    js_error(&err.to_string(), err.code(), &[])
}

/// An `InvalidOptionError` (`code: 'INVALID_OPTION'`) naming the option and what it expected.
pub(crate) fn invalid_option(option: &str, message: &str) -> JsValue {
    to_js_error(Error::InvalidOption {
        option: option.into(),
        message: message.into(),
    })
}

/// A `WebvramError` subclass chosen by `code` (see `js/errors.js`), with extra string fields
/// (`kind`, `url`, …).
pub(crate) fn js_error(message: &str, code: &str, fields: &[(&str, &str)]) -> JsValue {
    let extra = js_sys::Object::new();
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&extra, &(*key).into(), &(*value).into());
    }
    make_error(message, code, &extra)
}

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(message: &str, code: &str, fields: &js_sys::Object) -> JsValue;
}

/// Bytes live on the wasm heap now (wasm memory's size only shows the peak): a diagnostic for
/// leak tests, not part of the model API.
#[wasm_bindgen(js_name = heapBytesInUse)]
pub fn heap_bytes_in_use() -> f64 {
    crate::heap::live_bytes() as f64
}

/// The most bytes live on the wasm heap at once since the last call (which starts a new
/// window): a diagnostic for memory-bound tests, not part of the model API.
#[wasm_bindgen(js_name = heapPeakBytes)]
pub fn heap_peak_bytes() -> f64 {
    let peak = crate::heap::peak_bytes();
    crate::heap::reset_peak();
    peak as f64
}
