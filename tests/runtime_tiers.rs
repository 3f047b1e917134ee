#![cfg(not(target_arch = "wasm32"))]
//! The host tier is real: all-MiniLM-L6-v2 (91 MB) loaded with a host budget below its size
//! keeps only the budget's share in memory while it streams (the heap's peak during the load is
//! the budget plus a bounded window, counted by webvram's counting allocator), leaves the rest
//! in its file (`remote` natively; Cache Storage in a browser), reads it back per call, and gives
//! sentence-transformers' embeddings. The books' host bytes equal the executor's after every
//! step. A budget too small for the word table the model gathers from is a clear `OOM`, and a
//! checkpoint without that table is refused before any of its data is read.

use std::sync::Mutex;

use pollster::block_on;
use webvram::fetch::{FileSource, LoadOptions};
use webvram::heap::{self, Counting};
use webvram::manager::Tier;
use webvram::policy::{Options, VramMode, WeightDtype};
use webvram::{Runtime, RuntimeOptions};

#[path = "model_bert_support/reference.rs"]
mod reference;
#[path = "support/tiny_bert.rs"]
mod tiny_bert;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One test at a time: the heap counter is the process's.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;
/// The host budget: the 47 MB word table plus about one encoder block.
const HOST_BUDGET: u64 = 56 * MIB;
/// What a load may hold beyond the host tier: the layer being assembled, the loader's chunk,
/// the tokenizer and configs.
const WINDOW: u64 = 16 * MIB;

fn runtime(vram: VramMode, vram_budget: Option<u64>, host_budget: u64) -> Runtime {
    let mut rt = runtime_without_reader(vram, vram_budget, host_budget);
    rt.set_layer_reader(Box::new(FileSource::new()));
    rt
}

/// [`runtime`] with nothing set to read layers back from: every byte must stay in memory.
fn runtime_without_reader(vram: VramMode, vram_budget: Option<u64>, host_budget: u64) -> Runtime {
    let policy = Options {
        vram,
        vram_budget,
        reserve_vram: vram_budget.map(|_| 0),
        host_budget: Some(host_budget),
        weight_dtype: WeightDtype::F32,
        ..Options::default()
    };
    let options = RuntimeOptions {
        policy,
        ..RuntimeOptions::default()
    };
    block_on(Runtime::create(options)).expect("runtime")
}

fn assert_books(rt: &Runtime, when: &str) {
    let books = rt.system_stats().books;
    assert!(books.agrees && books.host_agrees, "{when}: {books:?}");
    assert_eq!(
        books.held_host_bytes, books.booked_host_bytes,
        "{when}: {books:?}"
    );
    assert!(books.held_host_bytes <= HOST_BUDGET, "{when}: {books:?}");
}

fn tiers(rt: &Runtime) -> Vec<Tier> {
    (rt.manager().memory_map().layers.iter())
        .map(|l| l.tier)
        .collect()
}

/// Loads MiniLM, measuring the heap's peak over the load; embeds every reference case.
fn load_and_check(rt: &mut Runtime) -> (webvram::runtime::ModelInfo, u64) {
    let base = heap::reset_peak() as u64;
    let options = LoadOptions::default();
    let source = FileSource::new();
    let info = block_on(rt.load_model(&source, &reference::model_folder(), &options, |_| {}))
        .expect("load");
    let peak = heap::peak_bytes() as u64 - base;
    assert_books(rt, "after the load");
    for case in reference::cases() {
        let report = block_on(rt.embed(info.id, std::slice::from_ref(&case.text))).expect("embed");
        let (diff, cosine) = reference::compare(&report.vectors[0], &case.embedding);
        assert!(
            diff <= reference::MAX_ABS_DIFF && cosine >= reference::MIN_COSINE,
            "{}: diff {diff:e}, cosine {cosine}",
            case.name
        );
        assert_books(rt, &case.name);
    }
    (info, peak)
}

