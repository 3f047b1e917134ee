//! Streaming safetensors weights from the network (or the disk), tensor by tensor.
//!
//! Fetch knows bytes and URLs, not models: it turns a model location — one `model.safetensors` or a
//! `model.safetensors.index.json` with its shards — into a sequence of validated tensors handed to a
//! [`TensorSink`](crate::weights::TensorSink) one at a time, as their bytes arrive. Everything about the
//! format is delegated to [`weights`](crate::weights); this layer adds the network's problems:
//!
//! - **One seam.** [`ByteSource`] opens a URL (optionally a byte range) and yields a [`Body`] read chunk by
//!   chunk. The browser implements it with `fetch` + `ReadableStreamDefaultReader`; natively,
//!   [`FileSource`] and [`HttpSource`] implement it, so every path below is tested without a browser.
//! - **Headers first.** Each shard's header is read with a `Range` request of [`HEADER_PROBE_LEN`] bytes
//!   (a second, exact one if the header is longer), validated, and cross-checked against the index. The
//!   total byte count is therefore known before the first data byte, and a stale index or a wrong file is
//!   refused before anything reaches the GPU.
//! - **Bounded memory.** Data is read into one buffer of [`LoadOptions::chunk_size`] bytes, fed straight
//!   through a [`TensorStream`](crate::weights::TensorStream) and reused: a load holds one chunk plus the
//!   parsed headers, never a shard.
//! - **Faults.** Servers that ignore `Range` (200) are streamed and the prefix skipped; 5xx and dropped
//!   connections are retried [`LoadOptions::max_retries`] times, resuming from the last byte received;
//!   404, lengths that disagree with the header, a changed `ETag` and a bad SHA-256 are typed errors
//!   ([`FetchError`]) naming the URL at fault. [`CancelToken`] is checked between chunks.
//! - **Progress.** [`Progress`] events have a known `total` from the first event on, a monotone `loaded`,
//!   and end exactly at `total`.
//!
//! ```
//! # #[cfg(not(target_arch = "wasm32"))] {
//! use webvram::fetch::{FileSource, LoadOptions, load_model};
//! use webvram::weights::ChecksumSink;
//!
//! // A file with one F32 tensor `w` of shape [2] holding 1.0 and 2.0.
//! let json = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
//! let mut file = (json.len() as u64).to_le_bytes().to_vec();
//! file.extend_from_slice(json);
//! file.extend_from_slice(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
//! let path = std::env::temp_dir().join(format!("webvram-doc-{}.safetensors", std::process::id()));
//! std::fs::write(&path, &file).unwrap();
//!
//! let mut sink = ChecksumSink::default();
//! let mut last = None;
//! let loaded = pollster::block_on(load_model(
//!     &FileSource::new(),
//!     path.to_str().unwrap(),
//!     &mut sink,
//!     &LoadOptions::default(),
//!     |p| last = Some((p.loaded, p.total)),
//! ))?;
//! assert_eq!(loaded.total(), file.len() as u64);
//! assert_eq!(last, Some((file.len() as u64, file.len() as u64)));
//! assert_eq!(sink.sums().len(), 1);
//! std::fs::remove_file(&path).unwrap();
//! # }
//! # Ok::<(), webvram::fetch::FetchError>(())
//! ```
#![warn(missing_docs)]

pub mod cache;
mod cancel;
mod content_range;
mod error;
mod fetcher;
mod header_fetch;
mod index_fetch;
mod loaded;
mod loader;
#[cfg(not(target_arch = "wasm32"))]
mod native;
mod options;
mod progress;
mod range_read;
mod response;
mod shard_stream;
mod source;
#[cfg(target_arch = "wasm32")]
mod web;

pub use cache::{CacheMode, CacheReport};
#[cfg(target_arch = "wasm32")]
pub use cache::{CachedSource, ModelCache, read_blob_range};
pub use cancel::CancelToken;
pub use error::FetchError;
pub use index_fetch::fetch_file;
pub use loaded::{Loaded, LoadedShard};
pub use loader::{OpenedModel, load_model, open_model};
#[cfg(not(target_arch = "wasm32"))]
pub use native::{FileBody, FileSource, HttpBody, HttpSource};
pub use options::{LoadOptions, SleepFn};
pub use progress::{Phase, Progress};
pub use range_read::read_range;
pub use source::{Body, ByteSource, ResponseMeta, SourceError};
#[cfg(target_arch = "wasm32")]
pub use web::{FetchBody, FetchSource, browser_sleep, cancel_on_abort};

/// Default [`LoadOptions::chunk_size`]: 1 MiB. The loader's one read buffer has this size, so it bounds
/// the data a load holds at once. Measured in Chromium, 256 KiB reads cost a quarter of the throughput in
/// per-read overhead (a browser delivers ~0.5 MiB per stream chunk); 1 MiB is still small for a phone.
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Default [`LoadOptions::max_retries`]: 3 retries (4 requests) per request sequence — a shard's header, a
/// shard's data, or the index. Each retry resumes from the last byte received, so progress is never lost.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Default [`LoadOptions::retry_backoff`]: 250 ms before the first retry, doubled for each further one.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 250;

/// The longest wait between retries, in milliseconds: 8 s, however many retries are allowed.
pub const MAX_RETRY_BACKOFF_MS: u64 = 8_000;

/// Default [`LoadOptions::header_probe_len`]: the first request for a shard asks for its first 64 KiB,
/// which holds the 8-byte length prefix and the whole JSON header of most checkpoints (a header is about
/// 100 bytes per tensor), so one round trip usually suffices; a longer header costs one exact second
/// request, never a guess.
pub const HEADER_PROBE_LEN: u64 = 64 * 1024;
