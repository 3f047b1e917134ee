//! A small HTTP/1.1 server on 127.0.0.1:0 for the fetch tests, with fault modes.
//!
//! Files live in memory under `/m/<name>`. Every request is logged (path, `Range` header, status). One
//! thread accepts, one thread serves each connection (at most [`MAX_CONNECTIONS`] at once); dropping the
//! [`Server`] stops the accept loop and joins every thread.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 8;

/// How a server misbehaves. `file` is a file name such as `model-00002-of-00003.safetensors`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 404 for this file.
    NotFound(String),
    /// The first `times` requests for this file get `status`.
    FailFirst {
        file: String,
        times: u32,
        status: u16,
    },
    /// The `nth` response (1-based) for this file is cut after `after` body bytes.
    DropOnce {
        file: String,
        nth: u32,
        after: usize,
    },
    /// `Range` is ignored: every answer is 200 with the whole file.
    IgnoreRange,
    /// Bodies are written `piece` bytes at a time with `delay` between pieces.
    Trickle { piece: usize, delay: Duration },
    /// `Content-Length` is `by` bytes less than the body should be (and only that much is sent).
    LengthTooShort { file: String, by: u64 },
    /// The server's copy lacks its last `cut` bytes but announces the full lengths.
    LengthTooLong { file: String, cut: usize },
    /// Bodies use chunked transfer coding, without `Content-Length`.
    Chunked,
    /// Each response for this file carries a different `ETag`.
    VaryEtag(String),
    /// The `nth` response (1-based) for this file stalls for `stall` after `after` body bytes.
    StallOnce {
        file: String,
        nth: u32,
        after: usize,
        stall: Duration,
    },
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub status: u16,
}

/// The running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    files: BTreeMap<String, Vec<u8>>,
    faults: Vec<Fault>,
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    log: Vec<Logged>,
    failed: BTreeMap<String, u32>,
    requests: BTreeMap<String, u32>,
    etags: u32,
}

/// What to send back.
struct Reply<'a> {
    status: u16,
    headers: Vec<String>,
    body: &'a [u8],
    cut_after: Option<(usize, Option<Duration>)>,
}

impl Reply<'static> {
    /// A short error answer.
    fn plain(status: u16) -> Self {
        let headers = vec!["Content-Length: 5".into()];
        Reply {
            status,
            headers,
            body: b"error",
            cut_after: None,
        }
    }
}

