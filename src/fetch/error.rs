//! The one error type of the fetch layer.
//!
//! Every variant names the URL (or path) at fault, so with a sharded model the message says which shard
//! broke, and its Display says what to do next. [`FetchError::code`] gives the JS layer a coarse
//! `Error.code` and [`FetchError::kind`] a precise one.

use std::error::Error;

use crate::weights::WeightsError;

/// Everything that can go wrong while loading weights from a [`ByteSource`](crate::fetch::ByteSource).
///
/// Fields share one vocabulary: `url` is the URL or path requested; `expected` / `got` are byte counts or
/// offsets (what the safetensors header or the request implies vs what the server said or sent);
/// `attempts` counts requests made, retries included.
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "the fields share the vocabulary documented above instead of repeating it per variant"
)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered 404 (or 410). Never retried.
    #[error(
        "{url}: not found (HTTP 404); check the model URL, and that every shard the index names was uploaded"
    )]
    NotFound { url: String },
    /// The server answered a status that is not success: a 4xx at once, a 5xx/408/429 after the retries.
    #[error(
        "{url}: the server answered HTTP {status} ({attempts} attempt(s)); retry later, or check the URL and the server's access rules"
    )]
    Status {
        url: String,
        status: u16,
        attempts: u32,
    },
    /// No response could be had: the connection failed or timed out on every attempt.
    #[error(
        "{url}: network error after {attempts} attempt(s): {message}; check the connection and load again"
    )]
    Network {
        url: String,
        message: String,
        attempts: u32,
    },
    /// A small file read whole (a config, a tokenizer) is larger than its stated limit.
    #[error("{url}: the file is {len} bytes, more than the {limit} bytes allowed for it")]
    TooLarge { url: String, len: u64, limit: u64 },
    /// The source refused to make the request (malformed URL, unsupported scheme, permission). Never retried.
    #[error("{url}: the request cannot be made: {message}")]
    Request { url: String, message: String },
    /// `Content-Length` or the `Content-Range` total disagrees with the length the safetensors header
    /// implies (or with the range asked): the server holds another file than the header describes, or a
    /// proxy rewrote it.
    #[error(
        "{url}: the server announces {got} bytes where {expected} were expected; the file on the server does not match its header (re-upload it, or bypass the proxy that alters it)"
    )]
    LengthMismatch {
        url: String,
        expected: u64,
        got: u64,
    },
    /// The body kept ending before the bytes the request needed, on every attempt.
    #[error(
        "{url}: the body stops at byte {got} of {expected} after {attempts} attempt(s); the connection keeps dropping or the server's copy is cut short — load again later or re-upload the file"
    )]
    Truncated {
        url: String,
        expected: u64,
        got: u64,
        attempts: u32,
    },
    /// The server answered 416 to a range inside the file the header describes.
    #[error(
        "{url}: the server cannot serve bytes {start}..{end} (HTTP 416); its file is shorter than its header says — re-upload it"
    )]
    RangeNotSatisfiable { url: String, start: u64, end: u64 },
    /// A 206 answer whose `Content-Range` is not the range asked (or not parseable).
    #[error(
        "{url}: asked for bytes {start}..{end} but the answer's Content-Range is {content_range:?}; the server or a proxy mishandles Range requests"
    )]
    BadContentRange {
        url: String,
        start: u64,
        end: u64,
        content_range: String,
    },
    /// The `ETag` changed between two requests for the same file: it was replaced during the load.
    #[error(
        "{url}: the file changed during the load (ETag {before} became {after}); load again to get one consistent version"
    )]
    Changed {
        url: String,
        before: String,
        after: String,
    },
    /// The SHA-256 of the file, computed while streaming, is not the one the caller expected.
    #[error(
        "{url}: SHA-256 is {got} but {expected} was expected; the file is corrupt or another version — do not use it, fetch it again"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        got: String,
    },
    /// The load was cancelled through its [`CancelToken`](crate::fetch::CancelToken) or the source's abort.
    #[error("the load was aborted")]
    Aborted,
    /// The bytes arrived but are not a valid safetensors file or index (the inner error names the file).
    #[error(transparent)]
    Format(#[from] WeightsError),
    /// The [`TensorSink`](crate::weights::TensorSink) failed on a tensor; `source` is its own error.
    #[error("{url}: the consumer of tensor `{tensor}` failed: {source}")]
    Sink {
        url: String,
        tensor: String,
        source: Box<dyn Error>,
    },
    /// A [`LoadOptions`](crate::fetch::LoadOptions) value cannot be used.
    #[error("load option `{option}` is invalid: {problem}")]
    BadOption {
        option: &'static str,
        problem: String,
    },
}

