#![cfg(not(target_arch = "wasm32"))]
//! The loader against a real HTTP server on 127.0.0.1 through the native HTTP source: clean loads (and
//! the exact `Range` requests they make), 404, 5xx with retries and backoff, checksums, cancellation and
//! refused or unreachable URLs. Fault modes of the body itself are in `fetch_http_faults.rs`.

mod fetch_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use fetch_support::server::{Fault, Server};
use fetch_support::{
    INDEX, SHARD2, assert_complete, files_of, load, load_with, quick_options, serve_sharded,
    single_spec,
};
use webvram::fetch::{FetchError, HttpSource, LoadOptions, SleepFn};

#[test]
fn clean_sharded_load_uses_range_requests() {
    let (server, files) = serve_sharded(vec![]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert_complete(&outcome, &files);
    let loaded = outcome.result.expect("ok");
    assert_eq!(loaded.shards().len(), 3);
    assert_eq!(loaded.retries(), 0);
    assert!(loaded.shards().iter().all(|s| s.etag().is_some()));
    let probe = format!("bytes=0-{}", webvram::fetch::HEADER_PROBE_LEN - 1);
    for shard in loaded.shards() {
        let requests = server.requests_for(shard.name());
        assert_eq!(
            requests.len(),
            2,
            "one header probe, one data request: {requests:?}"
        );
        assert_eq!(requests[0].range.as_deref(), Some(probe.as_str()));
        let data = format!(
            "bytes={}-{}",
            shard.header().data_start(),
            shard.header().file_len() - 1
        );
        assert_eq!(requests[1].range.as_deref(), Some(data.as_str()));
        assert!(requests.iter().all(|r| r.status == 206));
    }
}

#[test]
fn clean_single_file_load() {
    let (_, files) = files_of(&single_spec());
    let server = Server::start(files.clone(), vec![]);
    let outcome = load(
        &HttpSource::new(),
        &server.url("model.safetensors"),
        &quick_options(),
    );
    assert_complete(&outcome, &files);
    assert_eq!(outcome.events[0].shard, "model.safetensors");
}

#[test]
fn missing_shard_is_not_found_naming_it_and_not_retried() {
    let (server, _) = serve_sharded(vec![Fault::NotFound(SHARD2.into())]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    match outcome.result {
        Err(FetchError::NotFound { url }) => assert_eq!(url, server.url(SHARD2)),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(server.requests_for(SHARD2).len(), 1, "a 404 is not retried");
    assert!(
        outcome.sums.is_empty(),
        "headers are all checked before any data is streamed"
    );
    assert!(outcome.events.is_empty());
}

#[test]
fn missing_index_is_not_found() {
    let (server, _) = serve_sharded(vec![Fault::NotFound(INDEX.into())]);
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &quick_options());
    assert!(
        matches!(outcome.result, Err(FetchError::NotFound { ref url }) if url.ends_with(INDEX))
    );
}

#[test]
fn server_error_then_success_is_retried_with_backoff() {
    let fault = Fault::FailFirst {
        file: SHARD2.into(),
        times: 2,
        status: 500,
    };
    let (server, files) = serve_sharded(vec![fault]);
    let waits = Rc::new(RefCell::new(Vec::new()));
    let record = Rc::clone(&waits);
    let sleep: SleepFn = Rc::new(move |d| {
        record.borrow_mut().push(d);
        Box::pin(async {})
    });
    let options = LoadOptions {
        sleep: Some(sleep),
        ..quick_options()
    };
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &options);
    assert_complete(&outcome, &files);
    assert_eq!(outcome.result.expect("ok").retries(), 2);
    assert_eq!(
        *waits.borrow(),
        [Duration::from_millis(250), Duration::from_millis(500)]
    );
    let statuses: Vec<u16> = server
        .requests_for(SHARD2)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 206, 206]);
}

#[test]
fn persistent_server_error_is_a_status_error_after_the_retries() {
    let fault = Fault::FailFirst {
        file: SHARD2.into(),
        times: 100,
        status: 503,
    };
    let (server, _) = serve_sharded(vec![fault]);
    let options = LoadOptions {
        max_retries: 2,
        ..quick_options()
    };
    let outcome = load(&HttpSource::new(), &server.url(INDEX), &options);
    match outcome.result {
        Err(FetchError::Status {
            url,
            status: 503,
            attempts: 3,
        }) => assert_eq!(url, server.url(SHARD2)),
        other => panic!("expected Status 503 after 3 attempts, got {other:?}"),
    }
    assert_eq!(server.requests_for(SHARD2).len(), 3);
}

#[test]
fn sha256_is_verified_while_streaming() {
    let (server, files) = serve_sharded(vec![]);
    let digest = |bytes: &[u8]| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let right = quick_options()
        .with_sha256_hex(SHARD2, &digest(&files[SHARD2]))
        .expect("hex");
    assert_complete(
        &load(&HttpSource::new(), &server.url(INDEX), &right),
        &files,
    );
    let other = digest(b"something else");
    let wrong = quick_options()
        .with_sha256_hex(SHARD2, &other)
        .expect("hex");
    match load(&HttpSource::new(), &server.url(INDEX), &wrong).result {
        Err(e @ FetchError::ChecksumMismatch { .. }) => {
            assert_eq!(e.url(), Some(server.url(SHARD2).as_str()));
            assert_eq!(e.code(), "INTEGRITY");
            assert!(e.to_string().contains(&other));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
}

#[test]
fn cancelling_mid_download_aborts_between_chunks() {
    let (server, files) = serve_sharded(vec![]);
    let options = quick_options();
    let cancel = options.cancel.clone();
    let outcome = load_with(&HttpSource::new(), &server.url(INDEX), &options, |e| {
        if e.phase == webvram::fetch::Phase::Download {
            cancel.cancel();
        }
    });
    assert!(matches!(outcome.result, Err(FetchError::Aborted)));
    let downloads = outcome
        .events
        .iter()
        .filter(|e| e.phase == webvram::fetch::Phase::Download);
    assert_eq!(
        downloads.count(),
        1,
        "stopped after the chunk that cancelled"
    );
    assert!(outcome.sums.len() < fetch_support::expected_sums(&files).len());
}

#[test]
fn urls_the_native_client_will_not_fetch_are_request_errors() {
    for url in [
        "https://127.0.0.1/m/x.safetensors",
        "http://example.com/x.safetensors",
        "http://127.0.0.1/a b",
    ] {
        let outcome = load(&HttpSource::new(), url, &quick_options());
        match outcome.result {
            Err(e @ FetchError::Request { .. }) => {
                assert_eq!((e.code(), e.url()), ("FETCH", Some(url)))
            }
            other => panic!("{url}: expected Request, got {other:?}"),
        }
    }
}

#[test]
fn connection_refused_is_a_network_error_after_the_retries() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let url = format!("http://{addr}/m/model.safetensors");
    let options = LoadOptions {
        max_retries: 1,
        ..quick_options()
    };
    match load(&HttpSource::new(), &url, &options).result {
        Err(FetchError::Network {
            url: u,
            attempts: 2,
            ..
        }) => assert_eq!(u, url),
        other => panic!("expected Network, got {other:?}"),
    }
}
