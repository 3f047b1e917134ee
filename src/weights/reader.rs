//! Reading a header from the front of a byte stream, chunk by chunk.
//!
//! A fetch delivers a file in chunks of whatever size the network chose. [`HeaderReader`] takes them as
//! they come, learns the header length from the first 8 bytes (and refuses an oversized one before
//! buffering anything), buffers only the JSON, and hands back a validated [`Header`] plus how much of the
//! last chunk it used, so the rest can go straight to a [`TensorStream`](crate::weights::TensorStream).
//! The buffer grows with the bytes that actually arrived, never with what the prefix claims.

use crate::weights::error::WeightsError;
use crate::weights::header::Header;
use crate::weights::{MAX_HEADER_LEN, PREFIX_LEN};

/// An incremental header parser; see the module documentation. Consumed by [`HeaderReader::push`], which
/// returns it back until the header is complete, so it cannot be fed after it finished.
#[derive(Debug, Clone)]
pub struct HeaderReader {
    file: String,
    file_len: Option<u64>,
    prefix: [u8; 8],
    prefix_got: usize,
    header_len: Option<u64>,
    json: Vec<u8>,
}

/// What [`HeaderReader::push`] made of a chunk.
#[derive(Debug)]
pub enum HeaderStep {
    /// The header is not complete yet: feed the next chunk to this reader.
    NeedMore(HeaderReader),
    /// The header is complete and valid.
    Done {
        /// The validated header.
        header: Header,
        /// How many bytes of the last chunk belonged to the prefix and header; the rest is data.
        consumed: usize,
    },
}

impl HeaderReader {
    /// A reader for the file labelled `file` (used in errors), whose total length is unknown.
    pub fn new(file: impl Into<String>) -> Self {
        HeaderReader {
            file: file.into(),
            file_len: None,
            prefix: [0; 8],
            prefix_got: 0,
            header_len: None,
            json: Vec::new(),
        }
    }

    /// Declares the total file length (e.g. `Content-Length`), so a header longer than the file, a data
    /// region past its end, or trailing bytes are caught as soon as the header is known.
    pub fn with_file_len(mut self, file_len: Option<u64>) -> Self {
        self.file_len = file_len;
        self
    }

    /// The header length `N`, once the 8-byte prefix has arrived.
    pub fn header_len(&self) -> Option<u64> {
        self.header_len
    }

    /// Bytes still needed: up to the end of the prefix while `N` is unknown, then to the end of the header.
    /// A fetch layer can use it to size its next `Range` request.
    pub fn bytes_needed(&self) -> u64 {
        match self.header_len {
            None => PREFIX_LEN - self.prefix_got as u64,
            Some(n) => n - self.json.len() as u64,
        }
    }

    /// Feeds the next chunk of the file.
    ///
    /// # Errors
    /// `HeaderTooLarge` or `TruncatedHeader` (when the file length is known to be too short) as soon as the
    /// prefix is read, then any [`Header::parse`] error once the JSON is complete.
    pub fn push(mut self, chunk: &[u8]) -> Result<HeaderStep, WeightsError> {
        Ok(match self.advance(chunk)? {
            Some((header, consumed)) => HeaderStep::Done { header, consumed },
            None => HeaderStep::NeedMore(self),
        })
    }

    /// [`HeaderReader::push`] in place: `Some((header, consumed))` once the header is complete.
    pub(crate) fn advance(
        &mut self,
        chunk: &[u8],
    ) -> Result<Option<(Header, usize)>, WeightsError> {
        let mut used = 0;
        if self.header_len.is_none() {
            let take = (8 - self.prefix_got).min(chunk.len());
            self.prefix[self.prefix_got..self.prefix_got + take].copy_from_slice(&chunk[..take]);
            self.prefix_got += take;
            used = take;
            if self.prefix_got < 8 {
                return Ok(None);
            }
            self.header_len = Some(header_len(&self.file, self.prefix, self.file_len)?);
        }
        let rest = &chunk[used..];
        let take = usize::try_from(self.bytes_needed()).map_or(rest.len(), |n| n.min(rest.len()));
        self.json.extend_from_slice(&rest[..take]);
        if self.bytes_needed() > 0 {
            return Ok(None);
        }
        let header = Header::parse(&self.file, &self.json, self.file_len)?;
        Ok(Some((header, used + take)))
    }

    /// The error to report when the stream ends before the header is complete.
    pub fn end_of_stream(self) -> WeightsError {
        match self.header_len {
            None => WeightsError::TruncatedLength {
                file: self.file,
                got: self.prefix_got as u64,
            },
            Some(expected) => WeightsError::TruncatedHeader {
                file: self.file,
                expected,
                got: self.json.len() as u64,
            },
        }
    }
}

/// Reads the header length `N` from the 8-byte prefix, for a fetch that requests the prefix and then the
/// header with separate `Range` requests.
///
/// # Errors
/// `HeaderTooLarge` when `N` exceeds [`MAX_HEADER_LEN`]; `TruncatedHeader` when `file_len` is known and
/// shorter than `8 + N`.
pub fn header_len(file: &str, prefix: [u8; 8], file_len: Option<u64>) -> Result<u64, WeightsError> {
    let len = u64::from_le_bytes(prefix);
    if len > MAX_HEADER_LEN {
        return Err(WeightsError::HeaderTooLarge {
            file: file.into(),
            len,
            limit: MAX_HEADER_LEN,
        });
    }
    match file_len {
        Some(total) if total < PREFIX_LEN + len => {
            let got = total.saturating_sub(PREFIX_LEN);
            Err(WeightsError::TruncatedHeader {
                file: file.into(),
                expected: len,
                got,
            })
        }
        _ => Ok(len),
    }
}

/// Reads a header from a buffer that starts at the beginning of the file (it may hold more than the
/// header, e.g. a whole small file). Returns the header and the buffer offset where the data starts.
///
/// # Errors
/// `TruncatedLength` / `TruncatedHeader` when the buffer ends too early, and any [`HeaderReader::push`] error.
pub fn read_header(
    file: &str,
    bytes: &[u8],
    file_len: Option<u64>,
) -> Result<(Header, usize), WeightsError> {
    match HeaderReader::new(file)
        .with_file_len(file_len)
        .push(bytes)?
    {
        HeaderStep::Done { header, consumed } => Ok((header, consumed)),
        HeaderStep::NeedMore(reader) => Err(reader.end_of_stream()),
    }
}
