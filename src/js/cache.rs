//! The persistent model cache from JS: list, size, delete, clear.

use wasm_bindgen::prelude::*;

use super::args::string_arg;
use super::{js_error, panic, to_js};
use crate::fetch::ModelCache;

async fn open() -> Result<ModelCache, JsValue> {
    panic::check()?;
    ModelCache::open().await.ok_or_else(|| {
        js_error(
            "Cache Storage is not available in this context (insecure origin or storage disabled)",
            "UNSUPPORTED",
            &[],
        )
    })
}

/// Every cached model, most recently used first: `[{url, bytes, files, lastUsedMs}]`.
#[wasm_bindgen(js_name = cachedModels)]
pub async fn cached_models() -> Result<JsValue, JsValue> {
    to_js(&open().await?.list().await)
}

/// Bytes the cache holds over all models.
#[wasm_bindgen(js_name = cacheSize)]
pub async fn cache_size() -> Result<f64, JsValue> {
    Ok(open().await?.size().await as f64)
}

/// Deletes one model's cached files (by the location it was loaded from); resolves to whether it
/// was cached.
#[wasm_bindgen(js_name = deleteCachedModel)]
pub async fn delete_cached_model(
    #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
) -> Result<bool, JsValue> {
    let url = string_arg(&url, "url")?;
    Ok(open().await?.delete(&url).await)
}

/// Deletes every cached model; resolves to how many there were.
#[wasm_bindgen(js_name = clearCache)]
pub async fn clear_cache() -> Result<u32, JsValue> {
    Ok(open().await?.clear().await as u32)
}
