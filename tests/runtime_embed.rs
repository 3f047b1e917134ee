#![cfg(not(target_arch = "wasm32"))]
//! The whole pipeline natively: `Runtime::load_model` streams all-MiniLM-L6-v2 from its folder
//! (FileSource), `Runtime::embed` runs it through the manager and the executor on lavapipe (or on
//! burn's CPU backend), in several VRAM states; embeddings must equal sentence-transformers'.
//! Weights are held in f32 here (lavapipe has `shader-f16`, so `auto` would pick f16); the f16
//! path has its own tests in `runtime_f16.rs`.

use pollster::block_on;
use webvram::fetch::{FileSource, LoadOptions};
use webvram::manager::Tier;
use webvram::policy::{Options, VramMode, WeightDtype};
use webvram::{Runtime, RuntimeOptions};

const MIB: u64 = 1 << 20;

#[path = "model_bert_support/reference.rs"]
mod reference;

use reference::{Case, MAX_ABS_DIFF, MIN_COSINE, compare};

use reference::model_folder as folder;

fn runtime(vram: VramMode, budget: Option<u64>) -> Runtime {
    let policy = Options {
        vram,
        vram_budget: budget,
        reserve_vram: budget.map(|_| 0),
        weight_dtype: WeightDtype::F32,
        ..Options::default()
    };
    let options = RuntimeOptions {
        policy,
        ..RuntimeOptions::default()
    };
    block_on(Runtime::create(options)).expect("runtime")
}

