//! The load itself: locate the shards, read and cross-check every header, then stream every shard.
//!
//! The order is what makes the guarantees hold. All headers come first (small `Range` requests), so a
//! stale index, a missing shard or a wrong file fails before a single tensor reaches the sink, and the
//! total byte count is known before the first data byte. Shards are then streamed one after another, each
//! through one reused chunk buffer, so peak memory is one chunk plus the headers, whatever the model size.

use std::error::Error;

use crate::fetch::error::FetchError;
use crate::fetch::fetcher::check_cancel;
use crate::fetch::header_fetch::fetch_header;
use crate::fetch::index_fetch::fetch_index;
use crate::fetch::loaded::{Loaded, LoadedShard};
use crate::fetch::options::LoadOptions;
use crate::fetch::progress::{Phase, Progress, Reporter};
use crate::fetch::shard_stream::{Shard, stream_shard};
use crate::fetch::source::ByteSource;
use crate::weights::{Header, Index, TensorSink};

/// Loads the model at `url` from `source`, handing every tensor to `sink` as its bytes complete.
///
/// `url` is either one safetensors file (`…/model.safetensors`) or an index (any URL whose path ends in
/// `.json`, normally `…/model.safetensors.index.json`), whose shards are resolved against it. `progress`
/// receives [`Progress`] events: one [`Phase::Header`] per shard once all headers are validated, then one
/// [`Phase::Download`] per chunk; `total` is fixed from the first event and the last has `loaded == total`.
///
/// Tensors reach the sink in file order, shard after shard, as soon as their bytes arrive. On `Err` the
/// sink may already have received some tensors (a checksum, for one, can only fail after the last byte):
/// the caller must discard what it received from a failed load.
///
/// # Errors
/// [`FetchError`]: `NotFound`, `Status`, `Network`, `Request`, `LengthMismatch`, `Truncated`,
/// `RangeNotSatisfiable`, `BadContentRange`, `Changed` (each naming the URL at fault), `ChecksumMismatch`,
/// `Aborted`, `Format` (invalid header or index, or index and headers disagree), `Sink`, and `BadOption`
/// for a checksum given for a shard the model does not have.
pub async fn load_model<S, K>(
    source: &S,
    url: &str,
    sink: &mut K,
    options: &LoadOptions,
    progress: impl FnMut(&Progress<'_>),
) -> Result<Loaded, FetchError>
where
    S: ByteSource,
    K: TensorSink,
    K::Error: Error + 'static,
{
    let opened = open_model(source, url, options).await?;
    opened.stream(source, sink, options, progress).await
}

/// A model whose index and headers are read and cross-checked, and whose data is not: what is
/// known before the first data byte (every tensor's name, dtype, shape and place). Placing
/// layers as they arrive needs it: the model is registered and planned from the headers, then
/// streamed.
pub struct OpenedModel {
    index: Option<Index>,
    shards: Vec<Shard>,
    retries: u32,
}

impl OpenedModel {
    /// Every shard's name and validated header, in streaming order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &Header)> {
        self.shards.iter().map(|s| (s.name.as_str(), &s.header))
    }

    /// Every shard's URL and validated header, in streaming order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Header)> {
        self.shards.iter().map(|s| (s.url.as_str(), &s.header))
    }

    /// Bytes of all the shards' files.
    pub fn total(&self) -> u64 {
        (self.shards.iter()).fold(0u64, |sum, s| sum.saturating_add(s.header.file_len()))
    }

    /// Streams every shard into `sink` (see [`load_model`]).
    ///
    /// # Errors
    /// As [`load_model`], less the errors of reading the index and headers.
    pub async fn stream<S, K>(
        self,
        source: &S,
        sink: &mut K,
        options: &LoadOptions,
        mut progress: impl FnMut(&Progress<'_>),
    ) -> Result<Loaded, FetchError>
    where
        S: ByteSource,
        K: TensorSink,
        K::Error: Error + 'static,
    {
        let total = self.total();
        let Self {
            index,
            mut shards,
            mut retries,
        } = self;
        let mut reporter = Reporter::new(total, &mut progress);
        for shard in &shards {
            reporter.advance(Phase::Header, shard.header.data_start(), &shard.name, None);
        }
        for shard in &mut shards {
            let spent = stream_shard(source, options, shard, sink, &mut reporter).await?;
            retries = retries.saturating_add(spent);
        }
        let shards = shards
            .into_iter()
            .map(|s| LoadedShard::new(s.name, s.url, s.header, s.etag))
            .collect();
        Ok(Loaded::new(index, shards, total, retries))
    }
}

/// Reads the index (for a `.json` URL) and every shard's header, validates them and checks them
/// against each other; reads no tensor data.
///
/// # Errors
/// As [`load_model`], less the errors of streaming data.
pub async fn open_model<S: ByteSource>(
    source: &S,
    url: &str,
    options: &LoadOptions,
) -> Result<OpenedModel, FetchError> {
    check_cancel(options)?;
    let (index, refs) = locate(source, options, url).await?;
    check_checksum_names(options, &refs)?;
    let (shards, retries) = read_headers(source, options, refs).await?;
    if let Some(index) = &index {
        index.cross_check(|r| {
            shards
                .iter()
                .find(|s| s.name == r.name())
                .map(|s| &s.header)
        })?;
    }
    Ok(OpenedModel {
        index,
        shards,
        retries,
    })
}

/// Reads and validates every shard's header, in order; returns the shards and the retries spent.
async fn read_headers<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    refs: Vec<(String, String)>,
) -> Result<(Vec<Shard>, u32), FetchError> {
    let mut retries = 0u32;
    let mut shards = Vec::with_capacity(refs.len());
    for (name, url) in refs {
        let expected_sha = options.sha256.get(&name).copied();
        let head = fetch_header(source, options, &url, expected_sha.is_some()).await?;
        retries = retries.saturating_add(head.retries);
        shards.push(Shard {
            name,
            url,
            header: head.header,
            etag: head.etag,
            sha: head.sha,
            expected_sha,
        });
    }
    Ok((shards, retries))
}

/// The index (for a `.json` location) and every shard as (name, URL), in streaming order.
async fn locate<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
) -> Result<(Option<Index>, Vec<(String, String)>), FetchError> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    if !path.to_ascii_lowercase().ends_with(".json") {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        return Ok((None, vec![(name.to_owned(), url.to_owned())]));
    }
    let index = fetch_index(source, options, url).await?;
    let refs = index
        .shards()
        .iter()
        .map(|s| (s.name().to_owned(), s.url().to_owned()))
        .collect();
    Ok((Some(index), refs))
}

/// Refuses an expected checksum for a shard the model does not have: a typo must not skip verification.
fn check_checksum_names(
    options: &LoadOptions,
    refs: &[(String, String)],
) -> Result<(), FetchError> {
    let unknown = options
        .sha256
        .keys()
        .find(|name| !refs.iter().any(|(shard, _)| shard == *name));
    match unknown {
        Some(name) => {
            let shards: Vec<&str> = refs.iter().map(|(shard, _)| shard.as_str()).collect();
            Err(FetchError::BadOption {
                option: "sha256",
                problem: format!(
                    "a checksum is given for shard \"{name}\", but the model's shards are {shards:?}"
                ),
            })
        }
        None => Ok(()),
    }
}
