#![cfg(not(target_arch = "wasm32"))]
//! Fault modes of a real HTTP server on 127.0.0.1: dropped and stalled connections (resumed with a
//! `Range` from the last byte received), ignored `Range`, slow trickle, chunked bodies, wrong
//! `Content-Length` either way and a changing `ETag`. Each test checks the outcome or the error variant
//! naming the shard, per-tensor checksums, and progress.

mod fetch_support;

use std::time::Duration;

use fetch_support::server::{Fault, Server};
use fetch_support::{
    INDEX, SHARD2, assert_complete, assert_progress, data_start, files_of, load, quick_options,
    serve_sharded, single_spec, total_len,
};
use webvram::fetch::{FetchError, HttpSource, LoadOptions};

#[test]
fn dropped_connection_resumes_from_the_last_byte_received() {
    let after = 200_000;
    let (server, files) = serve_sharded(vec![Fault::DropOnce {
        file: SHARD2.into(),
        nth: 2,
        after,
    }]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
    assert_eq!(outcome.result.as_ref().expect("ok").retries(), 1);
    let requests = server.requests_for(SHARD2);
    assert_eq!(
        requests.len(),
        3,
        "probe, cut data request, resumed request: {requests:?}"
    );
    let (start, len) = (data_start(&files, SHARD2), files[SHARD2].len() as u64);
    let resumed = format!("bytes={}-{}", start + after as u64, len - 1);
    assert_eq!(requests[2].range.as_deref(), Some(resumed.as_str()));
}

#[test]
fn ignored_range_streams_the_whole_file_and_skips_the_prefix() {
    let (server, files) = serve_sharded(vec![Fault::IgnoreRange]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
    assert!(server.log().iter().all(|r| r.status == 200));
}

#[test]
fn ignored_range_and_a_dropped_connection_resume_by_skipping() {
    let faults = vec![
        Fault::IgnoreRange,
        Fault::DropOnce {
            file: SHARD2.into(),
            nth: 2,
            after: 300_000,
        },
    ];
    let (server, files) = serve_sharded(faults);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
    assert_eq!(outcome.result.expect("ok").retries(), 1);
}

#[test]
fn slow_trickle_still_loads_chunk_by_chunk() {
    let (_, files) = files_of(&single_spec());
    let trickle = Fault::Trickle {
        piece: 8 * 1024,
        delay: Duration::from_micros(500),
    };
    let server = Server::start(files.clone(), vec![trickle]);
    let options = LoadOptions {
        chunk_size: 4 * 1024,
        ..quick_options()
    };
    let outcome = load(
        &HttpSource::new(),
        &server.url("model.safetensors"),
        &options,
    );
    assert_complete(&outcome, &files);
    assert!(
        outcome.events.len() > 100,
        "one event per chunk: {}",
        outcome.events.len()
    );
}

#[test]
fn stalled_body_times_out_and_resumes() {
    let stall = Fault::StallOnce {
        file: SHARD2.into(),
        nth: 2,
        after: 150_000,
        stall: Duration::from_millis(600),
    };
    let (server, files) = serve_sharded(vec![stall]);
    let source = HttpSource::new().with_timeout(Duration::from_millis(200));
    let outcome = load(&source, &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
    // At least the stall; a machine slow enough to miss another 200 ms deadline only adds retries.
    assert!(outcome.result.expect("ok").retries() >= 1);
    let resumed = format!("bytes={}-", data_start(&files, SHARD2) + 150_000);
    let requests = server.requests_for(SHARD2);
    assert!(
        requests
            .iter()
            .any(|r| r.range.as_deref().is_some_and(|r| r.starts_with(&resumed))),
        "{requests:?}"
    );
}

#[test]
fn content_length_too_long_is_truncated_after_the_retries() {
    let cut = 1000;
    let (server, files) = serve_sharded(vec![Fault::LengthTooLong {
        file: SHARD2.into(),
        cut,
    }]);
    let options = LoadOptions {
        max_retries: 2,
        ..quick_options()
    };
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &options);
    let len = files[SHARD2].len() as u64;
    match outcome.result {
        Err(FetchError::Truncated {
            url,
            expected,
            got,
            attempts: 3,
        }) => {
            assert_eq!(url, server.url(SHARD2));
            assert_eq!((expected, got), (len, len - cut as u64));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert_progress(&outcome.events, total_len(&files));
    let resumed = format!("bytes={}-{}", len - cut as u64, len - 1);
    assert_eq!(
        server
            .requests_for(SHARD2)
            .last()
            .and_then(|r| r.range.clone()),
        Some(resumed)
    );
}

#[test]
fn content_length_too_short_is_a_length_mismatch() {
    let (server, _) = serve_sharded(vec![Fault::LengthTooShort {
        file: SHARD2.into(),
        by: 10,
    }]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    let probe = webvram::fetch::HEADER_PROBE_LEN;
    match outcome.result {
        Err(FetchError::LengthMismatch { url, expected, got }) => {
            assert_eq!(url, server.url(SHARD2));
            assert_eq!((expected, got), (probe, probe - 10));
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
    assert!(outcome.sums.is_empty(), "refused before any data");
}

#[test]
fn content_length_too_short_without_range_support_is_a_length_mismatch() {
    let faults = vec![
        Fault::IgnoreRange,
        Fault::LengthTooShort {
            file: SHARD2.into(),
            by: 10,
        },
    ];
    let (server, files) = serve_sharded(faults);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    let len = files[SHARD2].len() as u64;
    assert!(
        matches!(
            outcome.result,
            Err(FetchError::LengthMismatch { ref url, expected, got }) if *url == server.url(SHARD2) && expected == len && got == len - 10
        ),
        "{:?}",
        outcome.result
    );
}

#[test]
fn chunked_bodies_load() {
    let (server, files) = serve_sharded(vec![Fault::Chunked]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
}

#[test]
fn a_changed_etag_is_refused() {
    let (server, _) = serve_sharded(vec![Fault::VaryEtag(SHARD2.into())]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert!(
        matches!(outcome.result, Err(FetchError::Changed { ref url, .. }) if *url == server.url(SHARD2)),
        "{:?}",
        outcome.result
    );
}

#[test]
fn ignored_range_with_chunked_bodies_loads() {
    let (server, files) = serve_sharded(vec![Fault::IgnoreRange, Fault::Chunked]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
}

#[test]
fn bytes_past_the_end_the_header_implies_are_a_length_mismatch() {
    let (_, mut files) = files_of(&single_spec());
    let len = files["model.safetensors"].len() as u64;
    files
        .get_mut("model.safetensors")
        .expect("file")
        .extend_from_slice(b"junk");
    let server = Server::start(files, vec![Fault::IgnoreRange, Fault::Chunked]);
    let outcome = load(
        &HttpSource::new(),
        &server.url("model.safetensors"),
        &quick_options(),
    );
    match outcome.result {
        Err(FetchError::LengthMismatch { url, expected, got }) => {
            assert_eq!(url, server.url("model.safetensors"));
            assert_eq!(expected, len);
            assert!(got > len);
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
}
