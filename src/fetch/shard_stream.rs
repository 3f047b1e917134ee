//! Streaming one shard's data region into the sink, tensor by tensor, as the bytes arrive.
//!
//! The data region is one span request (resumed as needed) whose chunks go straight through a
//! [`TensorStream`] into the caller's sink and, when the caller gave a checksum, through SHA-256; nothing is
//! kept between chunks. Each chunk also moves the progress counter, naming the tensor it belongs to.

use std::error::Error;

use sha2::{Digest, Sha256};

use crate::fetch::error::FetchError;
use crate::fetch::fetcher::{Fetcher, Flow};
use crate::fetch::options::{LoadOptions, to_hex};
use crate::fetch::progress::{Phase, Reporter};
use crate::fetch::source::ByteSource;
use crate::weights::{Header, TensorInfo, TensorSink, TensorStream};

/// A shard whose header is known, ready to stream.
pub(crate) struct Shard {
    /// Name as the index writes it.
    pub name: String,
    /// Resolved URL.
    pub url: String,
    /// Its validated header.
    pub header: Header,
    /// The `ETag` seen while reading the header.
    pub etag: Option<String>,
    /// SHA-256 over the bytes read so far (prefix and header), when verifying.
    pub sha: Option<Sha256>,
    /// The SHA-256 the caller expects of the whole file.
    pub expected_sha: Option<[u8; 32]>,
}

/// Streams `shard`'s data into `sink`, verifying its checksum; returns the retries spent.
///
/// # Errors
/// Any [`FetchError`] of the requests, `Sink`/`Format` from the sink, `ChecksumMismatch`.
pub(crate) async fn stream_shard<S, K>(
    source: &S,
    options: &LoadOptions,
    shard: &mut Shard,
    sink: &mut K,
    reporter: &mut Reporter<'_>,
) -> Result<u32, FetchError>
where
    S: ByteSource,
    K: TensorSink,
    K::Error: Error + 'static,
{
    let (url, name) = (shard.url.as_str(), shard.name.as_str());
    let (data, file_len) = (shard.header.data_start(), shard.header.file_len());
    let mut fetcher = Fetcher::new(source, options, url, shard.etag.clone());
    let mut stream = TensorStream::new(shard.header.clone());
    let mut tracked = Tracked {
        inner: sink,
        begun: 0,
    };
    let mut sha = shard.sha.take();
    let phase = match source.serves_from_cache(url) {
        true => Phase::Cache,
        false => Phase::Download,
    };
    if data < file_len {
        fetcher
            .span(data..file_len, Some(file_len), &mut |chunk: &[u8]| {
                if let Some(sha) = sha.as_mut() {
                    sha.update(chunk);
                }
                let fed = stream.feed(chunk, &mut tracked);
                let tensor = tracked.current(stream.header());
                fed.map_err(|e| FetchError::from_sink(url, tensor.unwrap_or(""), e))?;
                reporter.advance(phase, chunk.len() as u64, name, tensor);
                Ok(Flow::More)
            })
            .await?;
    }
    if let Err(e) = stream.finish(&mut tracked) {
        let tensor = tracked.current(&shard.header).unwrap_or("");
        return Err(FetchError::from_sink(url, tensor, e));
    }
    verify(url, sha, shard.expected_sha)?;
    Ok(fetcher.retries())
}

/// Compares the finished SHA-256 with the expected one.
fn verify(url: &str, sha: Option<Sha256>, expected: Option<[u8; 32]>) -> Result<(), FetchError> {
    let (Some(sha), Some(expected)) = (sha, expected) else {
        return Ok(());
    };
    let got: [u8; 32] = sha.finalize().into();
    match got == expected {
        true => Ok(()),
        false => Err(FetchError::ChecksumMismatch {
            url: url.into(),
            expected: to_hex(&expected),
            got: to_hex(&got),
        }),
    }
}

/// Passes everything to the caller's sink, counting `begin`s to know the current tensor.
struct Tracked<'k, K> {
    inner: &'k mut K,
    begun: usize,
}

impl<K> Tracked<'_, K> {
    /// The tensor last begun (the stream begins them in header order).
    fn current<'h>(&self, header: &'h Header) -> Option<&'h str> {
        let i = self.begun.checked_sub(1)?;
        header.tensors().get(i).map(TensorInfo::name)
    }
}

impl<K: TensorSink> TensorSink for Tracked<'_, K> {
    type Error = K::Error;

    fn header(&mut self, header: &Header) -> Result<(), K::Error> {
        self.inner.header(header)
    }

    fn begin(&mut self, tensor: &TensorInfo) -> Result<(), K::Error> {
        self.begun += 1;
        self.inner.begin(tensor)
    }

    fn chunk(&mut self, tensor: &TensorInfo, bytes: &[u8]) -> Result<(), K::Error> {
        self.inner.chunk(tensor, bytes)
    }

    fn end(&mut self, tensor: &TensorInfo) -> Result<(), K::Error> {
        self.inner.end(tensor)
    }
}