#[test]
fn the_cpu_path_keeps_the_host_budget_and_streams_the_rest() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rt = runtime(VramMode::Cpu, None, HOST_BUDGET);
    let (info, peak) = load_and_check(&mut rt);
    let id = info.id;
    eprintln!(
        "load peak over the baseline: {:.1} MiB",
        peak as f64 / MIB as f64
    );
    assert!(
        peak < HOST_BUDGET + WINDOW,
        "the load held {peak} bytes at once"
    );
    let tiers = tiers(&rt);
    assert!(tiers.contains(&Tier::Host), "{tiers:?}");
    assert!(tiers.contains(&Tier::Remote), "{tiers:?}");
    let map = rt.manager().memory_map();
    assert!(
        map.models[0].pinned_host_bytes > 40 * MIB,
        "{:?}",
        map.models[0]
    );
    assert!(map.models[0].size_bytes + map.models[0].pinned_host_bytes > HOST_BUDGET);
    block_on(rt.unload_model(id)).expect("unload");
    assert_eq!(rt.executor().host_bytes(), 0);
    assert_eq!(rt.manager().host_bytes(), 0);
}

#[test]
fn low_vram_uses_all_three_tiers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut rt = runtime(VramMode::Low, Some(24 * MIB), HOST_BUDGET);
    if rt.gpu().is_none() {
        eprintln!("no Vulkan adapter: skipped");
        return;
    }
    let (_, peak) = load_and_check(&mut rt);
    assert!(
        peak < HOST_BUDGET + WINDOW,
        "the load held {peak} bytes at once"
    );
    let tiers = tiers(&rt);
    for tier in [Tier::Gpu, Tier::Host, Tier::Remote] {
        assert!(tiers.contains(&tier), "{tier:?}: {tiers:?}");
    }
}

#[test]
fn a_word_table_over_the_host_budget_stays_in_its_file_and_is_read_by_rows() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 32 MiB: less than the 47 MB word table alone.
    let budget = 32 * MIB;
    let mut rt = runtime(VramMode::Cpu, None, budget);
    let (info, peak) = load_and_check(&mut rt);
    eprintln!(
        "load peak over the baseline: {:.1} MiB",
        peak as f64 / MIB as f64
    );
    assert!(peak < budget + WINDOW, "the load held {peak} bytes at once");
    assert_eq!(info.row_read_tables, ["word_embeddings.weight"]);
    let map = rt.manager().memory_map();
    assert_eq!(map.models[0].pinned_host_bytes, 0, "{:?}", map.models[0]);
    let books = rt.system_stats().books;
    assert!(books.held_host_bytes <= budget, "{books:?}");
}

#[test]
fn a_word_table_over_the_host_budget_without_a_layer_reader_is_a_clear_oom() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // No layer reader: nothing can be read back, so the table must be whole in wasm memory.
    let mut rt = runtime_without_reader(VramMode::Cpu, None, 32 * MIB);
    let options = LoadOptions::default();
    let source = FileSource::new();
    let err = block_on(rt.load_model(&source, &reference::model_folder(), &options, |_| {}))
        .expect_err("the word table does not fit");
    assert_eq!(err.code(), "OOM", "{err}");
    assert!(err.to_string().contains("hostBudget"), "{err}");
    assert!(rt.manager().memory_map().layers.is_empty());
    assert_eq!(rt.executor().host_bytes(), 0);
}

#[test]
fn a_checkpoint_without_the_word_table_is_refused_before_its_data() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/tmp/runtime_tiers/no-word-table");
    let model = tiny_bert::TinyBert {
        hidden: 16,
        layers: 2,
        heads: 2,
        intermediate: 32,
        seed: 3,
    };
    let minilm = std::path::Path::new(&reference::model_folder()).to_path_buf();
    model.write_skipping(&minilm, &dir, &["embeddings.word_embeddings.weight"]);
    let mut rt = runtime(VramMode::Cpu, None, HOST_BUDGET);
    let mut downloaded = 0;
    let options = LoadOptions::default();
    let folder = dir.to_str().expect("utf-8 path");
    let err = block_on(rt.load_model(&FileSource::new(), folder, &options, |p| {
        if p.phase == webvram::fetch::Phase::Download {
            downloaded += 1;
        }
    }))
    .expect_err("the word table is missing");
    assert_eq!(err.code(), "EXECUTION", "{err}");
    assert!(err.to_string().contains("word_embeddings.weight"), "{err}");
    assert_eq!(downloaded, 0, "no tensor data was read");
    assert!(rt.manager().memory_map().layers.is_empty());
    assert_eq!(rt.executor().host_bytes(), 0);
}
