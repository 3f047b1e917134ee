//! How a load behaves: chunk size, retries, backoff, expected checksums, cancellation, shard policy.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use crate::fetch::cancel::CancelToken;
use crate::fetch::error::FetchError;
use crate::fetch::{
    DEFAULT_CHUNK_SIZE, DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BACKOFF_MS, HEADER_PROBE_LEN,
    MAX_RETRY_BACKOFF_MS,
};

/// Waits for a duration, asynchronously: the loader's only way to pause between retries, supplied by the
/// caller because waiting is platform business (a `setTimeout` promise in the browser; natively a thread
/// sleep, or nothing in tests).
pub type SleepFn = Rc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()>>>>;

/// Options of [`load_model`](crate::fetch::load_model); [`LoadOptions::default`] suits a browser page.
#[derive(Clone)]
pub struct LoadOptions {
    /// Size of the one read buffer, in bytes: the most data a load holds at once (besides headers).
    /// Values below 1 are treated as 1. Default [`DEFAULT_CHUNK_SIZE`].
    pub chunk_size: usize,
    /// Retries per request sequence (a shard's header, a shard's data, the index) after a 5xx/408/429, a
    /// failed connection or a body cut short. Default [`DEFAULT_MAX_RETRIES`].
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further retry, capped at [`MAX_RETRY_BACKOFF_MS`].
    /// Default [`DEFAULT_RETRY_BACKOFF_MS`]. Only used when [`LoadOptions::sleep`] is set.
    pub retry_backoff: Duration,
    /// How to wait between retries; `None` retries at once (native tests).
    pub sleep: Option<SleepFn>,
    /// Expected SHA-256 of whole shard files, by shard name (as the index writes it, or the file name of a
    /// single-file model). Verified while streaming; a name the model does not have is refused, so a typo
    /// cannot silently skip verification. Fill it with [`LoadOptions::with_sha256_hex`].
    pub sha256: BTreeMap<String, [u8; 32]>,
    /// Cancels the load when set.
    pub cancel: CancelToken,
    /// Let the index name shards outside its folder (other origins, `..`); see
    /// [`ShardPolicy`](crate::weights::ShardPolicy). Default `false`.
    pub allow_external: bool,
    /// Bytes asked for by the first request of each shard's header. Default [`HEADER_PROBE_LEN`]; values
    /// below 8 are treated as 8.
    pub header_probe_len: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: Duration::from_millis(DEFAULT_RETRY_BACKOFF_MS),
            sleep: None,
            sha256: BTreeMap::new(),
            cancel: CancelToken::new(),
            allow_external: false,
            header_probe_len: HEADER_PROBE_LEN,
        }
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("chunk_size", &self.chunk_size)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("sleep", &self.sleep.as_ref().map(|_| "fn"))
            .field("sha256", &self.sha256.keys().collect::<Vec<_>>())
            .field("cancel", &self.cancel)
            .field("allow_external", &self.allow_external)
            .field("header_probe_len", &self.header_probe_len)
            .finish()
    }
}

impl LoadOptions {
    /// Expects shard `shard` to have the SHA-256 `hex` (64 hex digits, either case), as published next to
    /// the checkpoint.
    ///
    /// # Errors
    /// [`FetchError::BadOption`] when `hex` is not 64 hex digits.
    pub fn with_sha256_hex(mut self, shard: &str, hex: &str) -> Result<Self, FetchError> {
        let digest = parse_sha256_hex(hex).ok_or_else(|| FetchError::BadOption {
            option: "sha256",
            problem: format!("{hex:?} for shard \"{shard}\" is not 64 hexadecimal digits"),
        })?;
        self.sha256.insert(shard.to_owned(), digest);
        Ok(self)
    }

    /// The read buffer size, at least 1.
    pub(crate) fn chunk_len(&self) -> usize {
        self.chunk_size.max(1)
    }

    /// The wait before retry number `retry` (1-based): backoff × 2^(retry−1), capped.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let cap = Duration::from_millis(MAX_RETRY_BACKOFF_MS);
        self.retry_backoff.saturating_mul(factor).min(cap)
    }
}

/// 64 hex digits as 32 bytes.
fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex of a digest, for messages.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
