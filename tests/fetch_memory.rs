#![cfg(not(target_arch = "wasm32"))]
//! Peak memory of a load is bounded by the chunk size, not by the shard size: a counting global allocator
//! measures the most bytes live at once while an 8 MiB shard streams through the loader, from a file and
//! over HTTP. This binary holds a single test so no other test allocates concurrently.

mod fetch_support;

use fetch_support::server::Server;
use fetch_support::{expected_sums, files_of, on_disk_files};
use webvram::fetch::{
    ByteSource, FetchError, FileSource, HttpSource, LoadOptions, Loaded, Progress, load_model,
};
use webvram::heap::{self, Counting};
use webvram::weights::synth::SynthSpec;
use webvram::weights::{ChecksumSink, Dtype};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated above what was live when the load started.
fn peak_during(load_it: impl FnOnce()) -> usize {
    let base = heap::reset_peak();
    load_it();
    heap::peak_bytes() - base
}

#[test]
fn peak_memory_is_bounded_by_the_chunk_size_not_the_shard_size() {
    let spec = SynthSpec::uniform(2, 4 << 20, Dtype::F32, 1 << 30, 9);
    let (checkpoint, files) = files_of(&spec);
    let shard = &checkpoint.shards()[0];
    assert!(shard.len() > 8 << 20, "a multi-MB shard: {}", shard.len());
    let dir = on_disk_files("memory", &files);
    let server = Server::start(files.clone(), vec![]);
    let chunk = 64 * 1024;
    let options = LoadOptions {
        chunk_size: chunk,
        ..LoadOptions::default()
    };
    let bound = 2 * chunk + 16 * shard.header_len() as usize + 32 * 1024;
    let file_url = format!("{dir}model.safetensors");
    let http_url = server.url("model.safetensors");
    let sources: [(&str, &str, &dyn LoadFrom); 2] = [
        ("file", &file_url, &FileSource::new()),
        ("http", &http_url, &HttpSource::new()),
    ];
    for (label, url, source) in sources {
        let mut sink = ChecksumSink::default();
        let mut last = (0, 0);
        let peak = peak_during(|| {
            let loaded = source.load(url, &mut sink, &options, &mut |p| {
                last = (p.loaded, p.total)
            });
            assert!(loaded.is_ok(), "{label}: {loaded:?}");
        });
        assert_eq!(
            sink.sums(),
            &expected_sums(&files),
            "{label}: bytes verified"
        );
        assert_eq!(
            last,
            (shard.len(), shard.len()),
            "{label}: progress ends at total"
        );
        eprintln!(
            "{label}: peak {peak} bytes while streaming a {} byte shard (bound {bound})",
            shard.len()
        );
        assert!(peak < bound, "{label}: peak {peak} >= bound {bound}");
    }
}

/// Object-safe loading, so both sources go through one loop.
trait LoadFrom {
    fn load(
        &self,
        url: &str,
        sink: &mut ChecksumSink,
        options: &LoadOptions,
        progress: &mut dyn FnMut(&Progress<'_>),
    ) -> Result<Loaded, FetchError>;
}

impl<S: ByteSource> LoadFrom for S {
    fn load(
        &self,
        url: &str,
        sink: &mut ChecksumSink,
        options: &LoadOptions,
        progress: &mut dyn FnMut(&Progress<'_>),
    ) -> Result<Loaded, FetchError> {
        pollster::block_on(load_model(self, url, sink, options, progress))
    }
}
