//! What a finished load returns: every shard's validated header, where it came from, and its version.

use crate::weights::{Header, Index};

/// A completed load. The tensors went to the sink; this keeps what is needed to fetch any of them again
/// later without re-reading headers — a layer evicted to the network tier is re-fetched with one `Range`
/// request for [`Header::file_range`], checked against [`LoadedShard::etag`].
#[derive(Debug, Clone)]
pub struct Loaded {
    index: Option<Index>,
    shards: Vec<LoadedShard>,
    total: u64,
    retries: u32,
}

/// One shard of a completed load.
#[derive(Debug, Clone)]
pub struct LoadedShard {
    name: String,
    url: String,
    header: Header,
    etag: Option<String>,
}

impl Loaded {
    /// Assembles a result.
    pub(crate) fn new(
        index: Option<Index>,
        shards: Vec<LoadedShard>,
        total: u64,
        retries: u32,
    ) -> Self {
        Loaded {
            index,
            shards,
            total,
            retries,
        }
    }

    /// The validated index, for a sharded model.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    /// The shards in the order they were streamed (the index's shard order, sorted by name).
    pub fn shards(&self) -> &[LoadedShard] {
        &self.shards
    }

    /// The shard holding `tensor`, if any.
    pub fn shard_of(&self, tensor: &str) -> Option<&LoadedShard> {
        self.shards
            .iter()
            .find(|s| s.header.tensor(tensor).is_some())
    }

    /// Bytes of all shard files: the `total` of every progress event.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Retries spent over the whole load (0 on a clean network).
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

impl LoadedShard {
    /// Assembles a shard's record.
    pub(crate) fn new(name: String, url: String, header: Header, etag: Option<String>) -> Self {
        LoadedShard {
            name,
            url,
            header,
            etag,
        }
    }

    /// Name as the index writes it, or the file name of a single-file model.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL or path it was loaded from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The `ETag` its responses carried, if the server sent one.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }
}
