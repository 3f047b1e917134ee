//! Shared helpers for the fetch tests: synthetic models, expected checksums, a recording sink and progress
//! checks, and the fault-injecting HTTP server.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

pub mod server;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use webvram::fetch::{ByteSource, FetchError, LoadOptions, Loaded, Phase, load_model};
use webvram::weights::synth::{SynthCheckpoint, SynthSpec};
use webvram::weights::{
    ChecksumSink, Dtype, Header, TensorInfo, TensorSink, WeightsError, WordHash, read_header,
};

/// Name of the index file.
pub const INDEX: &str = "model.safetensors.index.json";

/// The second shard's name in the [`sharded_spec`] model.
pub const SHARD2: &str = "model-00002-of-00003.safetensors";

/// Three shards of two ~256 KiB F32 layers each (~1.6 MB in all).
pub fn sharded_spec() -> SynthSpec {
    SynthSpec::uniform(6, 256 * 1024, Dtype::F32, 600 * 1024, 7)
}

/// One `model.safetensors` of four ~128 KiB BF16 layers.
pub fn single_spec() -> SynthSpec {
    SynthSpec::uniform(4, 128 * 1024, Dtype::BF16, 1 << 30, 11)
}

/// Every file of a planned checkpoint, by name (shards, and the index when sharded).
pub fn files_of(spec: &SynthSpec) -> (SynthCheckpoint, BTreeMap<String, Vec<u8>>) {
    let checkpoint = spec.plan().expect("valid spec");
    let mut files: BTreeMap<String, Vec<u8>> = checkpoint
        .shards()
        .iter()
        .map(|s| (s.name().to_owned(), s.to_bytes()))
        .collect();
    if let Some(index) = checkpoint.index_json() {
        files.insert(INDEX.to_owned(), index.as_bytes().to_vec());
    }
    (checkpoint, files)
}

/// The FNV-1a of every tensor of every safetensors file in `files`, computed from the bytes.
pub fn expected_sums(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".safetensors")) {
        let (header, start) = read_header(name, bytes, Some(bytes.len() as u64)).expect("valid");
        for t in header.tensors() {
            let span = start + t.data_range().start as usize..start + t.data_range().end as usize;
            sums.insert(t.name().to_owned(), WordHash::hash(&bytes[span]));
        }
    }
    sums
}

/// Sum of the safetensors files' lengths: the load's total.
pub fn total_len(files: &BTreeMap<String, Vec<u8>>) -> u64 {
    files
        .iter()
        .filter(|(n, _)| n.ends_with(".safetensors"))
        .map(|(_, b)| b.len() as u64)
        .sum()
}

/// A progress event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub phase: Phase,
    pub loaded: u64,
    pub total: u64,
    pub shard: String,
    pub tensor: Option<String>,
}

/// What a load did: its result, the checksums the sink computed, the progress events, and how many
/// progress events had been emitted when the sink saw its first data byte.
pub struct Outcome {
    pub result: Result<Loaded, FetchError>,
    pub sums: BTreeMap<String, u64>,
    pub events: Vec<Event>,
    pub events_before_first_data: Option<usize>,
}

/// A checksum sink that notes when its first data byte arrives relative to the progress events.
struct Probe {
    inner: ChecksumSink,
    events: Rc<RefCell<Vec<Event>>>,
    first_data: Option<usize>,
}

impl TensorSink for Probe {
    type Error = WeightsError;
    fn header(&mut self, header: &Header) -> Result<(), WeightsError> {
        self.inner.header(header)
    }
    fn begin(&mut self, t: &TensorInfo) -> Result<(), WeightsError> {
        self.inner.begin(t)
    }
    fn chunk(&mut self, t: &TensorInfo, bytes: &[u8]) -> Result<(), WeightsError> {
        self.first_data.get_or_insert(self.events.borrow().len());
        self.inner.chunk(t, bytes)
    }
    fn end(&mut self, t: &TensorInfo) -> Result<(), WeightsError> {
        self.inner.end(t)
    }
}

