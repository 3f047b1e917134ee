//! Cache Storage in the browser: the store ([`ModelCache`]) and the source that reads through it
//! ([`CachedSource`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use js_sys::{Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Cache, CacheStorage, Response, ResponseInit};

use super::index::{CacheIndex, CachedFile, CachedModelInfo};
use super::{CACHE_NAME, CacheMode, CacheReport, INDEX_KEY};
use crate::fetch::content_range::parse_content_range;
use crate::fetch::source::{ByteSource, ResponseMeta, SourceError};
use crate::fetch::web::{FetchBody, FetchSource, message};

/// The `webvram-v1` cache and its index. Every call is best effort: the cache is an accelerator, so a
/// failing cache API degrades to the network and never fails a load.
#[derive(Clone, Debug)]
pub struct ModelCache {
    cache: Cache,
}

impl ModelCache {
    /// Opens the cache; `None` where Cache Storage is unavailable (an insecure context, an opaque
    /// origin, a browser with storage disabled).
    pub async fn open() -> Option<Self> {
        let storage: CacheStorage = Reflect::get(&js_sys::global(), &"caches".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let cache = await_value(storage.open(CACHE_NAME)).await.ok()?;
        Some(Self {
            cache: cache.dyn_into().ok()?,
        })
    }

    /// The cache a load in `mode` reads through: `None` for [`CacheMode::Off`], or where Cache
    /// Storage is unavailable (the load then uses the network only).
    pub async fn open_for(mode: CacheMode) -> Option<Self> {
        match mode {
            CacheMode::Off => None,
            CacheMode::Prefer | CacheMode::Revalidate => Self::open().await,
        }
    }

    /// The stored index (empty when there is none or it is unreadable).
    pub async fn index(&self) -> CacheIndex {
        let Some(response) = self.matching(INDEX_KEY).await else {
            return CacheIndex::new();
        };
        let text = match response.text() {
            Ok(promise) => await_value(promise).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        };
        text.map_or_else(CacheIndex::new, |t| CacheIndex::parse(&t))
    }

    /// Stores `index`; failures (quota) are ignored, leaving the previous index.
    pub async fn store_index(&self, index: &CacheIndex) {
        let Ok(json) = serde_json::to_string(index) else {
            return;
        };
        let init = ResponseInit::new();
        init.set_status(200);
        if let Ok(response) = Response::new_with_opt_str_and_init(Some(&json), &init) {
            let _ = await_value(self.cache.put_with_str(INDEX_KEY, &response)).await;
        }
    }

    /// The stored response for `url`, if any.
    async fn matching(&self, url: &str) -> Option<Response> {
        let found = await_value(self.cache.match_with_str(url)).await.ok()?;
        found.dyn_into().ok()
    }

    /// The stored file at `url` as a `Blob` (a handle: no bytes are read), or `None` when it is
    /// not stored. Keep it to read many ranges of the file with one lookup.
    pub async fn blob(&self, url: &str) -> Option<Blob> {
        let response = self.matching(url).await?;
        await_value(response.blob().ok()?)
            .await
            .ok()?
            .dyn_into()
            .ok()
    }

    /// Deletes the stored file at `url` (ignoring failures).
    async fn delete_file(&self, url: &str) {
        DELETIONS.with(|n| n.set(n.get() + 1));
        let _ = await_value(self.cache.delete_with_str(url)).await;
    }

    /// How many files webvram deleted from the cache so far in this thread: a reader holding
    /// blobs of stored files drops them when it changes, so a deleted file is not read on.
    pub fn deletions() -> u64 {
        DELETIONS.with(std::cell::Cell::get)
    }

    /// Every cached model, most recently used first.
    pub async fn list(&self) -> Vec<CachedModelInfo> {
        self.index().await.list()
    }

    /// Bytes stored over all models.
    pub async fn size(&self) -> u64 {
        self.index().await.bytes()
    }

    /// Deletes `model`'s files (those no other model shares); returns whether it was cached.
    pub async fn delete(&self, model: &str) -> bool {
        let mut index = self.index().await;
        let known = index.models.contains_key(model);
        for url in index.remove(model) {
            self.delete_file(&url).await;
        }
        self.store_index(&index).await;
        known
    }

    /// Deletes every cached model; returns how many there were.
    pub async fn clear(&self) -> usize {
        let index = self.index().await;
        for model in index.models.values() {
            for url in model.files.keys() {
                self.delete_file(url).await;
            }
        }
        self.store_index(&CacheIndex::new()).await;
        index.models.len()
    }
}

/// Bytes `range` of `blob`, in a fresh `ArrayBuffer` outside wasm memory (each tensor then
/// copies its part into its own values), or `None` when the range is outside the blob or the
/// read fails (the browser dropped the stored file under it).
pub async fn read_blob_range(blob: &Blob, range: Range<u64>) -> Option<js_sys::Uint8Array> {
    if range.end > blob.size() as u64 {
        return None;
    }
    let part = blob
        .slice_with_f64_and_f64(range.start as f64, range.end as f64)
        .ok()?;
    let buffer = await_value(part.array_buffer()).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer))
}