/// Loads all-MiniLM-L6-v2 from its folder; returns its id.
fn load(rt: &mut Runtime) -> u32 {
    let options = LoadOptions::default();
    block_on(rt.load_model(&FileSource::new(), &folder(), &options, |_| {}))
        .expect("load")
        .id
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

/// LOW_VRAM at a quarter of the weights (22 MiB): every fixture case in one call, the 256-token
/// text among them. Padded together they need ~80 MiB of inference memory, far over the budget;
/// split into batches (longest first) each fits, and every vector matches in input order.
#[test]
fn a_call_too_big_for_the_budget_is_split_into_batches_that_fit() {
    let mut rt = runtime(VramMode::Low, Some(22 * MIB));
    let id = load(&mut rt);
    let cases = reference::cases();
    let texts: Vec<String> = cases.iter().map(|c| c.text.clone()).collect();
    let longest = texts.iter().map(String::len).max().unwrap();
    assert!(longest > 1000, "the fixture has a text over max_seq_length");
    let mut heard = Vec::new();
    let options = webvram::runtime::EmbedOptions::default();
    let report = block_on(rt.embed_with(id, &texts, &options, |p| heard.push(p)))
        .expect("the batches fit one by one");
    assert!(report.batches > 1, "split: {} batches", report.batches);
    assert_eq!(report.vectors.len(), cases.len());
    for (case, got) in cases.iter().zip(&report.vectors) {
        assert_close(case, got);
    }
    assert_eq!(heard.len(), report.batches);
    let done: Vec<usize> = heard.iter().map(|p| p.done).collect();
    assert!(done.windows(2).all(|w| w[0] < w[1]), "{done:?}");
    assert_eq!(heard.last().unwrap().done, cases.len());
    assert!(rt.system_stats().books.agrees);
}

/// Many texts on the CPU path: batches of at most 32, vectors in input order, equal to the same
/// texts embedded one call each; a cancelled call stops before its first batch.
#[test]
fn many_texts_come_back_in_input_order() {
    let mut rt = runtime(VramMode::Cpu, None);
    let id = load(&mut rt);
    let cases = reference::cases();
    let short: Vec<String> = (cases.iter())
        .filter(|c| c.text.len() < 1000)
        .map(|c| c.text.clone())
        .collect();
    let texts: Vec<String> = (0..100)
        .map(|i| short[(i * 7) % short.len()].clone())
        .collect();
    let report = block_on(rt.embed(id, &texts)).expect("embed");
    assert!(report.batches >= texts.len().div_ceil(webvram::runtime::MAX_BATCH_TEXTS));
    for (text, got) in texts.iter().zip(&report.vectors) {
        let case = cases.iter().find(|c| &c.text == text).unwrap();
        assert_close(case, got);
    }
    let cancel = webvram::fetch::CancelToken::new();
    cancel.cancel();
    let options = webvram::runtime::EmbedOptions {
        cancel: Some(cancel),
        ..Default::default()
    };
    let err = block_on(rt.embed_with(id, &texts, &options, |_| {})).unwrap_err();
    assert_eq!(err.code(), "ABORTED", "{err}");
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

/// A device that holds only 30 MiB under a 200 MiB budget (simulated: lavapipe never runs out):
/// the first call runs out of memory, steps down to what the device held, and still matches;
/// listeners hear the out-of-memory event, the state change and the layer moves; the learned
/// budget applies to the next runtime on this adapter; `destroy` ends the runtime.
#[test]
fn out_of_memory_steps_down_reports_events_and_teaches_the_next_runtime() {
    use webvram::runtime::RuntimeEvent;

    let policy = Options {
        vram: VramMode::Normal,
        vram_budget: Some(200 * MIB),
        reserve_vram: Some(0),
        weight_dtype: WeightDtype::F32,
        ..Options::default()
    };
    let options = RuntimeOptions {
        policy: policy.clone(),
        simulated_gpu_capacity: Some(30 * MIB),
        ..RuntimeOptions::default()
    };
    let mut rt = block_on(Runtime::create(options)).expect("runtime");
    assert!(rt.take_events().is_empty(), "nothing happened yet");
    let id = load(&mut rt);
    assert!(
        rt.take_events().is_empty(),
        "a new model's layers are not moves"
    );
    let case = &reference::cases()[0];
    let report = block_on(rt.embed(id, std::slice::from_ref(&case.text))).expect("embed");
    assert!(report.stepped_down);
    assert_close(case, &report.vectors[0]);
    let events = rt.take_events();
    let kinds: Vec<&str> = events.iter().map(RuntimeEvent::kind).collect();
    assert_eq!(kinds[0], "statechange", "{kinds:?}");
    assert!(
        matches!(&events[0], RuntimeEvent::StateChange { from, to, .. }
        if from == "NORMAL_VRAM" && to == "LOW_VRAM"),
        "{events:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "oom").count(),
        1,
        "{kinds:?}"
    );
    let to_gpu = (events.iter())
        .filter(|e| matches!(e, RuntimeEvent::LayerMove { to: Tier::Gpu, .. }))
        .count();
    assert_eq!(
        to_gpu,
        rt.manager()
            .memory_map()
            .layers
            .iter()
            .filter(|l| l.tier == Tier::Gpu)
            .count()
    );
    assert!(rt.take_events().is_empty(), "events are taken once");

    let learned = rt.take_learned().expect("a learned budget");
    assert!(learned.budget_bytes < 30 * MIB, "{learned:?}");
    assert_eq!(learned.budget_bytes, rt.decision().budget_bytes);
    // An explicit vramBudget is the caller's word; the automatic estimate is lowered.
    let next = |policy: Options| {
        let options = RuntimeOptions {
            policy,
            learned: vec![learned.clone()],
            ..RuntimeOptions::default()
        };
        block_on(Runtime::create(options)).expect("runtime")
    };
    assert_eq!(next(policy).decision().budget_bytes, 200 * MIB);
    let auto = next(Options {
        vram: VramMode::Shared,
        ..Options::default()
    });
    assert!(auto.decision().budget_bytes <= learned.budget_bytes);
    assert_eq!(
        auto.decision().oom_count,
        1,
        "the entry matched this adapter"
    );

    rt.destroy();
    let id = rt
        .manager()
        .memory_map()
        .layers
        .first()
        .map_or(0, |l| l.model.get());
    let err = block_on(rt.embed(id, &["after destroy".into()])).unwrap_err();
    assert_eq!(err.code(), "INVALID_STATE", "{err}");
    assert_eq!(rt.manager().memory_map().layers.len(), 0);
}

/// With a layer reader (here the file system; Cache Storage or the network in a browser) the
/// executor keeps no wasm copy of a layer the books put on a unified-memory GPU, and a lost
/// device gets its layers back from the files; the embeddings stay the same throughout.
#[test]
fn layers_come_back_from_their_files_instead_of_a_second_copy() {
    let mut rt = runtime(VramMode::Shared, None);
    assert_eq!(rt.vram_state(), "SHARED");
    rt.set_layer_reader(Box::new(FileSource::new()));
    check(&mut rt);
    let books = rt.system_stats().books;
    assert!(books.agrees, "{books:?}");
    assert_eq!(books.host_retained_bytes, 0, "{books:?}");
    assert_eq!(books.held_host_bytes, books.booked_host_bytes, "{books:?}");
    let gpu_layers = (rt.manager().memory_map().layers.iter())
        .filter(|l| l.tier == Tier::Gpu && !l.host_copy)
        .count();
    assert!(gpu_layers > 0, "some layers live on the GPU only");

    rt.lose_device();
    let info_id = rt.manager().memory_map().layers[0].model.get();
    let case = &reference::cases()[0];
    let report = block_on(rt.embed(info_id, std::slice::from_ref(&case.text))).expect("embed");
    assert!(report.device_replaced);
    assert_close(case, &report.vectors[0]);
    assert_eq!(rt.system_stats().books.host_retained_bytes, 0);
}
