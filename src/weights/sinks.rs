//! Ready-made tensor sinks: per-tensor checksums, and whole-tensor buffering with a size limit.
//!
//! [`ChecksumSink`] lets tests and the loader prove a streamed tensor is byte-identical to the one the
//! generator (or a cached copy) produced without keeping either in memory. [`Buffered`] adapts a consumer
//! that wants each tensor in one slice, refusing any tensor above a stated limit instead of growing
//! without bound.

use std::collections::BTreeMap;

use crate::weights::error::WeightsError;
use crate::weights::header::Header;
use crate::weights::stream::TensorSink;
use crate::weights::tensor::TensorInfo;

/// 64-bit FNV-1a, a tiny streaming hash: cheap, dependency-free and the same on every target. Not
/// collision-resistant; use [`Sha256Sink`] where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// A hasher with nothing hashed yet.
    pub const fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    /// Hashes more bytes; splitting the input anywhere gives the same result.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// The hash of everything given so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }

    /// The hash of one slice.
    pub fn hash(bytes: &[u8]) -> u64 {
        let mut h = Fnv1a::new();
        h.update(bytes);
        h.finish()
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

/// FNV-1a's step applied to little-endian 64-bit words instead of bytes (a trailing 1–7 bytes are
/// hashed byte by byte): eight times fewer multiplications than [`Fnv1a`], so a checksum keeps up with
/// a fast download. The same on every target and independent of how the input is split. Not
/// collision-resistant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordHash {
    state: u64,
    pending: [u8; 8],
    pending_len: usize,
}

impl WordHash {
    /// A hasher with nothing hashed yet.
    pub const fn new() -> Self {
        WordHash {
            state: Fnv1a::OFFSET,
            pending: [0; 8],
            pending_len: 0,
        }
    }

    /// Hashes more bytes; splitting the input anywhere gives the same result.
    pub fn update(&mut self, mut bytes: &[u8]) {
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 8 {
                return;
            }
            self.state = Self::step(self.state, u64::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let words = bytes.chunks_exact(8);
        let tail = words.remainder();
        for word in words {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            self.state = Self::step(self.state, word);
        }
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
    }

    /// The hash of everything given so far.
    pub fn finish(&self) -> u64 {
        self.pending[..self.pending_len]
            .iter()
            .fold(self.state, |h, &b| Self::step(h, u64::from(b)))
    }

    /// The hash of one slice.
    pub fn hash(bytes: &[u8]) -> u64 {
        let mut h = WordHash::new();
        h.update(bytes);
        h.finish()
    }

    fn step(state: u64, value: u64) -> u64 {
        (state ^ value).wrapping_mul(Fnv1a::PRIME)
    }
}

impl Default for WordHash {
    fn default() -> Self {
        WordHash::new()
    }
}

/// Records the [`WordHash`] of every tensor streamed through it, keyed by tensor name.
#[derive(Debug, Clone, Default)]
pub struct ChecksumSink {
    current: WordHash,
    sums: BTreeMap<String, u64>,
}

impl ChecksumSink {
    /// The [`WordHash`] of each completed tensor, by name.
    pub fn sums(&self) -> &BTreeMap<String, u64> {
        &self.sums
    }
}

impl TensorSink for ChecksumSink {
    type Error = WeightsError;

    fn begin(&mut self, _tensor: &TensorInfo) -> Result<(), WeightsError> {
        self.current = WordHash::new();
        Ok(())
    }

    fn chunk(&mut self, _tensor: &TensorInfo, bytes: &[u8]) -> Result<(), WeightsError> {
        self.current.update(bytes);
        Ok(())
    }

    fn end(&mut self, tensor: &TensorInfo) -> Result<(), WeightsError> {
        self.sums
            .insert(tensor.name().to_owned(), self.current.finish());
        Ok(())
    }
}

/// Records the SHA-256 of every tensor streamed through it.
#[derive(Debug, Clone, Default)]
pub struct Sha256Sink {
    current: sha2::Sha256,
    sums: BTreeMap<String, [u8; 32]>,
}

impl Sha256Sink {
    /// The SHA-256 of each completed tensor, by name.
    pub fn sums(&self) -> &BTreeMap<String, [u8; 32]> {
        &self.sums
    }
}

impl TensorSink for Sha256Sink {
    type Error = WeightsError;

    fn begin(&mut self, _tensor: &TensorInfo) -> Result<(), WeightsError> {
        self.current = sha2::Sha256::default();
        Ok(())
    }

    fn chunk(&mut self, _tensor: &TensorInfo, bytes: &[u8]) -> Result<(), WeightsError> {
        sha2::Digest::update(&mut self.current, bytes);
        Ok(())
    }

    fn end(&mut self, tensor: &TensorInfo) -> Result<(), WeightsError> {
        let digest = sha2::Digest::finalize(std::mem::take(&mut self.current));
        self.sums.insert(tensor.name().to_owned(), digest.into());
        Ok(())
    }
}

/// A consumer that takes each tensor whole, in one slice. Closures
/// `FnMut(&TensorInfo, &[u8]) -> Result<(), E>` implement it.
pub trait WholeTensorSink {
    /// The consumer's error; buffering errors are converted into it.
    type Error: From<WeightsError>;

    /// One complete tensor.
    ///
    /// # Errors
    /// Whatever the consumer decides; the stream passes it on.
    fn tensor(&mut self, info: &TensorInfo, bytes: &[u8]) -> Result<(), Self::Error>;
}

impl<F, E> WholeTensorSink for F
where
    F: FnMut(&TensorInfo, &[u8]) -> Result<(), E>,
    E: From<WeightsError>,
{
    type Error = E;

    fn tensor(&mut self, info: &TensorInfo, bytes: &[u8]) -> Result<(), E> {
        self(info, bytes)
    }
}

/// Buffers each tensor whole for a [`WholeTensorSink`], refusing tensors over `limit` bytes. Memory is one
/// buffer the size of the largest tensor seen, reused.
#[derive(Debug)]
pub struct Buffered<S> {
    inner: S,
    limit: u64,
    file: String,
    buf: Vec<u8>,
}

impl<S: WholeTensorSink> Buffered<S> {
    /// Wraps `inner`, buffering tensors of at most `limit` bytes.
    pub fn new(inner: S, limit: u64) -> Self {
        Buffered {
            inner,
            limit,
            file: String::new(),
            buf: Vec::new(),
        }
    }

    /// The wrapped consumer.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: WholeTensorSink> TensorSink for Buffered<S> {
    type Error = S::Error;

    fn header(&mut self, header: &Header) -> Result<(), S::Error> {
        self.file = header.file().to_owned();
        Ok(())
    }

    fn begin(&mut self, tensor: &TensorInfo) -> Result<(), S::Error> {
        let len = tensor.byte_len();
        let fits = usize::try_from(len).ok().filter(|_| len <= self.limit);
        let Some(len) = fits else {
            let (file, tensor, limit) = (self.file.clone(), tensor.name().to_owned(), self.limit);
            return Err(WeightsError::TensorTooLarge {
                file,
                tensor,
                len,
                limit,
            }
            .into());
        };
        self.buf.clear();
        self.buf.reserve_exact(len);
        Ok(())
    }

    fn chunk(&mut self, _tensor: &TensorInfo, bytes: &[u8]) -> Result<(), S::Error> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn end(&mut self, tensor: &TensorInfo) -> Result<(), S::Error> {
        self.inner.tensor(tensor, &self.buf)
    }
}
