#![cfg(not(target_arch = "wasm32"))]
//! The loader over local files: sharded and single-file checkpoints, the exact header ranges it asks,
//! chunk-size independence, and files or indexes that disagree with their headers.

mod fetch_support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use fetch_support::{
    INDEX, TempDir, assert_complete, files_of, load, on_disk_files, quick_options, sharded_spec,
    single_spec,
};
use webvram::fetch::{ByteSource, FetchError, FileSource, LoadOptions, SourceError};
use webvram::weights::synth::{SynthSpec, write_checkpoint};
use webvram::weights::{Dtype, WeightsError};

/// A [`FileSource`] that logs every range asked.
#[derive(Default)]
struct Logging {
    inner: FileSource,
    asked: RefCell<Vec<(String, Option<Range<u64>>)>>,
}

impl ByteSource for Logging {
    type Body = <FileSource as ByteSource>::Body;
    async fn open(&self, url: &str, range: Option<Range<u64>>) -> Result<Self::Body, SourceError> {
        self.asked
            .borrow_mut()
            .push((url.to_owned(), range.clone()));
        self.inner.open(url, range).await
    }
}

#[test]
fn loads_a_sharded_checkpoint_written_by_the_generator() {
    let dir = TempDir::new("sharded");
    let checkpoint = write_checkpoint(dir.path(), &sharded_spec()).expect("write");
    assert_eq!(checkpoint.shards().len(), 3);
    let (_, files) = files_of(&sharded_spec());
    let outcome = load(
        &FileSource::new(),
        &format!("{dir}{INDEX}"),
        &quick_options(),
    );
    assert_complete(&outcome, &files);
    let loaded = outcome.result.expect("ok");
    assert!(loaded.index().is_some());
    let first = checkpoint.shards()[0]
        .tensors()
        .next()
        .expect("a tensor")
        .to_owned();
    assert_eq!(
        loaded.shard_of(&first).map(|s| s.name()),
        Some(checkpoint.shards()[0].name())
    );
}

#[test]
fn loads_a_single_file_and_reads_headers_with_exact_ranges() {
    let (_, files) = files_of(&single_spec());
    let dir = on_disk_files("single", &files);
    let source = Logging::default();
    let outcome = load(
        &source,
        &format!("{dir}model.safetensors"),
        &quick_options(),
    );
    assert_complete(&outcome, &files);
    let header = outcome.result.expect("ok").shards()[0].header().clone();
    let ranges: Vec<_> = source
        .asked
        .borrow()
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    let probe = webvram::fetch::HEADER_PROBE_LEN;
    assert_eq!(
        ranges,
        [Some(0..probe), Some(header.data_start()..header.file_len())]
    );
}

#[test]
fn a_header_longer_than_the_probe_costs_one_exact_second_range() {
    let tensors = (0..40).map(|i| (format!("t{i:02}"), vec![2, 3])).collect();
    let spec = SynthSpec {
        layers: 3,
        layer_tensors: tensors,
        dtype: Dtype::F16,
        max_shard_bytes: 1 << 30,
        seed: 3,
    };
    let (_, files) = files_of(&spec);
    let dir = on_disk_files("long-header", &files);
    let source = Logging::default();
    let options = LoadOptions {
        header_probe_len: 100,
        ..quick_options()
    };
    let outcome = load(&source, &format!("{dir}model.safetensors"), &options);
    assert_complete(&outcome, &files);
    let header = outcome.result.expect("ok").shards()[0].header().clone();
    assert!(header.data_start() > 100);
    let ranges: Vec<_> = source
        .asked
        .borrow()
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    let (head, end) = (header.data_start(), header.file_len());
    assert_eq!(ranges, [Some(0..100), Some(100..head), Some(head..end)]);
}

#[test]
fn any_chunk_and_probe_size_gives_the_same_tensors() {
    let spec = SynthSpec::uniform(2, 96, Dtype::F32, 1 << 20, 5);
    let (_, files) = files_of(&spec);
    let dir = on_disk_files("chunks", &files);
    for chunk_size in [0, 1, 3, 7, 64, 1 << 20] {
        for header_probe_len in [0, 9, 8 + 3, 4096] {
            let options = LoadOptions {
                chunk_size,
                header_probe_len,
                ..quick_options()
            };
            let outcome = load(
                &FileSource::new(),
                &format!("{dir}model.safetensors"),
                &options,
            );
            assert_complete(&outcome, &files);
        }
    }
}

