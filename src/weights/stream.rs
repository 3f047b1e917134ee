//! Cutting a streamed data region into tensors as the bytes arrive.
//!
//! A download delivers a shard in chunks whose boundaries have nothing to do with tensor boundaries.
//! [`TensorStream`] walks the validated [`Header`]'s tensors in offset order and hands each tensor's bytes
//! to a [`TensorSink`] as `begin` / `chunk`… / `end`, where every piece is a sub-slice of the caller's
//! chunk no longer than the piece limit. The stream owns no data buffer, so memory stays bounded by the
//! caller's chunk size; a sink that needs whole tensors can use [`Buffered`](crate::weights::Buffered).

use crate::weights::DEFAULT_PIECE_LEN;
use crate::weights::error::WeightsError;
use crate::weights::header::Header;
use crate::weights::reader::HeaderReader;
use crate::weights::tensor::TensorInfo;

/// A consumer of tensors delivered piece by piece, in data-offset order.
///
/// Its error type absorbs [`WeightsError`], so a sink can fail with its own error (a GPU upload failure,
/// say) and the stream's own errors (truncated or trailing data) reach the caller through the same type.
pub trait TensorSink {
    /// The sink's error; stream errors are converted into it.
    type Error: From<WeightsError>;

    /// Called once with the header, before any tensor. Does nothing by default.
    ///
    /// # Errors
    /// Whatever the sink decides; the stream passes it on.
    fn header(&mut self, header: &Header) -> Result<(), Self::Error> {
        let _ = header;
        Ok(())
    }

    /// A tensor starts; its `chunk`s follow (none for a zero-length tensor), then `end`.
    ///
    /// # Errors
    /// Whatever the sink decides; the stream passes it on.
    fn begin(&mut self, tensor: &TensorInfo) -> Result<(), Self::Error>;

    /// The next piece of the current tensor's bytes, at most the stream's piece limit long.
    ///
    /// # Errors
    /// Whatever the sink decides; the stream passes it on.
    fn chunk(&mut self, tensor: &TensorInfo, bytes: &[u8]) -> Result<(), Self::Error>;

    /// The current tensor is complete.
    ///
    /// # Errors
    /// Whatever the sink decides; the stream passes it on.
    fn end(&mut self, tensor: &TensorInfo) -> Result<(), Self::Error>;
}

/// Streams the data region of one file (everything after the header) into a [`TensorSink`].
#[derive(Debug, Clone)]
pub struct TensorStream {
    header: Header,
    /// Data-region offset of the next byte expected.
    pos: u64,
    /// Index of the current tensor in `header.tensors()`.
    next: usize,
    begun: bool,
    announced: bool,
    piece_len: usize,
}

impl TensorStream {
    /// A stream for the data region described by `header`, with pieces of at most [`DEFAULT_PIECE_LEN`].
    pub fn new(header: Header) -> Self {
        TensorStream {
            header,
            pos: 0,
            next: 0,
            begun: false,
            announced: false,
            piece_len: DEFAULT_PIECE_LEN,
        }
    }

    /// Sets the most bytes handed to one [`TensorSink::chunk`] call (at least 1).
    pub fn with_piece_len(mut self, piece_len: usize) -> Self {
        self.piece_len = piece_len.max(1);
        self
    }

    /// The header this stream follows.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Data-region bytes received so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Feeds the next chunk of the data region; complete pieces go to `sink` before this returns.
    ///
    /// # Errors
    /// `TrailingData` when bytes arrive past the end of the last tensor, and any error of the sink.
    pub fn feed<S: TensorSink>(&mut self, mut chunk: &[u8], sink: &mut S) -> Result<(), S::Error> {
        loop {
            self.flush_empty(sink)?;
            if chunk.is_empty() {
                return Ok(());
            }
            let Some(t) = self.header.tensors().get(self.next) else {
                let expected = self.header.file_len();
                let found = expected.saturating_add(chunk.len() as u64);
                return Err(WeightsError::TrailingData {
                    file: self.header.file().into(),
                    expected,
                    found,
                }
                .into());
            };
            if !self.begun {
                sink.begin(t)?;
                self.begun = true;
            }
            let left = t.data_range().end - self.pos;
            let take = usize::try_from(left)
                .map_or(chunk.len(), |l| l.min(chunk.len()))
                .min(self.piece_len);
            let (piece, rest) = chunk.split_at(take);
            sink.chunk(t, piece)?;
            self.pos += take as u64;
            chunk = rest;
            if self.pos == t.data_range().end {
                sink.end(t)?;
                self.next += 1;
                self.begun = false;
            }
        }
    }