impl FetchError {
    /// A coarse, stable code for the JS layer's `Error.code`: `"FETCH"` (network, HTTP and length
    /// problems), `"INTEGRITY"` (checksum), `"FORMAT"` (not valid safetensors), `"ABORTED"`, `"SINK"`
    /// (the consumer failed) or `"OPTIONS"` (a caller error).
    pub fn code(&self) -> &'static str {
        use FetchError as E;
        match self {
            E::NotFound { .. }
            | E::Status { .. }
            | E::Network { .. }
            | E::Request { .. }
            | E::LengthMismatch { .. }
            | E::Truncated { .. }
            | E::RangeNotSatisfiable { .. }
            | E::BadContentRange { .. }
            | E::Changed { .. } => "FETCH",
            E::TooLarge { .. } => "FORMAT",
            E::ChecksumMismatch { .. } => "INTEGRITY",
            E::Aborted => "ABORTED",
            E::Format(_) => "FORMAT",
            E::Sink { .. } => "SINK",
            E::BadOption { .. } => "OPTIONS",
        }
    }

    /// A precise, stable code: the variant in snake_case (`"not_found"`, `"length_mismatch"`, …), or for
    /// [`FetchError::Format`] the [`WeightsError::code`] of the format problem.
    pub fn kind(&self) -> &'static str {
        use FetchError as E;
        match self {
            E::NotFound { .. } => "not_found",
            E::Status { .. } => "status",
            E::Network { .. } => "network",
            E::Request { .. } => "request",
            E::TooLarge { .. } => "too_large",
            E::LengthMismatch { .. } => "length_mismatch",
            E::Truncated { .. } => "truncated",
            E::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            E::BadContentRange { .. } => "bad_content_range",
            E::Changed { .. } => "changed",
            E::ChecksumMismatch { .. } => "checksum_mismatch",
            E::Aborted => "aborted",
            E::Format(e) => e.code(),
            E::Sink { .. } => "sink",
            E::BadOption { .. } => "bad_option",
        }
    }

    /// The URL (or path) at fault, when the error has one.
    pub fn url(&self) -> Option<&str> {
        use FetchError as E;
        match self {
            E::NotFound { url }
            | E::Status { url, .. }
            | E::Network { url, .. }
            | E::Request { url, .. }
            | E::TooLarge { url, .. }
            | E::LengthMismatch { url, .. }
            | E::Truncated { url, .. }
            | E::RangeNotSatisfiable { url, .. }
            | E::BadContentRange { url, .. }
            | E::Changed { url, .. }
            | E::ChecksumMismatch { url, .. }
            | E::Sink { url, .. } => Some(url),
            E::Aborted | E::Format(_) | E::BadOption { .. } => None,
        }
    }

    /// Wraps a sink's error: a [`WeightsError`] (from the stream, or a sink such as
    /// [`Buffered`](crate::weights::Buffered)) becomes [`FetchError::Format`], anything else
    /// [`FetchError::Sink`].
    pub(crate) fn from_sink<E: Error + 'static>(url: &str, tensor: &str, error: E) -> FetchError {
        let boxed: Box<dyn Error> = Box::new(error);
        match boxed.downcast::<WeightsError>() {
            Ok(format) => FetchError::Format(*format),
            Err(source) => FetchError::Sink {
                url: url.to_owned(),
                tensor: tensor.to_owned(),
                source,
            },
        }
    }
}