#[test]
fn missing_shard_file_is_not_found() {
    let (_, mut files) = files_of(&sharded_spec());
    files.remove("model-00003-of-00003.safetensors");
    let dir = on_disk_files("missing", &files);
    let outcome = load(
        &FileSource::new(),
        &format!("{dir}{INDEX}"),
        &quick_options(),
    );
    match outcome.result {
        Err(FetchError::NotFound { url }) => {
            assert!(url.ends_with("model-00003-of-00003.safetensors"))
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn a_file_shorter_than_its_header_is_a_length_mismatch() {
    let (_, mut files) = files_of(&sharded_spec());
    let name = "model-00002-of-00003.safetensors";
    let full = files[name].len() as u64;
    files
        .get_mut(name)
        .expect("shard")
        .truncate(full as usize - 5);
    let dir = on_disk_files("short-file", &files);
    match load(
        &FileSource::new(),
        &format!("{dir}{INDEX}"),
        &quick_options(),
    )
    .result
    {
        Err(FetchError::LengthMismatch { url, expected, got }) => {
            assert!(url.ends_with(name));
            assert_eq!((expected, got), (full, full - 5));
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
}

#[test]
fn a_stale_index_is_refused_before_any_tensor_is_streamed() {
    let (_, mut files) = files_of(&sharded_spec());
    let index = String::from_utf8(files[INDEX].clone()).expect("utf8");
    let stale = index.replacen(
        "\"weight_map\":{",
        "\"weight_map\":{\"ghost\":\"model-00001-of-00003.safetensors\",",
        1,
    );
    files.insert(INDEX.into(), stale.into_bytes());
    let dir = on_disk_files("stale", &files);
    let outcome = load(
        &FileSource::new(),
        &format!("{dir}{INDEX}"),
        &quick_options(),
    );
    match &outcome.result {
        Err(e @ FetchError::Format(WeightsError::TensorMissingFromShard { tensor, .. })) => {
            assert_eq!(tensor, "ghost");
            assert_eq!(
                (e.code(), e.kind()),
                ("FORMAT", "tensor_missing_from_shard")
            );
        }
        other => panic!("expected TensorMissingFromShard, got {other:?}"),
    }
    assert!(outcome.sums.is_empty() && outcome.events.is_empty());
}

#[test]
fn shard_names_outside_the_folder_need_allow_external() {
    let (_, files) = files_of(&single_spec());
    let dir = on_disk_files("external", &files);
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let header = webvram::weights::read_header("m", &files["model.safetensors"], None)
        .expect("valid")
        .0;
    let map: BTreeMap<&str, &str> = header
        .tensors()
        .iter()
        .map(|t| (t.name(), "../model.safetensors"))
        .collect();
    let index = serde_json::json!({ "weight_map": map }).to_string();
    std::fs::write(sub.join(INDEX), index).expect("write");
    let url = format!("{}/{INDEX}", sub.display());
    let refused = load(&FileSource::new(), &url, &quick_options()).result;
    assert!(
        matches!(
            refused,
            Err(FetchError::Format(WeightsError::BadShardName { .. }))
        ),
        "{refused:?}"
    );
    let options = LoadOptions {
        allow_external: true,
        ..quick_options()
    };
    assert_complete(&load(&FileSource::new(), &url, &options), &files);
}

#[test]
fn a_small_file_is_read_whole_and_one_over_its_limit_is_refused_by_name() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fetch-file-limit");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, br#"{"hidden_size": 384}"#).unwrap();
    let url = path.to_str().unwrap();
    let options = LoadOptions::default();
    let read = |limit| {
        pollster::block_on(webvram::fetch::fetch_file(
            &FileSource::new(),
            &options,
            url,
            limit,
        ))
    };
    assert_eq!(read(20).unwrap(), br#"{"hidden_size": 384}"#);
    match read(19) {
        Err(FetchError::TooLarge {
            url: at,
            len,
            limit,
        }) => {
            assert_eq!((at.as_str(), len, limit), (url, 20, 19));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let missing = dir.join("absent.json");
    let err = pollster::block_on(webvram::fetch::fetch_file(
        &FileSource::new(),
        &options,
        missing.to_str().unwrap(),
        1024,
    ))
    .unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
}