thread_local! {
    static DELETIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A file being written to the cache during a load.
struct Pending {
    url: String,
    file: CachedFile,
    put: Promise,
    /// The no-op rejection handler; kept until the outcome is read so it can be freed then.
    _handled: Closure<dyn FnMut(JsValue)>,
}

/// Load-time state of a [`CachedSource`].
#[derive(Default)]
struct State {
    index: CacheIndex,
    /// File lengths learned from responses (`Content-Range` totals), to recognise the data request.
    sizes: HashMap<String, u64>,
    /// Blobs of stored files opened during this load.
    blobs: HashMap<String, Blob>,
    /// Files checked against the server this load (`revalidate`).
    checked: HashMap<String, bool>,
    pending: Vec<Pending>,
    report: CacheReport,
}

/// A [`ByteSource`] that serves stored files from Cache Storage and stores what it downloads.
///
/// Reads of a stored file never touch the network (with [`CacheMode::Revalidate`], one 1-byte
/// request per file compares size and `ETag` first). On a miss, the request for a shard's data region
/// (a range ending at the file's end) becomes one request for the whole file, whose response is
/// cloned: one copy streams to the loader (which skips the prefix, as for a server that ignores
/// `Range`), the other to `cache.put`. Header probes go to the network as they are. Nothing enters
/// the index until [`finish`](Self::finish) is told the load succeeded, so a failed or corrupt load
/// leaves no trusted entry behind.
pub struct CachedSource {
    network: FetchSource,
    cache: ModelCache,
    model: String,
    mode: CacheMode,
    state: RefCell<State>,
}

impl CachedSource {
    /// Reads through `cache` for the model at `model` (the location the caller loads).
    pub async fn new(
        network: FetchSource,
        cache: ModelCache,
        model: &str,
        mode: CacheMode,
    ) -> Self {
        let index = cache.index().await;
        Self {
            network,
            cache,
            model: model.to_owned(),
            mode,
            state: RefCell::new(State {
                index,
                ..State::default()
            }),
        }
    }

    /// Completes the load: on success, waits for the writes, records the files that were stored
    /// and marks the model used; on failure, deletes what was written. Returns what the cache did.
    pub async fn finish(self, succeeded: bool) -> CacheReport {
        let State {
            mut index,
            pending,
            mut report,
            ..
        } = self.state.into_inner();
        let now = js_sys::Date::now() as u64;
        for write in pending {
            let stored = await_value(write.put).await.is_ok();
            if stored && succeeded {
                report.stored_bytes += write.file.size;
                index.record(&self.model, &write.url, write.file, now);
            } else {
                report.skipped.push(write.url.clone());
                self.cache.delete_file(&write.url).await;
            }
        }
        if succeeded {
            index.touch(&self.model, now);
        }
        self.cache.store_index(&index).await;
        report
    }

    /// The stored blob for `url`, or `None` on a miss (also when the browser evicted it).
    async fn stored(&self, url: &str) -> Option<(Blob, CachedFile)> {
        let file = self.state.borrow().index.file(url).cloned()?;
        if let Some(blob) = self.state.borrow().blobs.get(url) {
            return Some((blob.clone(), file));
        }
        if self.mode == CacheMode::Revalidate && !self.still_current(url, &file).await {
            return None;
        }
        let response = self.cache.matching(url).await?;
        let blob: Blob = await_value(response.blob().ok()?)
            .await
            .ok()?
            .dyn_into()
            .ok()?;
        if blob.size() as u64 != file.size {
            return None;
        }
        self.state
            .borrow_mut()
            .blobs
            .insert(url.to_owned(), blob.clone());
        Some((blob, file))
    }

    /// Asks the server for one byte and compares the file's size and `ETag` with the stored ones.
    async fn still_current(&self, url: &str, file: &CachedFile) -> bool {
        if let Some(known) = self.state.borrow().checked.get(url) {
            return *known;
        }
        let current = match FetchSource::open(&self.network, url, Some(0..1)).await {
            Ok(body) => {
                let meta = crate::fetch::Body::meta(&body);
                let total = file_total(meta).or(meta.content_length.filter(|_| meta.status == 200));
                total == Some(file.size) && (meta.etag.is_none() || meta.etag == file.etag)
            }
            // Offline: the stored copy is the best there is.
            Err(_) => true,
        };
        let mut state = self.state.borrow_mut();
        state.checked.insert(url.to_owned(), current);
        if !current {
            state.report.stale.push(url.to_owned());
        }
        current
    }

    /// Serves `range` of a stored blob as a server would: 200 for the whole file, else 206 or 416.
    fn serve(
        &self,
        blob: &Blob,
        file: &CachedFile,
        range: Option<Range<u64>>,
    ) -> Result<FetchBody, SourceError> {
        let size = file.size;
        let mut meta = ResponseMeta {
            status: 200,
            content_length: Some(size),
            content_range: None,
            etag: file.etag.clone(),
        };
        let part = match range {
            None => blob.clone(),
            Some(r) if r.start >= size => {
                meta.status = 416;
                meta.content_length = Some(0);
                meta.content_range = Some(format!("bytes */{size}"));
                return FetchBody::from_stream(meta, None);
            }
            Some(r) => {
                let end = r.end.min(size);
                meta.status = 206;
                meta.content_length = Some(end - r.start);
                meta.content_range = Some(format!("bytes {}-{}/{size}", r.start, end - 1));
                blob.slice_with_f64_and_f64(r.start as f64, end as f64)
                    .map_err(|e| SourceError::Network(message(&e)))?
            }
        };
        let mut state = self.state.borrow_mut();
        state.report.hit_bytes += meta.content_length.unwrap_or(0);
        drop(state);
        FetchBody::from_stream(meta, Some(part.stream()))
    }

    /// Downloads the whole of `url` and starts storing a copy, if there is room.
    async fn download_and_store(&self, url: &str) -> Result<FetchBody, SourceError> {
        let response = self.network.response(url, None).await?;
        // Clone before reading: a Response whose body is locked by a reader cannot be cloned.
        let copy = response.clone();
        let body = FetchBody::new(&response)?;
        let meta = crate::fetch::Body::meta(&body).clone();
        if meta.status != 200 {
            return Ok(body);
        }
        let size = meta
            .content_length
            .or_else(|| self.state.borrow().sizes.get(url).copied());
        if let (Some(size), Ok(copy)) = (size, copy) {
            if self.make_room(size).await {
                let put = self.cache.cache.put_with_str(url, &copy);
                // `finish` reads the outcome; a handler now keeps a rejection from being reported
                // as unhandled in the meantime.
                let handled = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| ());
                let _ = put.catch(&handled);
                let file = CachedFile {
                    size,
                    etag: meta.etag.clone(),
                };
                self.state.borrow_mut().pending.push(Pending {
                    url: url.to_owned(),
                    file,
                    put,
                    _handled: handled,
                });
            } else {
                self.state.borrow_mut().report.skipped.push(url.to_owned());
            }
        }
        Ok(body)
    }

    /// Makes room for `size` bytes under the origin's quota, evicting least-recently-used models
    /// other than this one. `false` when even that is not enough: the load continues uncached.
    async fn make_room(&self, size: u64) -> bool {
        let Some(free) = storage_free().await else {
            return true; // no estimate: try, and let a quota rejection say otherwise
        };
        if free >= size {
            return true;
        }
        let victims = self
            .state
            .borrow()
            .index
            .eviction_order(size - free, &self.model);
        for victim in victims {
            let urls = self.state.borrow_mut().index.remove(&victim);
            for url in urls {
                self.cache.delete_file(&url).await;
            }
            self.state.borrow_mut().report.evicted.push(victim);
        }
        storage_free().await.is_none_or(|free| free >= size)
    }

    fn learn_size(&self, url: &str, meta: &ResponseMeta) {
        if let Some(total) = file_total(meta) {
            self.state.borrow_mut().sizes.insert(url.to_owned(), total);
        }
    }
}