impl Server {
    /// Serves `files` (name → bytes) under `/m/`, misbehaving as `faults` say.
    pub fn start(files: BTreeMap<String, Vec<u8>>, faults: Vec<Fault>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let files = files
            .into_iter()
            .map(|(k, v)| (format!("/m/{k}"), v))
            .collect();
        let shared = Arc::new(Shared {
            files,
            faults,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::spawn(move || accept_loop(&listener, &for_thread));
        Server {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The URL of file `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/m/{name}", self.addr)
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.state.lock().expect("log").log.clone()
    }

    /// The requests for file `name`.
    pub fn requests_for(&self, name: &str) -> Vec<Logged> {
        let suffix = format!("/{name}");
        self.log()
            .into_iter()
            .filter(|r| r.path.ends_with(&suffix))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        workers.retain(|w| !w.is_finished());
        while workers.len() >= MAX_CONNECTIONS {
            thread::sleep(Duration::from_millis(1));
            workers.retain(|w| !w.is_finished());
        }
        let shared = Arc::clone(shared);
        workers.push(thread::spawn(move || serve(stream, &shared)));
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Some((path, range)) = read_request(&stream) else {
        return;
    };
    let chunked = shared.faults.iter().any(|f| matches!(f, Fault::Chunked));
    let trickle = shared.faults.iter().find_map(|f| match f {
        Fault::Trickle { piece, delay } => Some((*piece, *delay)),
        _ => None,
    });
    let reply = shared.reply(&path, range.as_deref());
    shared.state.lock().expect("log").log.push(Logged {
        path,
        range,
        status: reply.status,
    });
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for h in &reply.headers {
        if !(chunked && h.starts_with("Content-Length")) {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str(if chunked {
        "Transfer-Encoding: chunked\r\n\r\n"
    } else {
        "\r\n"
    });
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let (body, cut) = match reply.cut_after {
        Some((after, stall)) => (&reply.body[..after], Some(stall)),
        None => (reply.body, None),
    };
    let piece = trickle.map_or(16 * 1024, |(piece, _)| piece.max(1));
    for part in body.chunks(piece) {
        let ok = match chunked {
            true => {
                write!(stream, "{:x}\r\n", part.len()).is_ok()
                    && stream.write_all(part).is_ok()
                    && stream.write_all(b"\r\n").is_ok()
            }
            false => stream.write_all(part).is_ok(),
        };
        if !ok {
            return;
        }
        if let Some((_, delay)) = trickle {
            thread::sleep(delay);
        }
    }
    match cut {
        Some(Some(stall)) => thread::sleep(stall),
        Some(None) => {}
        None if chunked => {
            let _ = stream.write_all(b"0\r\n\r\n");
        }
        None => {}
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads a request head; returns its path and `Range` header.
fn read_request(stream: &TcpStream) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_owned();
    let mut range = None;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            return Some((path, range));
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
}

impl Shared {
    fn has(&self, want: impl Fn(&Fault) -> bool) -> Option<&Fault> {
        self.faults.iter().find(|f| want(f))
    }

    /// The answer to a GET of `path` with this `Range` header.
    fn reply<'a>(&'a self, path: &str, range: Option<&str>) -> Reply<'a> {
        let name = path.rsplit('/').next().unwrap_or("");
        let Some(file) = self.files.get(path) else {
            return Reply::plain(404);
        };
        if let Some(status) = self.refusal(name) {
            return Reply::plain(status);
        }
        let len = file.len();
        let cut = match self.has(|f| matches!(f, Fault::LengthTooLong { file, .. } if file == name))
        {
            Some(Fault::LengthTooLong { cut, .. }) => *cut,
            _ => 0,
        };
        let ignore = self.has(|f| matches!(f, Fault::IgnoreRange)).is_some();
        let Some((status, span, mut headers)) = serve_range(range.filter(|_| !ignore), len) else {
            let headers = vec![
                format!("Content-Range: bytes */{len}"),
                "Content-Length: 0".into(),
            ];
            return Reply {
                status: 416,
                headers,
                body: b"",
                cut_after: None,
            };
        };
        let data = &file[..len - cut];
        let mut body = &data[span.start.min(data.len())..span.end.min(data.len())];
        let mut declared = span.len() as u64;
        if let Some(Fault::LengthTooShort { by, .. }) =
            self.has(|f| matches!(f, Fault::LengthTooShort { file, .. } if file == name))
        {
            declared = declared.saturating_sub(*by);
            body = &body[..body.len().min(declared as usize)];
        }
        let mut state = self.state.lock().expect("state");
        headers.push(format!("Content-Length: {declared}"));
        headers.push(self.etag(name, len, &mut state));
        let cut_after = self.cut_once(name, body.len(), &mut state);
        Reply {
            status,
            headers,
            body,
            cut_after,
        }
    }

    /// The error status a fault imposes on this request, if any.
    fn refusal(&self, name: &str) -> Option<u16> {
        if self
            .has(|f| matches!(f, Fault::NotFound(n) if n == name))
            .is_some()
        {
            return Some(404);
        }
        let Some(Fault::FailFirst { times, status, .. }) =
            self.has(|f| matches!(f, Fault::FailFirst { file, .. } if file == name))
        else {
            return None;
        };
        let mut state = self.state.lock().expect("state");
        let failed = state.failed.entry(name.to_owned()).or_default();
        (*failed < *times).then(|| {
            *failed += 1;
            *status
        })
    }

    /// A stable `ETag`, or a new one per response under [`Fault::VaryEtag`].
    fn etag(&self, name: &str, len: usize, state: &mut State) -> String {
        state.etags += 1;
        match self.has(|f| matches!(f, Fault::VaryEtag(n) if n == name)) {
            Some(_) => format!("ETag: \"v{}\"", state.etags),
            None => format!("ETag: \"{len:x}\""),
        }
    }

    /// The drop or stall point for this response, if a fault asks for one at this request number.
    fn cut_once(
        &self,
        name: &str,
        body_len: usize,
        state: &mut State,
    ) -> Option<(usize, Option<Duration>)> {
        let count = state.requests.entry(name.to_owned()).or_default();
        *count += 1;
        let (after, stall) = self.faults.iter().find_map(|f| match f {
            Fault::DropOnce { file, nth, after } if file == name && *nth == *count => {
                Some((*after, None))
            }
            Fault::StallOnce {
                file,
                nth,
                after,
                stall,
            } if file == name && *nth == *count => Some((*after, Some(*stall))),
            _ => None,
        })?;
        (body_len > after).then_some((after, stall))
    }
}

/// Status, byte span and `Content-Range` header for a request of a `len`-byte file; `None` for 416.
fn serve_range(range: Option<&str>, len: usize) -> Option<(u16, Range<usize>, Vec<String>)> {
    match range.and_then(parse_range) {
        Some((a, _)) if a >= len => None,
        Some((a, b)) => {
            let end = b.map_or(len, |b| (b + 1).min(len));
            let header = format!("Content-Range: bytes {a}-{}/{len}", end - 1);
            Some((206, a..end, vec![header]))
        }
        None => Some((200, 0..len, Vec::new())),
    }
}

/// `bytes=a-b` or `bytes=a-` → (a, Some(b) / None).
fn parse_range(value: &str) -> Option<(usize, Option<usize>)> {
    let (a, b) = value.strip_prefix("bytes=")?.split_once('-')?;
    let b = if b.is_empty() {
        None
    } else {
        Some(b.parse().ok()?)
    };
    Some((a.parse().ok()?, b))
}
