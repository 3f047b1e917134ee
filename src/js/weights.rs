//! `checksumModel()`: stream a hosted model through the loader into a checksum consumer. It checks
//! what a server really delivers (every byte validated, per-tensor FNV-1a sums) without a GPU, and
//! it is how the loader is tested against a faulty server in a real browser.

use std::collections::BTreeMap;
use std::time::Duration;

use js_sys::{Function, Object};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::args::{
    bool_option, function_option, get, options_object, signal_option, string_arg, whole_option,
};
use super::runtime::emit;
use super::{invalid_option, js_error, panic, to_js};
use crate::fetch::{
    CacheMode, CacheReport, CachedSource, FetchError, FetchSource, LoadOptions, ModelCache,
    browser_sleep, cancel_on_abort, load_model,
};
use crate::weights::ChecksumSink;

/// What `checksumModel` resolves to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChecksumReport {
    total: u64,
    retries: u32,
    shards: Vec<String>,
    /// The WordHash (FNV-1a step over u64 words) of each tensor's bytes, as 16 hex digits.
    tensors: BTreeMap<String, String>,
    /// What the persistent cache did; absent when the load did not use it.
    cache: Option<CacheReport>,
}

/// Stream `url` (a `model.safetensors` or a `model.safetensors.index.json`) and return per-tensor
/// checksums. Options: `onProgress(event)`, `signal` (AbortSignal), `chunkSize`, `maxRetries`,
/// `retryBackoffMs`, `sha256` (`{shardName: hex}`), `allowExternal`, `cache` (`true`, `false` — the
/// default here — or `"revalidate"`).
#[wasm_bindgen(js_name = checksumModel)]
pub async fn checksum_model(
    #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "LoadModelOptions")] options: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    panic::check()?;
    let url = string_arg(&url, "url")?;
    let options = options_object(&options.unwrap_or_default(), "checksumModel", &LOAD_KEYS)?;
    let (load, signal, on_progress) = load_options(options.as_ref())?;
    let mode = cache_option(options.as_ref(), CacheMode::Off)?;
    let network = FetchSource::new(signal);
    let mut sink = ChecksumSink::default();
    let report = |p: &crate::fetch::Progress<'_>| emit(on_progress.as_ref(), p);
    let (loaded, cache) = match ModelCache::open_for(mode).await {
        None => (
            load_model(&network, &url, &mut sink, &load, report).await,
            None,
        ),
        Some(cache) => {
            let source = CachedSource::new(network, cache, &url, mode).await;
            let loaded = load_model(&source, &url, &mut sink, &load, report).await;
            let cache = source.finish(loaded.is_ok()).await;
            (loaded, Some(cache))
        }
    };
    let loaded = loaded.map_err(fetch_error)?;
    let tensors = sink
        .sums()
        .iter()
        .map(|(name, sum)| (name.clone(), format!("{sum:016x}")))
        .collect();
    let shards = loaded
        .shards()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    to_js(&ChecksumReport {
        total: loaded.total(),
        retries: loaded.retries(),
        shards,
        tensors,
        cache,
    })
}

type Parsed = (LoadOptions, Option<web_sys::AbortSignal>, Option<Function>);

/// The keys `loadModel` and `checksumModel` take.
pub(crate) const LOAD_KEYS: [&str; 8] = [
    "onProgress",
    "signal",
    "cache",
    "chunkSize",
    "maxRetries",
    "retryBackoffMs",
    "sha256",
    "allowExternal",
];

/// The loader's options from a checked options object (see [`LOAD_KEYS`]), with browser
/// backoff and the signal wired to the load's cancel token.
pub(crate) fn load_options(options: Option<&Object>) -> Result<Parsed, JsValue> {
    let mut load = LoadOptions {
        sleep: Some(browser_sleep()),
        ..LoadOptions::default()
    };
    let bad = |key: &str, want: &str| invalid_option(key, &format!("expected {want}"));
    if let Some(n) = whole_option(options, "chunkSize")? {
        if n == 0 {
            return Err(bad("chunkSize", "a whole number ≥ 1"));
        }
        load.chunk_size = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = whole_option(options, "maxRetries")? {
        load.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = whole_option(options, "retryBackoffMs")? {
        load.retry_backoff = Duration::from_millis(n);
    }
    load.allow_external = bool_option(options, "allowExternal")?.unwrap_or(false);
    let sha = get(options, "sha256");
    if !sha.is_undefined() {
        let entries: BTreeMap<String, String> = serde_wasm_bindgen::from_value(sha)
            .map_err(|_| bad("sha256", "an object of shard name → hex"))?;
        for (shard, hex) in entries {
            load = load.with_sha256_hex(&shard, &hex).map_err(fetch_error)?;
        }
    }
    let signal = signal_option(options, "signal")?;
    let on_progress = function_option(options, "onProgress")?;
    if let Some(signal) = &signal {
        load.cancel = cancel_on_abort(signal);
    }
    Ok((load, signal, on_progress))
}

/// The `cache` option: `true` (use and fill the cache), `false` (network only) or
/// `"revalidate"`; `default` when absent.
pub(crate) fn cache_option(
    options: Option<&Object>,
    default: CacheMode,
) -> Result<CacheMode, JsValue> {
    let value = get(options, "cache");
    match (value.as_bool(), value.as_string().as_deref()) {
        _ if value.is_undefined() => Ok(default),
        (Some(false), _) => Ok(CacheMode::Off),
        (Some(true), _) => Ok(CacheMode::Prefer),
        (_, Some("revalidate")) => Ok(CacheMode::Revalidate),
        _ => Err(invalid_option(
            "cache",
            "expected true, false or \"revalidate\"",
        )),
    }
}

pub(crate) fn fetch_error(err: FetchError) -> JsValue {
    let url = err.url().unwrap_or_default().to_owned();
    js_error(
        &err.to_string(),
        err.code(),
        &[("kind", err.kind()), ("url", &url)],
    )
}
