//! Reading one byte range of a file whole: how a layer evicted to the cache or the network comes
//! back (a few tensors, megabytes), as opposed to the loader's streaming of whole shards.

use std::ops::Range;

use crate::fetch::source::{Body, ByteSource, SourceError};

/// Reads `range` of `url` through `source`. A server that ignores `Range` and sends the whole
/// file (200) is read past the prefix; any other status, or a body that ends early, is an error.
///
/// # Errors
/// [`SourceError::Network`] naming the status or the shortfall; the source's own errors.
pub async fn read_range<S: ByteSource>(
    source: &S,
    url: &str,
    range: Range<u64>,
) -> Result<Vec<u8>, SourceError> {
    let mut body = source.open(url, Some(range.clone())).await?;
    let status = body.meta().status;
    let mut skip = match status {
        206 => 0,
        200 => range.start,
        other => {
            return Err(SourceError::Network(format!(
                "HTTP {other} for bytes {}..{} of {url}",
                range.start, range.end
            )));
        }
    };
    let len = usize::try_from(range.end - range.start)
        .map_err(|_| SourceError::Refused(format!("range of {url} too large")))?;
    let mut out = vec![0u8; len];
    let mut filled = 0;
    let mut scratch = vec![0u8; 64 * 1024];
    while filled < len {
        let n = if skip > 0 {
            let want = scratch
                .len()
                .min(usize::try_from(skip).unwrap_or(usize::MAX));
            let n = body.read(&mut scratch[..want]).await?;
            skip -= n as u64;
            n
        } else {
            let n = body.read(&mut out[filled..]).await?;
            filled += n;
            n
        };
        if n == 0 {
            return Err(SourceError::Network(format!(
                "{url} ended after {filled} of the {len} bytes asked for"
            )));
        }
    }
    Ok(out)
}
