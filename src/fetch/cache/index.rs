//! The cache's own bookkeeping: which files of which model are stored, how big, and when last used.
//!
//! Pure data, so eviction order and accounting are tested natively; the browser layer stores it as one
//! JSON entry next to the files it describes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stored file: what it was when it was stored, so a changed file on the server is recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedFile {
    /// Its length in bytes.
    pub size: u64,
    /// The `ETag` the server sent with it, if any.
    pub etag: Option<String>,
}

/// One model: the location the caller loaded and every file its load read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedModel {
    /// File URL → what was stored.
    pub files: BTreeMap<String, CachedFile>,
    /// When a load last used it, in milliseconds since the epoch.
    pub last_used_ms: u64,
}

impl CachedModel {
    /// Bytes its files take.
    pub fn bytes(&self) -> u64 {
        self.files
            .values()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }
}

/// What `cachedModels()` reports per model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedModelInfo {
    /// The model location the caller loaded.
    pub url: String,
    /// Bytes stored.
    pub bytes: u64,
    /// Number of files stored.
    pub files: usize,
    /// Last use, in milliseconds since the epoch.
    pub last_used_ms: u64,
}

/// Every cached model, by the location the caller loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheIndex {
    /// Format version; an index of another version is discarded with the files it lists.
    pub version: u32,
    /// Model location → its files.
    pub models: BTreeMap<String, CachedModel>,
}

/// The index format this build reads and writes.
pub const INDEX_VERSION: u32 = 1;

impl CacheIndex {
    /// An empty index of the current version.
    pub fn new() -> Self {
        Self {
            version: INDEX_VERSION,
            models: BTreeMap::new(),
        }
    }

    /// Parses a stored index; anything unreadable or of another version reads as empty, because a cache
    /// that cannot be trusted is only a cache miss.
    pub fn parse(json: &str) -> Self {
        serde_json::from_str::<Self>(json)
            .ok()
            .filter(|i| i.version == INDEX_VERSION)
            .unwrap_or_default()
            .with_version()
    }

    fn with_version(mut self) -> Self {
        self.version = INDEX_VERSION;
        self
    }

    /// The stored file at `url`, in whichever model holds it.
    pub fn file(&self, url: &str) -> Option<&CachedFile> {
        self.models.values().find_map(|m| m.files.get(url))
    }

    /// Records `file` at `url` as part of `model`, used at `now_ms`.
    pub fn record(&mut self, model: &str, url: &str, file: CachedFile, now_ms: u64) {
        let entry = self.models.entry(model.to_owned()).or_default();
        entry.files.insert(url.to_owned(), file);
        entry.last_used_ms = entry.last_used_ms.max(now_ms);
    }

    /// Marks `model` as used at `now_ms` (a no-op for an unknown model).
    pub fn touch(&mut self, model: &str, now_ms: u64) {
        if let Some(entry) = self.models.get_mut(model) {
            entry.last_used_ms = entry.last_used_ms.max(now_ms);
        }
    }

    /// Removes `model`, returning the file URLs no other model still lists (those may be deleted).
    pub fn remove(&mut self, model: &str) -> Vec<String> {
        let Some(removed) = self.models.remove(model) else {
            return Vec::new();
        };
        removed
            .files
            .into_keys()
            .filter(|url| self.file(url).is_none())
            .collect()
    }

    /// Total bytes stored (a file shared by two models counts once).
    pub fn bytes(&self) -> u64 {
        let mut seen = BTreeMap::new();
        for model in self.models.values() {
            for (url, file) in &model.files {
                seen.insert(url.as_str(), file.size);
            }
        }
        seen.values().fold(0u64, |sum, s| sum.saturating_add(*s))
    }

    /// The models to evict, least recently used first, so that at least `needed` bytes are freed,
    /// never touching `keep` (the model being loaded). Returns fewer than needed when the others do not
    /// hold enough; the caller then continues without caching.
    pub fn eviction_order(&self, needed: u64, keep: &str) -> Vec<String> {
        let mut others: Vec<(&String, &CachedModel)> =
            self.models.iter().filter(|(url, _)| *url != keep).collect();
        others.sort_by_key(|(url, m)| (m.last_used_ms, url.as_str()));
        let mut freed = 0u64;
        let mut victims = Vec::new();
        for (url, model) in others {
            if freed >= needed {
                break;
            }
            freed = freed.saturating_add(model.bytes());
            victims.push(url.clone());
        }
        victims
    }

    /// The models, most recently used first.
    pub fn list(&self) -> Vec<CachedModelInfo> {
        let mut list: Vec<CachedModelInfo> = self
            .models
            .iter()
            .map(|(url, m)| CachedModelInfo {
                url: url.clone(),
                bytes: m.bytes(),
                files: m.files.len(),
                last_used_ms: m.last_used_ms,
            })
            .collect();
        list.sort_by(|a, b| b.last_used_ms.cmp(&a.last_used_ms).then(a.url.cmp(&b.url)));
        list
    }
}
