//! Property tests: the parsers never panic on random or mutated input, never allocate far beyond the bytes
//! they were given, accept only what the `safetensors` crate accepts, and give chunking-independent results.
#![cfg(not(target_arch = "wasm32"))]

mod weights_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use webvram::weights::synth::SynthSpec;
use webvram::weights::{ConvertTarget, Converter, Dtype, Index, ShardPolicy, resolve_shard};
use weights_support::{stream_file, valid_file};

/// Counts live and peak heap bytes per thread, so parallel tests do not disturb each other.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add_signed(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call forwards to the system allocator unchanged; the thread-local counters use const
// initialisers without destructors, so touching them never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth on this thread while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

/// Tokens spliced into headers to reach the deeper validation paths.
const TOKENS: &[&str] = &[
    "-1",
    "0",
    "1.5",
    "1e3",
    "18446744073709551615",
    "18446744073709551616",
    "{}",
    "[]",
    "null",
    "true",
    "\"F16\"",
    "\"U16\"",
    "\"x\"",
    ",",
    ":",
    "\"__metadata__\"",
    "[0,0]",
    "[4294967296,4294967296]",
    "\"\\ud800\"",
    "\u{ff}",
    "\"shape\"",
    "\"dtype\"",
    "\"data_offsets\"",
];

