//! Progress events of a load.

use serde::Serialize;

/// What a [`Progress`] event is about. Serialized lowercase (`"header"`, `"download"`, …) for the JS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A shard's prefix and JSON header were read and validated. The loader emits one per shard, after
    /// every header is known (so `total` is final).
    Header,
    /// Data bytes arrived from the network (or the disk) and went to the sink.
    Download,
    /// Bytes were served from the persistent cache instead of the network (emitted by the cache layer).
    Cache,
    /// Tensors were uploaded to the GPU (emitted by the runtime's sink, not by the loader).
    Upload,
}

/// One progress event: `loaded` of `total` bytes of the model's shard files.
///
/// The loader guarantees that `total` is the sum of all shard file lengths and is the same in every event
/// (it is known before the first data byte), that `loaded` never decreases, and that the last event has
/// `loaded == total`. Retried bytes are not counted twice. Serialized with camelCase keys:
/// `{"phase":"download","loaded":…,"total":…,"shard":"model-00001-of-00002.safetensors","tensor":"…"}`.
/// It borrows its strings, so emitting one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress<'a> {
    /// What happened.
    pub phase: Phase,
    /// Bytes done so far, over all shards.
    pub loaded: u64,
    /// Bytes in all, over all shards.
    pub total: u64,
    /// The shard's name as the index writes it (or the file name of a single-file model).
    pub shard: &'a str,
    /// The tensor the latest bytes belong to; `None` for header events.
    pub tensor: Option<&'a str>,
}

/// Counts `loaded` against a fixed `total` and emits events to the caller's callback.
pub(crate) struct Reporter<'p> {
    loaded: u64,
    total: u64,
    callback: &'p mut dyn FnMut(&Progress<'_>),
}

impl<'p> Reporter<'p> {
    /// A reporter for a load of `total` bytes.
    pub fn new(total: u64, callback: &'p mut dyn FnMut(&Progress<'_>)) -> Self {
        Reporter {
            loaded: 0,
            total,
            callback,
        }
    }

    /// Adds `bytes` to `loaded` (never past `total`) and emits an event.
    pub fn advance(&mut self, phase: Phase, bytes: u64, shard: &str, tensor: Option<&str>) {
        self.loaded = self.loaded.saturating_add(bytes).min(self.total);
        (self.callback)(&Progress {
            phase,
            loaded: self.loaded,
            total: self.total,
            shard,
            tensor,
        });
    }
}
