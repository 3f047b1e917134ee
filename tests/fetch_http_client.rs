#![cfg(not(target_arch = "wasm32"))]
//! The native HTTP/1.1 client on its own, against raw responses written byte for byte: framing
//! (`Content-Length`, chunked, close-delimited), limits, and malformed answers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use webvram::fetch::{Body, ByteSource, HttpSource, SourceError};

/// A body's `Content-Length` and bytes, or why it failed.
type Fetched = Result<(Option<u64>, Vec<u8>), SourceError>;

/// Answers one connection with `raw`, then closes; returns the URL and the request head it received.
fn one_shot(raw: Vec<u8>) -> (String, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/m/x.safetensors?v=1",
        listener.local_addr().expect("addr")
    );
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut head = String::new();
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
        let _ = stream.write_all(&raw);
        head
    });
    (url, handle)
}

/// Opens and reads the whole body in 5-byte reads.
fn fetch(raw: &[u8], range: Option<std::ops::Range<u64>>) -> (Fetched, String) {
    let (url, server) = one_shot(raw.to_vec());
    let result = pollster::block_on(async {
        let mut body = HttpSource::new().open(&url, range).await?;
        let length = body.meta().content_length;
        let mut out = Vec::new();
        let mut buf = [0u8; 5];
        loop {
            match body.read(&mut buf).await? {
                0 => return Ok((length, out)),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    });
    (result, server.join().expect("server"))
}

#[test]
fn sends_a_plain_get_with_the_range_asked() {
    let (result, head) = fetch(
        b"HTTP/1.1 206 Partial\r\nContent-Length: 3\r\nContent-Range: bytes 2-4/9\r\n\r\nabc",
        Some(2..5),
    );
    assert_eq!(result, Ok((Some(3), b"abc".to_vec())));
    assert!(
        head.starts_with("GET /m/x.safetensors?v=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nRange: bytes=2-4\r\n") && head.contains("\r\nHost: 127.0.0.1:"),
        "{head}"
    );
}

#[test]
fn reads_chunked_bodies_with_extensions_and_trailers() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n4;x=y\r\nwiki\r\nB\r\npedia in ch\r\n0\r\nTrailer: 1\r\n\r\n";
    let (result, _) = fetch(raw, None);
    assert_eq!(result, Ok((None, b"wikipedia in ch".to_vec())));
}

#[test]
fn reads_close_delimited_bodies_and_hides_encoded_lengths() {
    assert_eq!(
        fetch(b"HTTP/1.0 200 OK\r\n\r\nuntil close", None).0,
        Ok((None, b"until close".to_vec()))
    );
    let gzip = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nzz";
    assert_eq!(fetch(gzip, None).0, Ok((None, b"zz".to_vec())));
}

#[test]
fn a_body_cut_before_its_length_is_a_network_error() {
    let (result, _) = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", None);
    assert!(
        matches!(result, Err(SourceError::Network(ref m)) if m.contains("7 body bytes")),
        "{result:?}"
    );
    let (result, _) = fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        None,
    );
    assert!(matches!(result, Err(SourceError::Network(_))), "{result:?}");
}

#[test]
fn malformed_answers_are_network_errors() {
    let huge = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
    let cases: [&[u8]; 7] = [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        huge.as_bytes(),
    ];
    for raw in cases {
        let (result, _) = fetch(raw, None);
        assert!(
            matches!(result, Err(SourceError::Network(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
    }
    let (result, _) = fetch(b"HTTP/1.1 200 OK\r\nContent-Le", None);
    assert!(
        matches!(result, Err(SourceError::Network(ref m)) if m.contains("closed")),
        "{result:?}"
    );
}

#[test]
fn refuses_what_it_must_not_fetch() {
    let open = |url: &str| pollster::block_on(HttpSource::new().open(url, None)).map(|_| ());
    for url in [
        "ftp://127.0.0.1/x",
        "http://10.0.0.1/x",
        "http://u@127.0.0.1/x",
        "http://127.0.0.1:x/y",
        "http://127.0.0.1/a\r\nb",
    ] {
        assert!(matches!(open(url), Err(SourceError::Refused(_))), "{url}");
    }
    let empty = pollster::block_on(HttpSource::new().open("http://127.0.0.1:1/x", Some(5..5)));
    assert!(matches!(empty.map(|_| ()), Err(SourceError::Refused(_))));
}
