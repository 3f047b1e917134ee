//! The persistent model cache: files a load downloaded, kept in Cache Storage so the next load of the
//! same model needs no network.
//!
//! - **Keyed by URL, checked by size and `ETag`.** Every stored file is listed in an index (one JSON
//!   entry in the same cache) with the size and `ETag` it had; a stored blob whose size disagrees is a
//!   miss. By default a stored file is used without asking the server (a second load is offline-able);
//!   [`CacheMode::Revalidate`] spends one 1-byte request per file to confirm size and `ETag` first.
//! - **Only verified loads are kept.** Files enter the index when the whole load succeeded (every
//!   header, length and optional SHA-256 checked); a failed load deletes what it wrote.
//! - **Quota never fails a load.** Before storing, the origin's free quota is estimated; least recently
//!   used *other* models are evicted to make room; if there still is none, or `cache.put` rejects
//!   (`QuotaExceededError`), the load goes on uncached and the [`CacheReport`] says so.
//! - **Management.** [`ModelCache::list`], [`ModelCache::size`], [`ModelCache::delete`],
//!   [`ModelCache::clear`].

mod index;
#[cfg(target_arch = "wasm32")]
mod web;

use serde::Serialize;

pub use index::{CacheIndex, CachedFile, CachedModel, CachedModelInfo, INDEX_VERSION};
#[cfg(target_arch = "wasm32")]
pub use web::{CachedSource, ModelCache, read_blob_range};

/// The Cache Storage cache webvram uses. A new format gets a new name, so old entries are ignored.
pub const CACHE_NAME: &str = "webvram-v1";

/// Where the index is stored in that cache (a same-origin path no server is asked for).
pub const INDEX_KEY: &str = "/.webvram-cache/index.json";

/// How a load uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Network only; nothing read or written.
    Off,
    /// Use stored files without asking the server; store what is downloaded.
    #[default]
    Prefer,
    /// Like `Prefer`, but confirm each stored file's size and `ETag` with a 1-byte request first, and
    /// download it again when the server's copy changed.
    Revalidate,
}

/// What the cache did during one load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// Bytes served from the cache.
    pub hit_bytes: u64,
    /// Bytes newly stored.
    pub stored_bytes: u64,
    /// Files that could not be stored (no room, a rejected write, a failed load).
    pub skipped: Vec<String>,
    /// Models evicted to make room.
    pub evicted: Vec<String>,
    /// Stored files found out of date by revalidation.
    pub stale: Vec<String>,
}
