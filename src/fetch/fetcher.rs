//! Reading one byte span of one URL, whatever the server does: retries, resume, skip, cancellation.
//!
//! [`Fetcher::span`] asks for `start..end`, and feeds every byte of that span exactly once, in order, to a
//! consumer, through one reused buffer of the chunk size. When a server answers 200 it discards the
//! prefix; when the body breaks off it asks again from the first missing byte (`Range: bytes=pos-…`);
//! when a 5xx comes back it waits and asks again. Every outcome that retrying cannot fix is final at once.

use std::ops::Range;

use crate::fetch::error::FetchError;
use crate::fetch::options::LoadOptions;
use crate::fetch::response::{Failure, Retry, Served, check_response};
use crate::fetch::source::{Body, ByteSource, ResponseMeta, SourceError};

/// What a consumer wants after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    More,
    /// Stop here; the rest of the span is not needed.
    Stop,
}

/// Where a span read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanEnd {
    /// File offset after the last byte consumed: the span's end, unless the consumer stopped or the file
    /// ended first.
    pub pos: u64,
    /// The file length the last response stated, if it did.
    pub total: Option<u64>,
}

/// A consumer of a span's bytes.
pub(crate) type Consume<'c> = dyn FnMut(&[u8]) -> Result<Flow, FetchError> + 'c;

/// Requests against one URL, with its retry budget and the `ETag` every response must keep.
pub(crate) struct Fetcher<'a, S> {
    source: &'a S,
    options: &'a LoadOptions,
    url: &'a str,
    failures: u32,
    retries: u32,
    etag: Option<String>,
}

impl<'a, S: ByteSource> Fetcher<'a, S> {
    /// A fetcher for `url`; `etag` is the one seen by earlier requests for it, if any.
    pub fn new(
        source: &'a S,
        options: &'a LoadOptions,
        url: &'a str,
        etag: Option<String>,
    ) -> Self {
        Fetcher {
            source,
            options,
            url,
            failures: 0,
            retries: 0,
            etag,
        }
    }