/// Loads `url` from `source` into a checksum sink, recording progress; `on_event` may cancel.
pub fn load_with(
    source: &impl ByteSource,
    url: &str,
    options: &LoadOptions,
    mut on_event: impl FnMut(&Event),
) -> Outcome {
    let events = Rc::new(RefCell::new(Vec::new()));
    let mut sink = Probe {
        inner: ChecksumSink::default(),
        events: Rc::clone(&events),
        first_data: None,
    };
    let record = |p: &webvram::fetch::Progress<'_>| {
        let event = Event {
            phase: p.phase,
            loaded: p.loaded,
            total: p.total,
            shard: p.shard.to_owned(),
            tensor: p.tensor.map(str::to_owned),
        };
        on_event(&event);
        events.borrow_mut().push(event);
    };
    let result = pollster::block_on(load_model(source, url, &mut sink, options, record));
    let events = events.borrow().clone();
    Outcome {
        result,
        sums: sink.inner.sums().clone(),
        events,
        events_before_first_data: sink.first_data,
    }
}

/// [`load_with`] without an event hook.
pub fn load(source: &impl ByteSource, url: &str, options: &LoadOptions) -> Outcome {
    load_with(source, url, options, |_| {})
}

/// A successful load: every tensor's checksum matches, progress is monotone, ends at `total`, and `total`
/// was known (an event was out) before the first data byte.
pub fn assert_complete(outcome: &Outcome, files: &BTreeMap<String, Vec<u8>>) -> u64 {
    let loaded = outcome.result.as_ref().expect("the load succeeds");
    let total = total_len(files);
    assert_eq!(loaded.total(), total);
    assert_eq!(
        outcome.sums,
        expected_sums(files),
        "every tensor arrives byte-identical"
    );
    assert_progress(&outcome.events, total);
    assert_eq!(
        outcome.events.last().map(|e| e.loaded),
        Some(total),
        "ends at total"
    );
    assert!(
        outcome.events_before_first_data.is_some_and(|n| n > 0),
        "total known before data"
    );
    total
}

/// Every event has the same total, `loaded` never decreases nor passes it, headers come first.
pub fn assert_progress(events: &[Event], total: u64) {
    assert!(!events.is_empty(), "progress was reported");
    assert_eq!(events[0].phase, Phase::Header);
    for pair in events.windows(2) {
        assert!(pair[0].loaded <= pair[1].loaded, "monotone: {pair:?}");
        assert!(!(pair[0].phase == Phase::Download && pair[1].phase == Phase::Header));
    }
    for e in events {
        assert_eq!(e.total, total, "total is fixed from the first event: {e:?}");
        assert!(e.loaded <= e.total);
        assert_eq!(e.tensor.is_some(), e.phase == Phase::Download, "{e:?}");
    }
}

/// Options that retry at once (no backoff wait).
pub fn quick_options() -> LoadOptions {
    LoadOptions {
        chunk_size: 32 * 1024,
        ..LoadOptions::default()
    }
}

/// A temporary directory, removed with its contents when dropped. Displays as its path with a trailing
/// `/`, ready to prefix a file name.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory unique to this process and `tag`.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("webvram-fetch-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl std::fmt::Display for TempDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `files` into a fresh temporary directory.
pub fn on_disk_files(tag: &str, files: &BTreeMap<String, Vec<u8>>) -> TempDir {
    let dir = TempDir::new(tag);
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

/// Serves the [`sharded_spec`] model with `faults`; returns the server and the files.
pub fn serve_sharded(faults: Vec<server::Fault>) -> (server::Server, BTreeMap<String, Vec<u8>>) {
    let (_, files) = files_of(&sharded_spec());
    (server::Server::start(files.clone(), faults), files)
}

/// Where the data region of file `name` starts.
pub fn data_start(files: &BTreeMap<String, Vec<u8>>, name: &str) -> u64 {
    let bytes = &files[name];
    read_header(name, bytes, None)
        .expect("valid")
        .0
        .data_start()
}
