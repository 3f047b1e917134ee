//! The JS API: thin wrappers that turn Rust values into plain JS objects and Rust errors into
//! JS `Error`s carrying a `code`. No logic lives here.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{Error, RuntimeOptions};

mod bench;
mod cache;
mod model;
mod reader;
mod runtime;
mod storage;
mod types;
mod weights;

/// Option keys the JS layer handles itself; everything else belongs to the policy, which rejects
/// unknown keys and wrong types with serde's message.
const JS_KEYS: [&str; 3] = ["powerPreference", "simulatedGpuCapacity", "rememberBudget"];

/// `Runtime.create`'s options, and whether to store budgets learned from out-of-memory events
/// (`rememberBudget`, default `true`).
pub(crate) fn parse_options(options: JsValue) -> Result<(RuntimeOptions, bool), JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok((RuntimeOptions::default(), true));
    }
    let invalid = invalid_option;
    let Some(given) = options.dyn_ref::<js_sys::Object>() else {
        return Err(invalid("options", "expected an object"));
    };
    let rest = js_sys::Object::assign(&js_sys::Object::new(), given);
    let [power, capacity, remember] = JS_KEYS.map(|key| {
        let value = js_sys::Reflect::get(&rest, &key.into()).unwrap_or(JsValue::UNDEFINED);
        let _ = js_sys::Reflect::delete_property(&rest, &key.into());
        (!value.is_undefined()).then_some(value)
    });
    let power_preference = match power {
        None => None,
        Some(v) => Some(
            v.as_string()
                .ok_or_else(|| invalid(JS_KEYS[0], "expected a string"))?,
        ),
    };
    let simulated_gpu_capacity = match capacity {
        None => None,
        Some(v) => match v.as_f64() {
            Some(bytes) if bytes >= 0.0 && bytes.fract() == 0.0 => Some(bytes as u64),
            _ => return Err(invalid(JS_KEYS[1], "expected a whole number of bytes ≥ 0")),
        },
    };
    let remember = match remember {
        None => true,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid(JS_KEYS[2], "expected a boolean"))?,
    };
    let policy = serde_wasm_bindgen::from_value(rest.into())
        .map_err(|err| invalid("options", &err.to_string()))?;
    let learned = match remember {
        true => storage::learned_budgets(),
        false => Vec::new(),
    };
    let options = RuntimeOptions {
        policy,
        power_preference,
        learned,
        simulated_gpu_capacity,
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
