//! Safetensors weights, read as a stream: headers, sharded indexes, tensor assembly and dtype conversion.
//!
//! This layer is pure Rust with no GPU, browser or network types, so it runs the same on wasm32 and
//! natively and can be fuzzed. The fetch layer hands it bytes as they arrive; it hands back validated
//! headers and whole (or chunked) tensors, and never needs a whole file in memory:
//!
//! 1. [`HeaderReader`] is fed chunks until it yields a validated [`Header`] (8-byte length + JSON);
//!    [`header_len`] serves a fetch that asks for the 8 bytes first with an HTTP `Range` request.
//! 2. [`Index`] parses `model.safetensors.index.json`, resolves shard names against the index's URL with
//!    [`resolve_shard`], and [`Index::cross_check`]s the shards' headers against the weight map.
//! 3. [`TensorStream`] (or [`FileStream`] for header + data in one stream) cuts the data region into
//!    per-tensor pieces of at most [`DEFAULT_PIECE_LEN`] bytes for a [`TensorSink`].
//! 4. [`Converter`] turns F64/F32/F16/BF16/F8 bytes into f32 (or f16) bytes chunk by chunk.
//! 5. [`synth`] generates deterministic sharded checkpoints for tests and benchmarks.
//!
//! ```
//! use webvram::weights::{ChecksumSink, FileStream};
//!
//! // A file with one F32 tensor `w` of shape [2] holding 1.0 and 2.0.
//! let json = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
//! let mut file = (json.len() as u64).to_le_bytes().to_vec();
//! file.extend_from_slice(json);
//! file.extend_from_slice(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
//!
//! let mut sink = ChecksumSink::default();
//! let mut stream = FileStream::new("mem://w.safetensors", Some(file.len() as u64));
//! for chunk in file.chunks(3) {
//!     stream.feed(chunk, &mut sink)?;
//! }
//! let header = stream.finish(&mut sink)?;
//! assert_eq!(header.tensor("w").unwrap().shape(), &[2]);
//! assert_eq!(sink.sums().len(), 1);
//! # Ok::<(), webvram::weights::WeightsError>(())
//! ```
#![warn(missing_docs)]

mod convert;
mod dtype;
mod error;
mod header;
mod index;
mod raw;
mod reader;
mod sinks;
mod stream;
pub mod synth;
mod tensor;
mod url;

pub use convert::{ConvertTarget, Converter, convert_all, e4m3fn_to_f32, e5m2_to_f32, to_f32_vec};
pub use dtype::{Dtype, DtypeProblem};
pub use error::WeightsError;
pub use header::Header;
pub use index::{Index, ShardRef};
pub use reader::{HeaderReader, HeaderStep, header_len, read_header};
pub use sinks::{Buffered, ChecksumSink, Fnv1a, Sha256Sink, WholeTensorSink, WordHash};
pub use stream::{FileStream, TensorSink, TensorStream};
pub use tensor::TensorInfo;
pub use url::{ShardNameProblem, ShardPolicy, resolve_shard};

/// Length of the little-endian `u64` header-length prefix that starts every safetensors file.
pub const PREFIX_LEN: u64 = 8;

/// Largest JSON header accepted, in bytes: 100,000,000, the same limit as the `safetensors` crate, so a
/// file one accepts the other accepts. Checked before any header byte is buffered, so a hostile length
/// prefix cannot make a page reserve gigabytes.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Largest index file accepted, in bytes (same as [`MAX_HEADER_LEN`]; real indexes are well under 1 MB).
pub const MAX_INDEX_LEN: u64 = 100_000_000;

/// Most dimensions a tensor may have. PyTorch tops out well below this; the cap keeps a hostile
/// `"shape": [1,1,1,…]` from costing eight bytes of memory per two bytes of header.
pub const MAX_RANK: usize = 64;

/// Largest piece of a tensor handed to [`TensorSink::chunk`] at once: 1 MiB. Pieces are sub-slices of the
/// caller's chunks (no copy), so the stream itself holds no data; this bounds what a sink sees per call
/// even when a caller feeds a 100 MB chunk, e.g. so a GPU upload staging buffer can stay small.
pub const DEFAULT_PIECE_LEN: usize = 1 << 20;
