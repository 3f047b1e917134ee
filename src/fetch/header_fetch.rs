//! Reading a shard's header with `Range` requests, before any of its data.
//!
//! The first request asks for [`LoadOptions::header_probe_len`] bytes, which usually hold the 8-byte prefix
//! and the whole JSON header; if the header is longer, the prefix has said exactly how long, and one more
//! request fetches the rest. Bytes past the header are dropped (the data is streamed later, in order, into
//! the sink). The file length the server states is checked against the one the header implies, so a wrong
//! file is refused before its data is touched.

use sha2::{Digest, Sha256};

use crate::fetch::error::FetchError;
use crate::fetch::fetcher::{Fetcher, Flow};
use crate::fetch::options::LoadOptions;
use crate::fetch::source::ByteSource;
use crate::weights::{Header, HeaderReader, PREFIX_LEN};

/// A shard's validated header and what reading it left behind.
pub(crate) struct ShardHead {
    /// The validated header.
    pub header: Header,
    /// The `ETag` of the responses, which the data requests must keep.
    pub etag: Option<String>,
    /// SHA-256 state over the prefix and header, when the caller wants the file verified.
    pub sha: Option<Sha256>,
    /// Retries spent.
    pub retries: u32,
}

/// Reads and validates the header of the shard at `url`; `hash` starts a SHA-256 over its bytes.
///
/// # Errors
/// Any [`FetchError`] of the requests; `Format` for an invalid header; `LengthMismatch` when the server's
/// stated file length is not the header's.
pub(crate) async fn fetch_header<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
    hash: bool,
) -> Result<ShardHead, FetchError> {
    let mut fetcher = Fetcher::new(source, options, url, None);
    let mut reader = HeaderReader::new(url);
    let mut sha = hash.then(Sha256::new);
    let mut header = None;
    let mut stated = None;
    let mut span = 0..options.header_probe_len.max(PREFIX_LEN);
    loop {
        let end = fetcher
            .span(span.clone(), None, &mut |chunk: &[u8]| {
                let step = reader.advance(chunk)?;
                let used = step.as_ref().map_or(chunk.len(), |(_, used)| *used);
                if let Some(sha) = sha.as_mut() {
                    sha.update(&chunk[..used]);
                }
                Ok(match step {
                    Some((done, _)) => {
                        header = Some(done);
                        Flow::Stop
                    }
                    None => Flow::More,
                })
            })
            .await?;
        stated = stated.or(end.total);
        if let Some(header) = header.take() {
            check_stated(url, &header, stated)?;
            let etag = fetcher.etag().map(str::to_owned);
            let retries = fetcher.retries();
            return Ok(ShardHead {
                header,
                etag,
                sha,
                retries,
            });
        }
        if end.pos < span.end {
            return Err(reader.end_of_stream().into());
        }
        span = end.pos..end.pos + reader.bytes_needed();
    }
}

/// The file length the server stated must be the one the header implies.
fn check_stated(url: &str, header: &Header, stated: Option<u64>) -> Result<(), FetchError> {
    match stated {
        Some(got) if got != header.file_len() => Err(FetchError::LengthMismatch {
            url: url.into(),
            expected: header.file_len(),
            got,
        }),
        _ => Ok(()),
    }
}