impl ByteSource for CachedSource {
    type Body = FetchBody;

    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<FetchBody, SourceError> {
        if let Some((blob, file)) = self.stored(url).await {
            return self.serve(&blob, &file, range);
        }
        let known = self.state.borrow().sizes.get(url).copied();
        let whole_file = match &range {
            None => true,
            Some(r) => known == Some(r.end),
        };
        let already_pending = self.state.borrow().pending.iter().any(|p| p.url == url);
        if whole_file && !already_pending {
            return self.download_and_store(url).await;
        }
        let body = self.network.open(url, range).await?;
        self.learn_size(url, crate::fetch::Body::meta(&body));
        Ok(body)
    }

    fn serves_from_cache(&self, url: &str) -> bool {
        self.state.borrow().blobs.contains_key(url)
    }
}

/// The whole file's length: from a `Content-Range` header (`bytes a-b/total`, parsed strictly), or
/// the `Content-Length` of a 200 (a server that ignores `Range` sends the whole file).
fn file_total(meta: &ResponseMeta) -> Option<u64> {
    match meta.content_range.as_deref() {
        Some(range) => parse_content_range(range)?.total,
        None if meta.status == 200 => meta.content_length,
        None => None,
    }
}

/// Free bytes under the origin's storage quota, if the browser says.
async fn storage_free() -> Option<u64> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
    let estimate: js_sys::Function = Reflect::get(&storage, &"estimate".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = estimate.call0(&storage).ok()?.dyn_into().ok()?;
    let estimate = await_value(promise).await.ok()?;
    let number = |key: &str| Reflect::get(&estimate, &key.into()).ok()?.as_f64();
    let (quota, usage) = (number("quota")?, number("usage")?);
    Some((quota - usage).max(0.0) as u64)
}

async fn await_value(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}
