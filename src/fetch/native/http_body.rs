//! Reading an HTTP/1.1 response: the status line and headers (size-limited), then the body framed by
//! `Content-Length`, chunked transfer coding, or the end of the connection (RFC 9112 §6).

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;
use std::time::Duration;

use crate::fetch::source::{Body, ResponseMeta, SourceError};

/// Largest status line plus headers accepted: a hostile server cannot make the client buffer more.
const MAX_HEAD_LEN: u64 = 64 * 1024;

/// Largest line inside a chunked body (a chunk size, or a trailer).
const MAX_CHUNK_LINE: u64 = 4 * 1024;

/// The body of an [`HttpSource`](crate::fetch::HttpSource) response; dropping it closes the connection.
#[derive(Debug)]
pub struct HttpBody {
    meta: ResponseMeta,
    reader: BufReader<TcpStream>,
    framing: Framing,
    timeout: Duration,
}

/// How the body's end is known.
#[derive(Debug)]
enum Framing {
    /// `Content-Length`: this many bytes are left.
    Length(u64),
    /// Chunked: bytes left in the current chunk, and whether the last chunk was read.
    Chunked { left: u64, done: bool },
    /// Neither: the body ends when the server closes the connection.
    Close,
}

impl HttpBody {
    /// Reads the status line and headers from a connection whose request was sent.
    pub(crate) fn read_head(
        mut reader: BufReader<TcpStream>,
        timeout: Duration,
    ) -> Result<Self, SourceError> {
        let mut budget = MAX_HEAD_LEN;
        let status_line = read_line(&mut reader, &mut budget, timeout)?;
        let mut meta = ResponseMeta {
            status: parse_status(&status_line)?,
            ..ResponseMeta::default()
        };
        let (mut length, mut coded, mut encoded) = (None, None, false);
        loop {
            let line = read_line(&mut reader, &mut budget, timeout)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .filter(|(name, _)| !name.is_empty() && !name.contains([' ', '\t']))
                .ok_or_else(|| malformed(&format!("header line {line:?}")))?;
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(parse_length(value, length)?),
                "transfer-encoding" => {
                    let last = value.rsplit(',').next().unwrap_or("").trim();
                    coded = Some(last.eq_ignore_ascii_case("chunked"));
                }
                "content-encoding" => encoded |= !value.eq_ignore_ascii_case("identity"),
                "content-range" => meta.content_range = Some(value.to_owned()),
                "etag" => meta.etag = Some(value.to_owned()),
                _ => {}
            }
        }
        // A transfer coding overrides Content-Length; a content coding makes it count encoded bytes.
        let framing = match (coded, length) {
            (Some(true), _) => Framing::Chunked {
                left: 0,
                done: false,
            },
            (Some(false), _) | (None, None) => Framing::Close,
            (None, Some(len)) => Framing::Length(len),
        };
        meta.content_length = length.filter(|_| coded.is_none() && !encoded);
        Ok(HttpBody {
            meta,
            reader,
            framing,
            timeout,
        })
    }

    /// One read of body bytes, following the framing.
    fn read_framed(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let timeout = self.timeout;
        match &mut self.framing {
            Framing::Length(left) => {
                let n = read_some(&mut self.reader, buf, *left, timeout)?;
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Chunked { left, done } => {
                if *left == 0 {
                    *left = chunk_size(&mut self.reader, timeout)?;
                    if *left == 0 {
                        skip_trailers(&mut self.reader, timeout)?;
                        *done = true;
                        return Ok(0);
                    }
                }
                let n = read_some(&mut self.reader, buf, *left, timeout)?;
                *left -= n as u64;
                if *left == 0 && !read_line(&mut self.reader, &mut 2, timeout)?.is_empty() {
                    return Err(malformed("chunk data longer than its size"));
                }
                Ok(n)
            }
            Framing::Close => loop {
                match self.reader.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other.map_err(|e| io_error(&e, timeout)),
                }
            },
        }
    }
}

impl Body for HttpBody {
    fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        self.read_framed(buf)
    }
}

/// Reads at most `left` bytes (at least one, unless `left` or `buf` is empty); the connection closing
/// first is an error, as in a browser.
fn read_some(
    reader: &mut BufReader<TcpStream>,
    buf: &mut [u8],
    left: u64,
    timeout: Duration,
) -> Result<usize, SourceError> {
    let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
    if want == 0 {
        return Ok(0);
    }
    loop {
        match reader.read(&mut buf[..want]) {
            Ok(0) => {
                let why = format!("the connection closed with {left} body bytes still due");
                return Err(SourceError::Network(why));
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(&e, timeout)),
        }
    }
}

/// Reads one CRLF- (or LF-) terminated line of at most `budget` bytes, charging it to the budget.
fn read_line(
    reader: &mut BufReader<TcpStream>,
    budget: &mut u64,
    timeout: Duration,
) -> Result<String, SourceError> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(*budget)
        .read_until(b'\n', &mut line)
        .map_err(|e| io_error(&e, timeout))?;
    *budget -= line.len() as u64;
    if line.pop() != Some(b'\n') {
        return Err(match *budget {
            0 => malformed("a response line or header block is too long"),
            _ => SourceError::Network("the connection closed in the middle of a response".into()),
        });
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| malformed("a response line is not UTF-8"))
}

/// `HTTP/1.x NNN reason` → `NNN`.
fn parse_status(line: &str) -> Result<u16, SourceError> {
    let mut parts = line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match code.parse::<u16>() {
        Ok(status) if version.starts_with("HTTP/1.") && code.len() == 3 && status >= 100 => {
            Ok(status)
        }
        _ => Err(malformed(&format!("status line {line:?}"))),
    }
}

/// A `Content-Length` value; a second, different one is refused (RFC 9112 §6.3).
fn parse_length(value: &str, earlier: Option<u64>) -> Result<u64, SourceError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u64>().ok().filter(|_| digits) {
        Some(len) if earlier.is_none_or(|e| e == len) => Ok(len),
        _ => Err(malformed(&format!("Content-Length {value:?}"))),
    }
}

/// A chunk-size line (hex, extensions ignored).
fn chunk_size(reader: &mut BufReader<TcpStream>, timeout: Duration) -> Result<u64, SourceError> {
    let line = read_line(reader, &mut MAX_CHUNK_LINE.clone(), timeout)?;
    let hex = line.split(';').next().unwrap_or("").trim();
    let valid = !hex.is_empty() && hex.len() <= 15 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let size = valid.then(|| u64::from_str_radix(hex, 16).ok()).flatten();
    size.ok_or_else(|| malformed(&format!("chunk size {line:?}")))
}

/// Reads the trailer section after the last chunk, up to its empty line.
fn skip_trailers(reader: &mut BufReader<TcpStream>, timeout: Duration) -> Result<(), SourceError> {
    let mut budget = MAX_HEAD_LEN;
    while !read_line(reader, &mut budget, timeout)?.is_empty() {}
    Ok(())
}

/// A response that breaks HTTP/1.1 framing: retryable, as a proxy hiccup would be.
fn malformed(what: &str) -> SourceError {
    SourceError::Network(format!("malformed HTTP response: {what}"))
}

/// An I/O error as a network error, naming a timeout as such.
pub(crate) fn io_error(error: &io::Error, timeout: Duration) -> SourceError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            SourceError::Network(format!("no answer within {} ms", timeout.as_millis()))
        }
        _ => SourceError::Network(error.to_string()),
    }
}
