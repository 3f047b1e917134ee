#![cfg(not(target_arch = "wasm32"))]
//! The loader's contract with its caller, over local files: cancellation, checksum options, sink errors,
//! the serialized shape of progress events, and an error code, kind and actionable message for every
//! variant (network ones reached through a hand-written source).

mod fetch_support;

use std::ops::Range;

use fetch_support::{
    INDEX, expected_sums, files_of, load, load_with, on_disk_files, quick_options, sharded_spec,
    single_spec,
};
use webvram::fetch::{
    Body, ByteSource, FetchError, FileSource, Phase, Progress, SourceError, load_model,
};
use webvram::weights::{Buffered, TensorInfo, TensorSink, WeightsError};

#[test]
fn cancellation_before_the_start_and_between_chunks() {
    let (_, files) = files_of(&sharded_spec());
    let dir = on_disk_files("cancel", &files);
    let url = format!("{dir}{INDEX}");
    let options = quick_options();
    options.cancel.cancel();
    let before = load(&FileSource::new(), &url, &options);
    assert!(matches!(before.result, Err(FetchError::Aborted)) && before.events.is_empty());
    let options = quick_options();
    let cancel = options.cancel.clone();
    let mut downloads = 0;
    let during = load_with(&FileSource::new(), &url, &options, |e| {
        downloads += usize::from(e.phase == Phase::Download);
        if downloads == 5 {
            cancel.cancel();
        }
    });
    match during.result {
        Err(e @ FetchError::Aborted) => assert_eq!((e.code(), e.url()), ("ABORTED", None)),
        other => panic!("expected Aborted, got {other:?}"),
    }
    assert_eq!(
        during
            .events
            .iter()
            .filter(|e| e.phase == Phase::Download)
            .count(),
        5
    );
    assert!(during.sums.len() < expected_sums(&files).len());
}

#[test]
fn checksum_options_are_validated() {
    let bad_hex = quick_options().with_sha256_hex("model.safetensors", "abc");
    assert!(matches!(
        bad_hex,
        Err(FetchError::BadOption {
            option: "sha256",
            ..
        })
    ));
    let (_, files) = files_of(&single_spec());
    let dir = on_disk_files("sha-name", &files);
    let typo = quick_options()
        .with_sha256_hex("model.safetensor", &"0".repeat(64))
        .expect("hex");
    match load(
        &FileSource::new(),
        &format!("{dir}model.safetensors"),
        &typo,
    )
    .result
    {
        Err(e @ FetchError::BadOption { .. }) => {
            assert_eq!(e.code(), "OPTIONS");
            assert!(e.to_string().contains("model.safetensor\""), "{e}");
        }
        other => panic!("expected BadOption, got {other:?}"),
    }
    let wrong = quick_options()
        .with_sha256_hex("model.safetensors", &"AB".repeat(32))
        .expect("hex");
    let result = load(
        &FileSource::new(),
        &format!("{dir}model.safetensors"),
        &wrong,
    )
    .result;
    assert!(
        matches!(result, Err(FetchError::ChecksumMismatch { ref expected, .. }) if *expected == "ab".repeat(32))
    );
}

/// A sink that fails on its second tensor with its own error type.
#[derive(Default)]
struct FailsSecond {
    begun: usize,
}

#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("out of GPU memory")]
    OutOfMemory,
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

impl TensorSink for FailsSecond {
    type Error = UploadError;
    fn begin(&mut self, _: &TensorInfo) -> Result<(), UploadError> {
        self.begun += 1;
        match self.begun {
            2 => Err(UploadError::OutOfMemory),
            _ => Ok(()),
        }
    }
    fn chunk(&mut self, _: &TensorInfo, _: &[u8]) -> Result<(), UploadError> {
        Ok(())
    }
    fn end(&mut self, _: &TensorInfo) -> Result<(), UploadError> {
        Ok(())
    }
}

