//! Checking what JS passes in, before any work: every argument and options object of the API
//! goes through here, so a wrong type is an `INVALID_INPUT` / `INVALID_OPTION` error naming it
//! instead of a trap, a `TypeError` from the glue, or a silent default.
//!
//! Options objects are read key by key (`Reflect::get`), and serde-wasm-bindgen reads only the
//! fields a struct declares, so neither ever sees a misspelt key: [`options_object`] checks the
//! keys first.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::{invalid_option, to_js_error};
use crate::Error;
use crate::runtime::{MAX_CALL_CHARS, MAX_TEXT_CHARS};

/// An `INVALID_INPUT` error naming the argument.
pub(crate) fn invalid_input(argument: &str, message: &str) -> JsValue {
    to_js_error(Error::InvalidInput {
        argument: argument.into(),
        message: message.into(),
    })
}

/// The options object `value` (`None` for `undefined` or `null`), after checking that it is a
/// plain object whose own keys are all in `allowed`.
///
/// # Errors
/// `INVALID_OPTION` naming `name` for a non-object (a string, an array, a function…), or naming
/// the first unknown key, with the nearest allowed spelling when one is close.
pub(crate) fn options_object(
    value: &JsValue,
    name: &str,
    allowed: &[&str],
) -> Result<Option<Object>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let plain = value.is_object() && !Array::is_array(value) && !value.is_function();
    let Some(object) = value.dyn_ref::<Object>().filter(|_| plain) else {
        return Err(invalid_option(name, "expected an object"));
    };
    for key in Object::keys(object).iter() {
        let key = key.as_string().unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            let hint = match nearest(&key, allowed) {
                Some(near) => format!(" (did you mean `{near}`?)"),
                None => String::new(),
            };
            let message = format!("unknown option{hint}; {name} takes {}", allowed.join(", "));
            return Err(invalid_option(&key, &message));
        }
    }
    Ok(Some(object.clone()))
}

/// The value of `key` in `options` (`undefined` when absent or when there are no options).
pub(crate) fn get(options: Option<&Object>, key: &str) -> JsValue {
    options
        .and_then(|o| Reflect::get(o, &key.into()).ok())
        .unwrap_or(JsValue::UNDEFINED)
}

/// An optional boolean option.
///
/// # Errors
/// `INVALID_OPTION` for anything but a boolean or `undefined`.
pub(crate) fn bool_option(options: Option<&Object>, key: &str) -> Result<Option<bool>, JsValue> {
    let value = get(options, key);
    match value.as_bool() {
        Some(flag) => Ok(Some(flag)),
        None if value.is_undefined() => Ok(None),
        None => Err(invalid_option(key, "expected a boolean")),
    }
}

/// An optional whole, non-negative number option (bytes, counts, milliseconds).
///
/// # Errors
/// `INVALID_OPTION` for anything else (negative, fractional, NaN, infinite, not a number).
pub(crate) fn whole_option(options: Option<&Object>, key: &str) -> Result<Option<u64>, JsValue> {
    let value = get(options, key);
    match value.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER => Ok(Some(n as u64)),
        None if value.is_undefined() => Ok(None),
        _ => Err(invalid_option(key, "expected a whole number ≥ 0")),
    }
}

