//! A minimal HTTP/1.1 client over `std::net::TcpStream`, as a [`ByteSource`] for tests and native tools.
//!
//! It exists so the loader's network behaviour — ranges, ignored ranges, dropped connections, wrong
//! lengths — is tested natively against a real server on 127.0.0.1, with no heavy dependency. It speaks
//! plain HTTP only, to loopback hosts only (it has no TLS, so it must not be pointed at the internet): one
//! `GET` per connection with `Connection: close`, an optional `Range`, `Content-Length`, chunked or
//! close-delimited bodies, and a read timeout. Its reads block inside `async fn`s, which is fine under
//! `block_on`.

use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::time::Duration;

use crate::fetch::native::http_body::{HttpBody, io_error};
use crate::fetch::source::{ByteSource, SourceError};

/// How long connecting, or waiting for any byte of an answer, may take before the attempt fails with
/// [`SourceError::Network`] (and the loader retries): 10 s.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Plain-HTTP [`ByteSource`] for `http://127.0.0.1:PORT/…` (also `localhost`, `[::1]`, `127.x.x.x`).
#[derive(Debug, Clone, Copy)]
pub struct HttpSource {
    timeout: Duration,
}

impl Default for HttpSource {
    fn default() -> Self {
        HttpSource {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl HttpSource {
    /// A client with a 10 s connect and read timeout.
    pub fn new() -> Self {
        HttpSource::default()
    }

    /// Sets the connect and read timeout (at least 1 ms).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

/// The parts of a URL a request needs.
struct Target<'u> {
    /// `host[:port]` as written, for the `Host` header.
    authority: &'u str,
    /// Host without brackets, for resolving.
    host: &'u str,
    port: u16,
    /// Path and query, starting with `/`.
    path: &'u str,
}

impl ByteSource for HttpSource {
    type Body = HttpBody;

    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<HttpBody, SourceError> {
        let target = parse_url(url)?;
        let range = match range {
            Some(r) if r.end <= r.start => {
                return Err(SourceError::Refused(format!("empty range {r:?}")));
            }
            Some(r) => format!("Range: bytes={}-{}\r\n", r.start, r.end - 1),
            None => String::new(),
        };
        let mut stream = connect(&target, self.timeout)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: webvram-native\r\nAccept-Encoding: identity\r\nConnection: close\r\n{range}\r\n",
            target.path, target.authority
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| io_error(&e, self.timeout))?;
        HttpBody::read_head(BufReader::new(stream), self.timeout)
    }
}

/// Splits `http://host[:port]/path`, refusing other schemes, user info, non-loopback hosts and paths that
/// would break the request line.
fn parse_url(url: &str) -> Result<Target<'_>, SourceError> {
    let refuse = |why: &str| Err(SourceError::Refused(format!("{url:?}: {why}")));
    let scheme = url.get(..7).filter(|s| s.eq_ignore_ascii_case("http://"));
    let Some(rest) = scheme.map(|s| &url[s.len()..]) else {
        return refuse("the native HTTP source speaks plain http:// only");
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let path = path.split('#').next().unwrap_or(path);
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return refuse("the path contains spaces or control characters; percent-encode them");
    }
    if authority.contains('@') {
        return refuse("user info in URLs is not supported");
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => match port.parse::<u16>() {
            Ok(port) => (host, port),
            Err(_) => return refuse("the port is not a number"),
        },
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if !loopback {
        return refuse("the native HTTP source only talks to loopback hosts (it has no TLS)");
    }
    Ok(Target {
        authority,
        host,
        port,
        path,
    })
}

/// Connects to the first address of the target that answers, with timeouts set.
fn connect(target: &Target<'_>, timeout: Duration) -> Result<TcpStream, SourceError> {
    let addrs = (target.host, target.port)
        .to_socket_addrs()
        .map_err(|e| SourceError::Network(format!("cannot resolve {}: {e}", target.host)))?;
    let mut last = SourceError::Network(format!("{} resolves to no address", target.host));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let set = stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)));
                set.map_err(|e| io_error(&e, timeout))?;
                return Ok(stream);
            }
            Err(e) => last = io_error(&e, timeout),
        }
    }
    Err(last)
}
