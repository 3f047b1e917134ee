#![cfg(not(target_arch = "wasm32"))]
//! The whole pipeline natively: `Runtime::load_model` streams all-MiniLM-L6-v2 from its folder
//! (FileSource), `Runtime::embed` runs it through the manager and the executor on lavapipe (or on
//! burn's CPU backend), in several VRAM states; embeddings must equal sentence-transformers'.

use std::path::Path;

use pollster::block_on;
use webvram::fetch::{FileSource, LoadOptions};
use webvram::manager::Tier;
use webvram::policy::{Options, VramMode};
use webvram::{Runtime, RuntimeOptions};

const MIB: u64 = 1 << 20;

#[path = "model_bert_support/reference.rs"]
mod reference;

use reference::{Case, MAX_ABS_DIFF, MIN_COSINE, compare};

fn folder() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "run scripts/fetch-model.sh"
    );
    dir.to_str().unwrap().to_owned()
}

fn runtime(vram: VramMode, budget: Option<u64>) -> Runtime {
    let policy = Options {
        vram,
        vram_budget: budget,
        reserve_vram: budget.map(|_| 0),
        ..Options::default()
    };
    let options = RuntimeOptions {
        policy,
        power_preference: None,
    };
    block_on(Runtime::create(options)).expect("runtime")
}

/// Loads the model, embeds every fixture case (short ones as one batch, the long one alone) and
/// checks each against the reference; returns the layers streamed by the batched call.
fn check(rt: &mut Runtime) -> usize {
    let mut progress = 0;
    let info = block_on(rt.load_model(
        &FileSource::new(),
        &folder(),
        &LoadOptions::default(),
        |p| progress = p.loaded,
    ))
    .expect("load");
    assert_eq!(progress, info.file_bytes, "progress ends at the file size");
    assert_eq!(info.layers, 7);
    let cases = reference::cases();
    let (long, short): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| c.text.len() > 1000);
    assert!(!long.is_empty() && short.len() >= 8);
    let texts: Vec<String> = short.iter().map(|c| c.text.clone()).collect();
    let batch = block_on(rt.embed(info.id, &texts)).expect("embed");
    for (case, got) in short.iter().zip(&batch.vectors) {
        assert_close(case, got);
    }
    for case in long {
        let one = block_on(rt.embed(info.id, std::slice::from_ref(&case.text))).expect("embed");
        assert_close(case, &one.vectors[0]);
    }
    assert!(
        rt.system_stats().books.agrees,
        "{:?}",
        rt.system_stats().books
    );
    batch.forward.streamed_layers
}

fn assert_close(case: &Case, got: &[f32]) {
    let (diff, cosine) = compare(got, &case.embedding);
    assert!(
        diff <= MAX_ABS_DIFF && cosine >= MIN_COSINE,
        "{}: diff {diff:e}, cosine {cosine}",
        case.name
    );
}

#[test]
fn high_vram_keeps_every_layer_on_the_gpu() {
    let mut rt = runtime(VramMode::High, None);
    assert!(
        rt.gpu().is_some(),
        "no native GPU adapter (lavapipe: install mesa-vulkan-drivers)"
    );
    assert_eq!(check(&mut rt), 0);
    let map = rt.manager().memory_map();
    assert!(map.layers.iter().all(|l| l.tier == Tier::Gpu), "{map:?}");
}

#[test]
fn low_vram_at_a_quarter_of_the_weights_streams_and_matches() {
    // The encoder's weights without the word table (kept on the host) are ~43 MiB; a 24 MiB
    // budget (a quarter of the 91 MB checkpoint) holds some blocks and streams the rest.
    let mut rt = runtime(VramMode::Low, Some(24 * MIB));
    assert_eq!(rt.vram_state(), "LOW_VRAM");
    let streamed = check(&mut rt);
    assert!(
        streamed > 0 && streamed < 7,
        "streamed {streamed} of 7 layers"
    );
}

#[test]
fn no_vram_streams_every_layer_and_matches() {
    let mut rt = runtime(VramMode::None, None);
    assert_eq!(rt.vram_state(), "NO_VRAM");
    assert_eq!(check(&mut rt), 7);
}

#[test]
fn disabled_runs_on_the_cpu_and_matches() {
    let mut rt = runtime(VramMode::Cpu, None);
    assert_eq!(rt.vram_state(), "DISABLED");
    assert!(rt.gpu().is_none());
    check(&mut rt);
}

#[test]
fn unload_and_reload_give_the_same_embeddings() {
    let mut rt = runtime(VramMode::Normal, None);
    check(&mut rt);
    let id = rt.manager().memory_map().layers[0].model.get();
    block_on(rt.unload_model(id)).expect("unload");
    assert!(rt.manager().memory_map().layers.is_empty());
    assert_eq!(rt.executor().gpu_bytes() + rt.executor().host_bytes(), 0);
    check(&mut rt);
}
