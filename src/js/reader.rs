//! Where the browser runtime reads a layer back from: Cache Storage when the model's files are
//! stored there (the Cache tier), else the network with a `Range` request (the Remote tier).

use std::ops::Range;

use crate::exec::LocalFuture;
use crate::fetch::{FetchSource, ModelCache, SourceError, read_range};
use crate::runtime::RangeReader;

/// Cache first, then the network; no abort signal (a re-read serves the runtime, not one call).
pub(crate) struct BrowserReader;

impl RangeReader for BrowserReader {
    fn read<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(async move {
            if let Some(cache) = ModelCache::open().await
                && let Some(bytes) = cache.read_range(url, range.clone()).await
            {
                return Ok(bytes);
            }
            read_range(&FetchSource::new(None), url, range).await
        })
    }
}