#[test]
fn sink_errors_name_the_tensor_and_weights_errors_stay_format_errors() {
    let (_, files) = files_of(&single_spec());
    let dir = on_disk_files("sink", &files);
    let url = format!("{dir}model.safetensors");
    let header = webvram::weights::read_header("m", &files["model.safetensors"], None)
        .expect("valid")
        .0;
    let second = header.tensors()[1].name().to_owned();
    let result = pollster::block_on(load_model(
        &FileSource::new(),
        &url,
        &mut FailsSecond::default(),
        &quick_options(),
        |_| {},
    ));
    match result {
        Err(e @ FetchError::Sink { .. }) => {
            assert_eq!(
                (e.code(), e.kind(), e.url()),
                ("SINK", "sink", Some(url.as_str()))
            );
            assert!(
                e.to_string().contains(&second) && e.to_string().contains("out of GPU memory"),
                "{e}"
            );
        }
        other => panic!("expected Sink, got {other:?}"),
    }
    let mut buffered = Buffered::new(|_: &TensorInfo, _: &[u8]| Ok::<(), WeightsError>(()), 16);
    let result = pollster::block_on(load_model(
        &FileSource::new(),
        &url,
        &mut buffered,
        &quick_options(),
        |_| {},
    ));
    assert!(
        matches!(
            result,
            Err(FetchError::Format(WeightsError::TensorTooLarge { .. }))
        ),
        "{result:?}"
    );
}

#[test]
fn progress_serializes_with_camel_case_keys_and_lowercase_phase() {
    let event = Progress {
        phase: Phase::Download,
        loaded: 5,
        total: 9,
        shard: "s.safetensors",
        tensor: Some("w"),
    };
    let json = serde_json::to_string(&event).expect("serializes");
    assert_eq!(
        json,
        r#"{"phase":"download","loaded":5,"total":9,"shard":"s.safetensors","tensor":"w"}"#
    );
    let header = Progress {
        phase: Phase::Header,
        tensor: None,
        ..event
    };
    assert!(
        serde_json::to_string(&header)
            .expect("ok")
            .contains(r#""phase":"header","#)
    );
    for (phase, name) in [(Phase::Cache, "\"cache\""), (Phase::Upload, "\"upload\"")] {
        assert_eq!(serde_json::to_string(&phase).expect("ok"), name);
    }
}

/// A source whose bodies always break, to reach the network-error paths without sockets.
struct Broken;
struct BrokenBody(webvram::fetch::ResponseMeta);

impl Body for BrokenBody {
    fn meta(&self) -> &webvram::fetch::ResponseMeta {
        &self.0
    }
    async fn read(&mut self, _: &mut [u8]) -> Result<usize, SourceError> {
        Err(SourceError::Aborted)
    }
}

impl ByteSource for Broken {
    type Body = BrokenBody;
    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<BrokenBody, SourceError> {
        let (status, content_range) = match url {
            "bad-range" => (206, Some("bytes 5-9/100".to_owned())),
            "teapot" => (418, None),
            "past-end" => (416, None),
            _ => (206, None),
        };
        let content_length = range.map(|r| r.end - r.start);
        Ok(BrokenBody(webvram::fetch::ResponseMeta {
            status,
            content_length,
            content_range,
            etag: None,
        }))
    }
}

#[test]
fn every_error_variant_has_a_code_a_kind_and_says_what_to_do() {
    let run = |url: &str| {
        pollster::block_on(load_model(
            &Broken,
            url,
            &mut Buffered::new(|_: &TensorInfo, _: &[u8]| Ok::<(), WeightsError>(()), 0),
            &quick_options(),
            |_| {},
        ))
    };
    let cases: Vec<(FetchError, &str, &str)> = vec![
        (
            run("aborts.safetensors").expect_err("aborted"),
            "ABORTED",
            "aborted",
        ),
        (
            run("bad-range").expect_err("bad range"),
            "FETCH",
            "bad_content_range",
        ),
        (run("teapot").expect_err("418"), "FETCH", "status"),
        (
            run("past-end").expect_err("416"),
            "FETCH",
            "range_not_satisfiable",
        ),
    ];
    for (error, code, kind) in cases {
        assert_eq!((error.code(), error.kind()), (code, kind), "{error}");
        assert!(!error.to_string().is_empty());
    }
    let truncated = FetchError::Truncated {
        url: "u".into(),
        expected: 9,
        got: 4,
        attempts: 4,
    };
    assert!(
        truncated.to_string().contains("byte 4 of 9")
            && truncated.to_string().contains("load again")
    );
    let changed = FetchError::Changed {
        url: "u".into(),
        before: "a".into(),
        after: "b".into(),
    };
    assert_eq!((changed.code(), changed.kind()), ("FETCH", "changed"));
}