/// An optional finite number option within `range` (temperatures, probabilities).
///
/// # Errors
/// `INVALID_OPTION` for anything else, naming the range.
pub(crate) fn number_option(
    options: Option<&Object>,
    key: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<f64>, JsValue> {
    let value = get(options, key);
    match value.as_f64() {
        Some(n) if range.contains(&n) => Ok(Some(n)),
        None if value.is_undefined() => Ok(None),
        _ => Err(invalid_option(
            key,
            &format!(
                "expected a number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Token ids: an array of whole numbers below 2³², or a `Uint32Array` / `Int32Array`.
///
/// # Errors
/// `INVALID_INPUT` naming `argument` and the first bad element.
pub(crate) fn ids_arg(value: &JsValue, argument: &str) -> Result<Vec<u32>, JsValue> {
    if let Some(typed) = value.dyn_ref::<js_sys::Uint32Array>() {
        return Ok(typed.to_vec());
    }
    if let Some(typed) = value.dyn_ref::<js_sys::Int32Array>() {
        let ids = typed.to_vec();
        return match ids.iter().position(|&id| id < 0) {
            Some(i) => Err(invalid_input(
                &format!("{argument}[{i}]"),
                "expected an id ≥ 0",
            )),
            None => Ok(ids.into_iter().map(|id| id as u32).collect()),
        };
    }
    let Some(array) = value.dyn_ref::<Array>() else {
        let got = type_name(value);
        return Err(invalid_input(
            argument,
            &format!("expected an array of token ids, got {got}"),
        ));
    };
    (array.iter().enumerate())
        .map(|(i, v)| match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => Ok(n as u32),
            _ => Err(invalid_input(
                &format!("{argument}[{i}]"),
                "expected a whole number id ≥ 0",
            )),
        })
        .collect()
}

/// An optional function option (callbacks).
///
/// # Errors
/// `INVALID_OPTION` for anything but a function or `undefined`.
pub(crate) fn function_option(
    options: Option<&Object>,
    key: &str,
) -> Result<Option<Function>, JsValue> {
    let value = get(options, key);
    match value.dyn_into::<Function>() {
        Ok(function) => Ok(Some(function)),
        Err(value) if value.is_undefined() => Ok(None),
        Err(_) => Err(invalid_option(key, "expected a function")),
    }
}

/// An optional `AbortSignal` option.
///
/// # Errors
/// `INVALID_OPTION` for anything but an `AbortSignal` or `undefined`.
pub(crate) fn signal_option(
    options: Option<&Object>,
    key: &str,
) -> Result<Option<web_sys::AbortSignal>, JsValue> {
    match get(options, key) {
        value if value.is_undefined() => Ok(None),
        value => {
            (value.dyn_into().map(Some)).map_err(|_| invalid_option(key, "expected an AbortSignal"))
        }
    }
}

/// JavaScript's `Number.MAX_SAFE_INTEGER`: larger numbers are not exact.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A string argument (a URL).
///
/// # Errors
/// `INVALID_INPUT` naming `argument` for anything but a non-empty string.
pub(crate) fn string_arg(value: &JsValue, argument: &str) -> Result<String, JsValue> {
    match value.as_string() {
        Some(text) if !text.is_empty() => Ok(text),
        Some(_) => Err(invalid_input(argument, "expected a non-empty string")),
        None => Err(invalid_input(
            argument,
            &format!("expected a string, got {}", type_name(value)),
        )),
    }
}

/// `embed`'s texts: an array of strings, each and all together within the caps (checked on the
/// JS side before a byte is copied into wasm memory).
///
/// # Errors
/// `INVALID_INPUT` naming the argument (`texts`, or `texts[i]` for an item).
pub(crate) fn texts_arg(value: &JsValue) -> Result<Vec<String>, JsValue> {
    if !Array::is_array(value) {
        let got = type_name(value);
        return Err(invalid_input(
            "texts",
            &format!("expected an array of strings, got {got}"),
        ));
    }
    let array = Array::from(value);
    let mut texts = Vec::with_capacity(array.length() as usize);
    // A JS string's length counts UTF-16 units, at most twice its characters: a cheap bound
    // before copying; the runtime counts characters exactly.
    let mut units = 0usize;
    for (index, item) in array.iter().enumerate() {
        let Some(length) = item.is_string().then(|| js_length(&item)) else {
            let got = type_name(&item);
            return Err(invalid_input(
                &format!("texts[{index}]"),
                &format!("expected a string, got {got}"),
            ));
        };
        units = units.saturating_add(length);
        if length > 2 * MAX_TEXT_CHARS || units > 2 * MAX_CALL_CHARS {
            let argument = match length > 2 * MAX_TEXT_CHARS {
                true => format!("texts[{index}]"),
                false => "texts".to_owned(),
            };
            let message = format!(
                "too long: one text takes at most {MAX_TEXT_CHARS} characters, one call \
                 {MAX_CALL_CHARS}"
            );
            return Err(invalid_input(&argument, &message));
        }
        texts.push(item.as_string().unwrap_or_default());
    }
    Ok(texts)
}

/// A JS string's `length` (UTF-16 units), read without copying it.
fn js_length(value: &JsValue) -> usize {
    value
        .dyn_ref::<js_sys::JsString>()
        .map_or(0, |s| s.length() as usize)
}

/// What a value is, in words, for messages.
pub(crate) fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        return "null".into();
    }
    if Array::is_array(value) {
        return "an array".into();
    }
    match value.js_typeof().as_string().as_deref() {
        Some("undefined") => "undefined".into(),
        Some("object") => "an object".into(),
        Some(kind) => format!("a {kind}"),
        None => "a value".into(),
    }
}

/// The allowed key closest to `key` (edit distance at most 2, ignoring case), for "did you mean".
fn nearest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    (allowed.iter())
        .map(|candidate| (distance(&key, &candidate.to_lowercase()), *candidate))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}
