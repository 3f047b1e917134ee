//! The seam between the loader and whatever delivers bytes: [`ByteSource`] and its [`Body`].
//!
//! A source answers a request the way HTTP does — a status, a few headers, then a body read chunk by chunk —
//! and makes no decisions: it does not retry, does not check lengths against anything and does not follow
//! `Range` semantics beyond passing them on. All of that lives once, in the loader, so the browser's
//! `fetch`, a local file and the native test HTTP client are held to the same rules. Sources that are not
//! HTTP map their outcomes onto HTTP statuses ([`FileSource`](crate::fetch::FileSource) answers 404 for a
//! missing file, 206 for a range, 416 for a range past the end).
//!
//! The traits use `async fn` without `Send` bounds on purpose: the browser is single-threaded and its
//! futures (`JsFuture`) are not `Send`. Natively a source may block inside its `async fn`s.
//!
//! # Implementing it in the browser
//!
//! - `open`: build a `Request` with method GET, the load's `AbortSignal`, and when `range` is
//!   `Some(a..b)` the header `Range: bytes=a-(b-1)`; `await` `fetch`. A rejection is
//!   [`SourceError::Aborted`] when the error's `name` is `"AbortError"`, else [`SourceError::Network`].
//!   Fill [`ResponseMeta`] from `status()` and `headers().get(…)` (`content-length` parsed as digits,
//!   left `None` when `content-encoding` is present and not `identity`; `content-range`; `etag`), then
//!   keep `body().get_reader()` (a `ReadableStreamDefaultReader`). Cross-origin servers must list
//!   `Content-Range` and `ETag` in `Access-Control-Expose-Headers`, or they read as absent.
//! - `read`: keep the current `Uint8Array` and an offset; when it is used up, `await reader.read()`
//!   (`done` → `Ok(0)`; a rejection → `Network` or `Aborted` as above); copy
//!   `n = min(buf.len(), remaining)` bytes with `array.subarray(off, off + n).copy_to(&mut buf[..n])`.
//!   Copying only what the caller asks keeps wasm memory bounded by the loader's chunk size.
//! - `Drop` for the body: `reader.cancel()` (ignore its promise) so an abandoned body stops downloading.

use std::ops::Range;

/// What a response said about itself before its body is read: the parts of a fetch `Response` the loader
/// checks. Plain data, so a source fills it from whatever it has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseMeta {
    /// The HTTP status: 200 (whole file, also when a `Range` was ignored), 206 (the range asked), 404, 416,
    /// 5xx… The loader decides what each means; a source never turns a status into an error.
    pub status: u16,
    /// `Content-Length`: how many body bytes will be delivered. `None` when absent, and also when the body
    /// is delivered decoded (`Content-Encoding` other than `identity`), where the header counts the encoded
    /// bytes instead.
    pub content_length: Option<u64>,
    /// `Content-Range` as written, e.g. `bytes 0-65535/1048576`; parsed and checked by the loader. A 206
    /// without it (a cross-origin response that does not expose it) is trusted to hold the range asked.
    pub content_range: Option<String>,
    /// `ETag` as written; when two responses for one URL both carry one, they must be equal, so a file
    /// replaced during a load is noticed instead of mixing two versions.
    pub etag: Option<String>,
}

/// Why a source could not produce a response or a chunk. A status such as 404 or 500 is not an error here:
/// it arrives in [`ResponseMeta::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The connection failed, broke, or timed out (fetch rejected with a `TypeError`, the body stream
    /// errored, or it closed before `Content-Length` bytes). The loader retries, resuming where it was.
    #[error("network error: {0}")]
    Network(String),
    /// The request was aborted (the `AbortSignal` fired). Never retried.
    #[error("the request was aborted")]
    Aborted,
    /// The request cannot be made at all: a malformed URL, an unsupported scheme, a permission error.
    /// Retrying would not help, so the loader does not.
    #[error("the request was refused: {0}")]
    Refused(String),
}

/// Something that opens URLs: the browser's `fetch`, the file system, a native HTTP client, a cache.
#[allow(
    async_fn_in_trait,
    reason = "the browser is single-threaded and its futures are not Send; no caller needs a Send bound"
)]
pub trait ByteSource {
    /// The response body type.
    type Body: Body;

    /// Starts a GET of `url`. With `range = Some(a..b)` (never empty, `b` exclusive) it asks for those bytes
    /// only, i.e. sends `Range: bytes=a-(b-1)`; the server may still answer 200 with the whole file, which
    /// the loader handles. Resolves once the status and headers are known, before the body is read.
    ///
    /// # Errors
    /// [`SourceError`]: `Network` when no response arrived, `Aborted`, or `Refused`.
    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<Self::Body, SourceError>;

    /// Whether `url`'s bytes come from a persistent cache rather than the network, so progress can say
    /// `cache` instead of `download`. Sources without a cache keep the default, `false`.
    fn serves_from_cache(&self, url: &str) -> bool {
        let _ = url;
        false
    }
}

/// A response: its metadata, then its body read chunk by chunk. Dropping a body before its end must stop
/// the transfer (the browser implementation cancels its reader), because the loader drops bodies early on
/// purpose — after a header probe, or when a server ignored `Range`.
#[allow(
    async_fn_in_trait,
    reason = "the browser is single-threaded and its futures are not Send; no caller needs a Send bound"
)]
pub trait Body {
    /// The status and headers.
    fn meta(&self) -> &ResponseMeta;

    /// Reads the next bytes of the body into `buf`, returning how many (at most `buf.len()`, at least 1
    /// while the body has bytes left). `Ok(0)` means the body ended cleanly. Reading into the caller's
    /// buffer is what bounds a load's memory by its chunk size: a source must not buffer more than one
    /// chunk of its own (the browser's current `Uint8Array`, kept JS-side until copied out).
    ///
    /// # Errors
    /// [`SourceError::Network`] when the body broke off (including a close before `Content-Length` bytes),
    /// [`SourceError::Aborted`] when aborted.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError>;
}
