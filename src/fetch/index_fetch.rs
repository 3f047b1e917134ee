//! Fetching and parsing `model.safetensors.index.json`.
//!
//! The index is small JSON read whole (it must be parsed whole), refused past
//! [`MAX_INDEX_LEN`] before or while reading, and re-read from the start when a
//! retry is needed: resuming would save nothing worth the complexity.

use crate::fetch::error::FetchError;
use crate::fetch::fetcher::{Fetcher, check_cancel, source_failure};
use crate::fetch::options::LoadOptions;
use crate::fetch::response::{Failure, Retry};
use crate::fetch::source::{Body, ByteSource};
use crate::weights::{Index, MAX_INDEX_LEN, ShardPolicy, WeightsError};

/// Largest read buffer used for the index: the index is held whole anyway, so this only sets the number
/// of reads.
const INDEX_READ_LEN: usize = 64 * 1024;

/// Fetches the index at `url` and validates it, resolving shard names against `url`.
///
/// # Errors
/// Any [`FetchError`] of the requests; `Format` for an invalid or oversized index or a refused shard name.
pub(crate) async fn fetch_index<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
) -> Result<Index, FetchError> {
    let mut fetcher = Fetcher::new(source, options, url, None);
    let bytes = loop {
        check_cancel(options)?;
        match read_whole(&mut fetcher, options, url).await {
            Ok(bytes) => break bytes,
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Retry(why)) => fetcher.retry(why).await?,
        }
    };
    let policy = ShardPolicy {
        allow_external: options.allow_external,
    };
    Ok(Index::parse(url, &bytes, policy)?)
}

/// One attempt at the whole body.
async fn read_whole<S: ByteSource>(
    fetcher: &mut Fetcher<'_, S>,
    options: &LoadOptions,
    url: &str,
) -> Result<Vec<u8>, Failure> {
    let (mut body, served) = fetcher.open(None, None).await?;
    let too_large = |len| {
        let file = url.to_owned();
        let limit = MAX_INDEX_LEN;
        Failure::Fatal(WeightsError::IndexTooLarge { file, len, limit }.into())
    };
    if let Some(len) = served.end.filter(|&len| len > MAX_INDEX_LEN) {
        return Err(too_large(len));
    }
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; options.chunk_len().min(INDEX_READ_LEN)];
    loop {
        check_cancel(options)?;
        let got = bytes.len() as u64;
        let expected = served.end.unwrap_or(got);
        let n = body
            .read(&mut buf)
            .await
            .map_err(|e| source_failure(url, e, |_| Retry::Short { expected, got }))?
            .min(buf.len());
        if n == 0 {
            break;
        }
        if got + n as u64 > MAX_INDEX_LEN {
            return Err(too_large(got + n as u64));
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let got = bytes.len() as u64;
    match served.end.filter(|&expected| got < expected) {
        Some(expected) => Err(Failure::Retry(Retry::Short { expected, got })),
        None => Ok(bytes),
    }
}