    /// The `ETag` the responses carried, if any.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// Retries made so far, over every span.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Feeds file bytes `span` (non-empty) to `consume`, each once and in order, retrying as needed.
    /// `file_len` is the file's length when its header is known. Starts a fresh retry budget.
    pub async fn span(
        &mut self,
        span: Range<u64>,
        file_len: Option<u64>,
        consume: &mut Consume<'_>,
    ) -> Result<SpanEnd, FetchError> {
        let len = span.end.saturating_sub(span.start);
        let mut buf = vec![
            0u8;
            usize::try_from(len).map_or(self.options.chunk_len(), |l| l
                .min(self.options.chunk_len()))
        ];
        let mut pos = span.start;
        self.failures = 0;
        loop {
            check_cancel(self.options)?;
            match self
                .attempt(&mut pos, &span, file_len, &mut buf, consume)
                .await
            {
                Ok(end) => return Ok(end),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry(why)) => self.retry(why).await?,
            }
        }
    }

    /// Opens `asked` (`None`: the whole file) and accepts the response, or says why not.
    pub async fn open(
        &mut self,
        asked: Option<Range<u64>>,
        file_len: Option<u64>,
    ) -> Result<(S::Body, Served), Failure> {
        let body = self
            .source
            .open(self.url, asked.clone())
            .await
            .map_err(|e| source_failure(self.url, e, Retry::Network))?;
        let served = check_response(self.url, body.meta(), asked.as_ref(), file_len)?;
        self.check_etag(body.meta())?;
        Ok((body, served))
    }

    /// Counts a failed attempt: the final error once the budget is spent, else waits the backoff.
    pub async fn retry(&mut self, why: Retry) -> Result<(), FetchError> {
        self.failures += 1;
        let (url, attempts) = (self.url.to_owned(), self.failures);
        if self.failures > self.options.max_retries {
            return Err(match why {
                Retry::Network(message) => FetchError::Network {
                    url,
                    message,
                    attempts,
                },
                Retry::Status(status) => FetchError::Status {
                    url,
                    status,
                    attempts,
                },
                Retry::Short { expected, got } => FetchError::Truncated {
                    url,
                    expected,
                    got,
                    attempts,
                },
            });
        }
        self.retries += 1;
        if let Some(sleep) = &self.options.sleep {
            sleep(self.options.backoff(self.failures)).await;
        }
        check_cancel(self.options)
    }

    /// One request for `pos..span.end`, consuming what arrives; `pos` advances with every byte consumed.
    async fn attempt(
        &mut self,
        pos: &mut u64,
        span: &Range<u64>,
        file_len: Option<u64>,
        buf: &mut [u8],
        consume: &mut Consume<'_>,
    ) -> Result<SpanEnd, Failure> {
        let (mut body, served) = self.open(Some(*pos..span.end), file_len).await?;
        let end = |pos| SpanEnd {
            pos,
            total: served.total,
        };
        self.discard(&mut body, served.skip, buf, (span.end, *pos))
            .await?;
        let target = served.end.map_or(span.end, |e| e.min(span.end));
        while *pos < target {
            check_cancel(self.options)?;
            let want = usize::try_from(target - *pos).map_or(buf.len(), |w| w.min(buf.len()));
            let n = self
                .read(&mut body, &mut buf[..want], span.end, *pos)
                .await?;
            if n == 0 {
                return match served.end {
                    None => Ok(end(*pos)),
                    Some(_) => Err(short(span.end, *pos)),
                };
            }
            *pos += n as u64;
            if consume(&buf[..n])? == Flow::Stop {
                return Ok(end(*pos));
            }
        }
        if !served.framed && file_len == Some(target) {
            self.check_no_trailing(&mut body, buf, target).await?;
        }
        Ok(end(*pos))
    }

    /// Reads and drops `skip` bytes: the prefix of a 200 answer to a range request. `(expected, got)`
    /// is where the span stands, for the error if the body ends first.
    async fn discard(
        &self,
        body: &mut S::Body,
        mut skip: u64,
        buf: &mut [u8],
        (expected, got): (u64, u64),
    ) -> Result<(), Failure> {
        while skip > 0 {
            check_cancel(self.options)?;
            let want = usize::try_from(skip).map_or(buf.len(), |s| s.min(buf.len()));
            match self.read(body, &mut buf[..want], expected, got).await? {
                0 => return Err(short(expected, got)),
                n => skip -= n as u64,
            }
        }
        Ok(())
    }

    /// One body read; a broken body is a short read at `got` of `expected`.
    async fn read(
        &self,
        body: &mut S::Body,
        buf: &mut [u8],
        expected: u64,
        got: u64,
    ) -> Result<usize, Failure> {
        let n = body
            .read(buf)
            .await
            .map_err(|e| source_failure(self.url, e, |_| Retry::Short { expected, got }))?;
        Ok(n.min(buf.len()))
    }

    /// After the last byte of a file whose length only the header stated, the body must end.
    async fn check_no_trailing(
        &self,
        body: &mut S::Body,
        buf: &mut [u8],
        file_len: u64,
    ) -> Result<(), Failure> {
        match self.read(body, buf, file_len, file_len).await? {
            0 => Ok(()),
            n => Err(FetchError::LengthMismatch {
                url: self.url.into(),
                expected: file_len,
                got: file_len + n as u64,
            }
            .into()),
        }
    }

    /// Remembers the first `ETag` and refuses a different one later.
    fn check_etag(&mut self, meta: &ResponseMeta) -> Result<(), Failure> {
        match (&self.etag, &meta.etag) {
            (Some(before), Some(after)) if before != after => Err(FetchError::Changed {
                url: self.url.into(),
                before: before.clone(),
                after: after.clone(),
            }
            .into()),
            (None, Some(after)) => {
                self.etag = Some(after.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `Err(Aborted)` once the load is cancelled.
pub(crate) fn check_cancel(options: &LoadOptions) -> Result<(), FetchError> {
    match options.cancel.is_cancelled() {
        true => Err(FetchError::Aborted),
        false => Ok(()),
    }
}

/// A body that ended or broke at file offset `got` of `expected`.
fn short(expected: u64, got: u64) -> Failure {
    Failure::Retry(Retry::Short { expected, got })
}

/// Maps a source error: `Network` becomes the retry reason `network` builds, the rest are final.
pub(crate) fn source_failure(
    url: &str,
    error: SourceError,
    network: impl FnOnce(String) -> Retry,
) -> Failure {
    match error {
        SourceError::Network(message) => Failure::Retry(network(message)),
        SourceError::Aborted => Failure::Fatal(FetchError::Aborted),
        SourceError::Refused(message) => Failure::Fatal(FetchError::Request {
            url: url.into(),
            message,
        }),
    }
}