    /// Ends the stream, delivering any zero-length tensors left, and returns the header.
    ///
    /// # Errors
    /// `TruncatedData` naming the first incomplete tensor when the data stopped early.
    pub fn finish<S: TensorSink>(mut self, sink: &mut S) -> Result<Header, S::Error> {
        self.flush_empty(sink)?;
        if let Some(t) = self.header.tensors().get(self.next) {
            let (file, tensor) = (self.header.file().into(), t.name().into());
            let (expected, got) = (self.header.file_len(), self.header.data_start() + self.pos);
            return Err(WeightsError::TruncatedData {
                file,
                tensor,
                expected,
                got,
            }
            .into());
        }
        Ok(self.header)
    }

    /// Announces the header once, then delivers every zero-length tensor sitting at the current position.
    fn flush_empty<S: TensorSink>(&mut self, sink: &mut S) -> Result<(), S::Error> {
        if !self.announced {
            sink.header(&self.header)?;
            self.announced = true;
        }
        while let Some(t) = self
            .header
            .tensors()
            .get(self.next)
            .filter(|t| t.byte_len() == 0)
        {
            sink.begin(t)?;
            sink.end(t)?;
            self.next += 1;
        }
        Ok(())
    }
}

/// Streams a whole file — prefix, header and data — into a [`TensorSink`], for a single sequential fetch.
#[derive(Debug)]
pub struct FileStream {
    state: State,
}

/// Where a [`FileStream`] is.
#[derive(Debug)]
enum State {
    Header(HeaderReader),
    Data(TensorStream),
    Failed(WeightsError),
}

impl FileStream {
    /// A stream for the file labelled `file`; `file_len` is its length when known (e.g. `Content-Length`).
    pub fn new(file: impl Into<String>, file_len: Option<u64>) -> Self {
        FileStream {
            state: State::Header(HeaderReader::new(file).with_file_len(file_len)),
        }
    }

    /// The header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        match &self.state {
            State::Data(stream) => Some(stream.header()),
            _ => None,
        }
    }

    /// Feeds the next chunk of the file.
    ///
    /// # Errors
    /// Any header error (after which every call returns it again), `TrailingData`, or a sink error.
    pub fn feed<S: TensorSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), S::Error> {
        let mut rest = chunk;
        if let State::Header(reader) = &mut self.state {
            match reader.advance(chunk) {
                Ok(None) => return Ok(()),
                Ok(Some((header, consumed))) => {
                    self.state = State::Data(TensorStream::new(header));
                    rest = &chunk[consumed..];
                }
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e.into());
                }
            }
        }
        match &mut self.state {
            State::Data(stream) => stream.feed(rest, sink),
            State::Failed(e) => Err(e.clone().into()),
            State::Header(_) => Ok(()),
        }
    }

    /// Ends the stream and returns the header.
    ///
    /// # Errors
    /// `TruncatedLength` / `TruncatedHeader` / `TruncatedData` when the file stopped early, an earlier header
    /// error, or a sink error.
    pub fn finish<S: TensorSink>(self, sink: &mut S) -> Result<Header, S::Error> {
        match self.state {
            State::Header(reader) => Err(reader.end_of_stream().into()),
            State::Data(stream) => stream.finish(sink),
            State::Failed(e) => Err(e.into()),
        }
    }
}
