//! Small files read whole: `model.safetensors.index.json`, and a model's configs and tokenizer.
//!
//! Such a file must be parsed whole anyway. It is refused past a stated limit before or while
//! reading (so a wrong URL cannot fill memory), and re-read from the start when a retry is needed:
//! resuming would save nothing worth the complexity.

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
    let too_large = |len| {
        let (file, limit) = (url.to_owned(), MAX_INDEX_LEN);
        WeightsError::IndexTooLarge { file, len, limit }.into()
    };
    let bytes = fetch_whole(source, options, url, MAX_INDEX_LEN, &too_large).await?;
    let policy = ShardPolicy {
        allow_external: options.allow_external,
    };
    Ok(Index::parse(url, &bytes, policy)?)
}

/// Fetches the whole file at `url` (a config, a tokenizer), with the load's retries and
/// cancellation, refusing it past `limit` bytes.
///
/// # Errors
/// Any [`FetchError`] of the requests; [`FetchError::TooLarge`] past `limit`.
pub async fn fetch_file<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let too_large = |len| FetchError::TooLarge {
        url: url.to_owned(),
        len,
        limit,
    };
    fetch_whole(source, options, url, limit, &too_large).await
}

async fn fetch_whole<S: ByteSource>(
    source: &S,
    options: &LoadOptions,
    url: &str,
    limit: u64,
    too_large: &dyn Fn(u64) -> FetchError,
) -> Result<Vec<u8>, FetchError> {
    let mut fetcher = Fetcher::new(source, options, url, None);
    loop {
        check_cancel(options)?;
        match read_whole(&mut fetcher, options, url, limit, too_large).await {
            Ok(bytes) => return Ok(bytes),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Retry(why)) => fetcher.retry(why).await?,
        }
    }
}

/// One attempt at the whole body.
async fn read_whole<S: ByteSource>(
    fetcher: &mut Fetcher<'_, S>,
    options: &LoadOptions,
    url: &str,
    limit: u64,
    too_large: &dyn Fn(u64) -> FetchError,
) -> Result<Vec<u8>, Failure> {
    let (mut body, served) = fetcher.open(None, None).await?;
    let too_large = |len| Failure::Fatal(too_large(len));
    if let Some(len) = served.end.filter(|&len| len > limit) {
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
        if got + n as u64 > limit {
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