/// A small synthetic shard: a realistic valid file to mutate.
fn seed_file() -> Vec<u8> {
    let spec = SynthSpec {
        layers: 2,
        layer_tensors: vec![
            ("w".into(), vec![3, 2]),
            ("b".into(), vec![2]),
            ("e".into(), vec![0]),
        ],
        dtype: Dtype::BF16,
        max_shard_bytes: 1 << 20,
        seed: 1,
    };
    spec.plan().expect("valid").shards()[0].to_bytes()
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Splice(usize, usize, &'static str),
    Truncate(usize),
}

/// Mostly JSON-ish ASCII, sometimes any byte.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![4 => b' '..=b'~', 1 => any::<u8>()]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), 0..12usize, proptest::sample::select(TOKENS))
            .prop_map(|(i, n, t)| Mutation::Splice(i, n, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *m {
        Mutation::Set(i, b) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes[i] = b;
        }
        Mutation::Insert(i, b) => bytes.insert(at(i, bytes.len() + 1), b),
        Mutation::Delete(i) if !bytes.is_empty() => drop(bytes.remove(at(i, bytes.len()))),
        Mutation::Splice(i, n, t) => {
            let i = at(i, bytes.len() + 1);
            let end = (i + n).min(bytes.len());
            bytes.splice(i..end, t.bytes());
        }
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
        _ => {}
    }
}

/// If we accept a file, the safetensors crate must accept it too and agree on every tensor.
fn agrees_with_safetensors(bytes: &[u8], chunk: usize) {
    let Ok((header, _)) = stream_file("p", bytes, None, chunk) else {
        return;
    };
    let theirs =
        safetensors::SafeTensors::deserialize(bytes).expect("we accepted what safetensors refuses");
    assert_eq!(header.tensors().len(), theirs.len());
    for t in header.tensors() {
        let view = theirs.tensor(t.name()).expect("same names");
        assert_eq!(safetensors::Dtype::from(t.dtype()), view.dtype());
        let range = header.file_range(t.name()).expect("range");
        assert_eq!(
            &bytes[range.start as usize..range.end as usize],
            view.data()
        );
    }
    assert_eq!(header.file_len(), bytes.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1..64usize) {
        let _ = stream_file("r", &bytes, None, chunk);
        let _ = stream_file("r", &bytes, Some(bytes.len() as u64), chunk);
        let _ = Index::parse("r", &bytes, ShardPolicy::default());
    }

    #[test]
    fn random_headers_never_panic(json in proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)) {
        let text = format!("{{\"t\":{{{}}}}}", json.concat());
        let _ = stream_file("h", &weights_support::st_file(&text, &[0; 16]), None, 7);
        let _ = Index::parse("h", text.as_bytes(), ShardPolicy::default());
    }

    #[test]
    fn mutated_files_never_panic_and_agree_with_safetensors(
        mutations in proptest::collection::vec(mutation(), 1..4),
        chunk in 1..200usize,
        base in proptest::bool::ANY,
        keep_prefix_valid in proptest::bool::weighted(0.8),
    ) {
        let mut bytes = if base { seed_file() } else { valid_file() };
        if keep_prefix_valid {
            // Mutate the header JSON and the data, then rewrite the length prefix to match, so the
            // mutations reach the JSON and layout checks instead of stopping at the length.
            let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
            let (mut json, mut data) = (bytes[8..8 + n].to_vec(), bytes[8 + n..].to_vec());
            for (i, m) in mutations.iter().enumerate() {
                apply(if i == 2 { &mut data } else { &mut json }, m);
            }
            bytes = weights_support::raw_file(&json, &data);
        } else {
            for m in &mutations {
                apply(&mut bytes, m);
            }
        }
        agrees_with_safetensors(&bytes, chunk);
        let _ = stream_file("m", &bytes, Some(bytes.len() as u64 + 1), chunk);
    }

    #[test]
    fn allocation_stays_proportional_to_input(
        declared in prop_oneof![Just(u64::MAX), Just(100_000_000u64), 0..4096u64],
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        chunk in 1..300usize,
    ) {
        let bytes = [declared.to_le_bytes().to_vec(), body].concat();
        let (_, peak) = peak_during(|| stream_file("a", &bytes, None, chunk));
        prop_assert!(peak <= 64 * bytes.len() + (64 << 10), "peak {peak} for {} bytes", bytes.len());
    }

    #[test]
    fn checksums_do_not_depend_on_chunking(cuts in proptest::collection::vec(1..97usize, 1..40)) {
        let bytes = seed_file();
        let (_, whole) = stream_file("c", &bytes, None, usize::MAX).expect("valid");
        let mut sink = webvram::weights::ChecksumSink::default();
        let mut stream = webvram::weights::FileStream::new("c", Some(bytes.len() as u64));
        let mut rest = &bytes[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (piece, tail) = rest.split_at((*cut).min(rest.len()));
            stream.feed(piece, &mut sink).expect("valid");
            rest = tail;
        }
        stream.finish(&mut sink).expect("complete");
        prop_assert_eq!(sink.sums(), whole.sums());
    }

    #[test]
    fn conversion_does_not_depend_on_chunking(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
        cuts in proptest::collection::vec(0..20usize, 0..10),
        dtype in proptest::sample::select(vec![Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::F8_E4M3, Dtype::F8_E5M2]),
    ) {
        let whole_len = bytes.len() / dtype.size() as usize * dtype.size() as usize;
        let bytes = &bytes[..whole_len];
        let mut reference = Vec::new();
        let mut c = Converter::new("t", dtype, ConvertTarget::F32).expect("float");
        c.push(bytes, &mut reference);
        let mut out = Vec::new();
        let mut c = Converter::new("t", dtype, ConvertTarget::F32).expect("float");
        let mut rest = bytes;
        for cut in cuts {
            let (piece, tail) = rest.split_at(cut.min(rest.len()));
            c.push(piece, &mut out);
            rest = tail;
        }
        c.push(rest, &mut out);
        prop_assert!(c.finish().is_ok());
        prop_assert_eq!(out, reference);
    }

    #[test]
    fn strict_resolution_never_leaves_the_folder(shard in "[a-z./:%\\\\?#2-5eEfFcC]{0,12}") {
        if let Ok(url) = resolve_shard("https://h/m/i.json", &shard, ShardPolicy::default()) {
            prop_assert!(url.starts_with("https://h/m/"), "{url}");
            let path = &url["https://h/m/".len()..];
            prop_assert!(path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."), "{url}");
            prop_assert!(!path.contains(['\\', '?', '#']), "{url}");
            prop_assert!(!path.split('/').next().unwrap_or_default().contains(':'), "{url}");
        }
    }
}

#[test]
fn a_huge_declared_header_allocates_almost_nothing() {
    let mut bytes = 100_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[b' '; 100]);
    let (result, peak) = peak_during(|| stream_file("huge", &bytes, None, 10));
    assert_eq!(
        result.map(drop).map_err(|e| e.code()),
        Err("truncated_header")
    );
    assert!(peak < 4096, "peak {peak}");
}
