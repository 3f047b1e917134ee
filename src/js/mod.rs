//! The JS API: thin wrappers that turn Rust values into plain JS objects and Rust errors into
//! JS `Error`s carrying a `code`. No logic lives here.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{Error, RuntimeOptions};

mod cache;
mod model;
mod runtime;
mod weights;

/// `powerPreference` belongs to the device, everything else to the policy, which rejects
/// unknown keys and wrong types with serde's message.
pub(crate) fn parse_options(options: JsValue) -> Result<RuntimeOptions, JsValue> {
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
pub(crate) fn to_js_error(err: Error) -> JsValue {
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
