#![cfg(not(target_arch = "wasm32"))]
//! The executor on lavapipe: one input gives the same output in every VRAM state, the bytes
//! streamed per call are exactly the non-resident ones, the streamed peak stays at its bound,
//! the books agree with burn's pool after every plan, and nothing leaks.

mod exec_support;

use exec_support::{
    BATCH, CheckpointSource, MODEL, gpu, load_all, load_as, relative_error, relative_error_f32,
    setup, write,
};
use pollster::block_on;
use webvram::exec::{BooksCheck, Executor, ForwardStats, NonResident, SynthMlp};
use webvram::manager::{InferenceEstimate, LoadRequest, Manager, Tier};
use webvram::policy::{Decision, Options, VramState};
use webvram::weights::ConvertTarget;

const MIB: u64 = 1 << 20;

/// Room kept free inside each budget (ComfyUI's reserve): activations and streamed layers.
const RESERVE: u64 = MIB;

/// What one layer may add to the pool beyond weights while it runs: its input, its output and
/// temporaries, allowed 16 `[batch, width]` f32 tensors (64 KiB). Measured on lavapipe: 4.2 KiB
/// (the matmul reads the transposed weight in place, no copy).
const ACTIVATION_ALLOWANCE: u64 = 16 * (BATCH * 256 * 4) as u64;

/// What a run in one state produced.
struct Outcome {
    output: Vec<f32>,
    stats: ForwardStats,
    resident_bytes: u64,
    after_load: BooksCheck,
}

/// Loads the test model under `decision`, runs it once, checks the per-call invariants, then
/// unloads it and checks that the pool is back where it started.
fn run_in(label: &str, decision: Decision, url: &str, with_source: bool) -> Outcome {
    let (mut manager, mut exec, id) = setup(decision, load_all(url));
    if with_source {
        exec.set_source(Box::new(CheckpointSource::new(url).0));
    }
    let baseline = exec.books(&manager).pool_in_use_bytes;
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
    block_on(exec.apply(&mut manager, &plan)).unwrap();
    let after_load = exec.books(&manager);
    assert!(
        after_load.agrees,
        "{label}: books after load {after_load:?}"
    );

    let input = MODEL.input(BATCH, exec.device());
    let (output, stats) = block_on(exec.forward(id, &MODEL, input)).unwrap();
    let output = block_on(exec.read(output)).unwrap();
    let resident_bytes = manager.gpu_bytes();
    check_stats(label, &stats, resident_bytes);

    let plan = manager.unload_all();
    let report = block_on(exec.apply(&mut manager, &plan)).unwrap();
    assert!(report.cleaned_up || resident_bytes == 0, "{label}");
    let after_unload = exec.books(&manager);
    assert!(
        after_unload.agrees,
        "{label}: books after unload {after_unload:?}"
    );
    assert_eq!(manager.gpu_bytes(), 0, "{label}");
    let leaked = after_unload.pool_in_use_bytes.saturating_sub(baseline);
    assert!(
        leaked <= 4096,
        "{label}: {leaked} bytes still in use after unload"
    );
    println!(
        "{label:>12}: resident {:>2}/{} layers, streamed {:>2}, uploaded {:>8} B, peak streamed {:>7} B \
         (bound {:>7}), pool peak {:>8} B (before {:>8}), books gap {:>4} B, pool after unload +{leaked} B",
        resident_bytes / MODEL.layer_bytes(),
        MODEL.layers,
        stats.streamed_layers,
        stats.uploaded_bytes,
        stats.peak_streamed_bytes,
        stats.streamed_bound_bytes,
        stats.peak_pool_in_use,
        stats.pool_in_use_before,
        after_load.gap_bytes(),
    );
    Outcome {
        output,
        stats,
        resident_bytes,
        after_load,
    }
}

/// The per-call invariants: uploads are the non-resident bytes (±1%), the streamed peak is its
/// bound and at most two layers, and the pool peak is within resident + bound + activations.
fn check_stats(label: &str, stats: &ForwardStats, resident_bytes: u64) {
    assert_eq!(stats.layers, MODEL.layers, "{label}");
    assert_eq!(stats.resident_bytes, resident_bytes, "{label}");
    let non_resident = MODEL.bytes() - resident_bytes;
    let off = stats.uploaded_bytes.abs_diff(non_resident);
    assert!(off * 100 <= non_resident, "{label}: uploaded {stats:?}");
    assert_eq!(
        stats.uploaded_bytes, non_resident,
        "{label}: exactly, in fact"
    );
    assert_eq!(
        stats.peak_streamed_bytes, stats.streamed_bound_bytes,
        "{label}"
    );
    assert!(
        stats.streamed_bound_bytes <= 2 * MODEL.layer_bytes(),
        "{label}"
    );
    let bound = stats.pool_in_use_before + stats.streamed_bound_bytes + ACTIVATION_ALLOWANCE;
    assert!(
        stats.peak_pool_in_use <= bound,
        "{label}: pool peak {} > {bound} ({stats:?})",
        stats.peak_pool_in_use
    );
}

/// A budget of `percent` of the weights plus the reserve.
fn budget(state: VramState, percent: u64) -> Decision {
    Decision::fixed(state, MODEL.bytes() * percent / 100 + RESERVE, RESERVE)
}

#[test]
fn one_input_gives_the_same_output_in_every_state() {
    let url = write(&MODEL, "states");
    let high = run_in("HIGH", budget(VramState::HighVram, 200), &url, false);
    assert_eq!(high.resident_bytes, MODEL.bytes());
    assert_eq!(high.stats.streamed_layers, 0);

    // The GPU against the f64 CPU reference: f32 accumulation over 256 terms and the device's
    // tanh differ from f64 by ~1e-7 relative; 1e-5 leaves margin without hiding a wrong layer.
    let reference = MODEL.reference(&MODEL.input_values(BATCH), BATCH);
    let cpu_error = relative_error(&high.output, &reference);
    println!("HIGH vs f64 CPU reference: {cpu_error:.3e} relative");
    assert!(cpu_error <= 1e-5, "{cpu_error}");

    let cases = [
        ("NORMAL 50%", budget(VramState::NormalVram, 50), false, 9),
        ("NORMAL 10%", budget(VramState::NormalVram, 10), false, 1),
        ("LOW 50%", budget(VramState::LowVram, 50), false, 9),
        ("LOW 10%", budget(VramState::LowVram, 10), false, 1),
        ("NO_VRAM", budget(VramState::NoVram, 100), false, 0),
        ("SHARED", budget(VramState::Shared, 200), true, 20),
        ("SHARED 50%", budget(VramState::Shared, 50), true, 9),
    ];
    for (label, decision, with_source, resident_layers) in cases {
        let run = run_in(label, decision, &url, with_source);
        assert_eq!(
            run.resident_bytes,
            resident_layers * MODEL.layer_bytes(),
            "{label}"
        );
        // Against the fully resident run: the same kernels on the same weights.
        let error = relative_error_f32(&run.output, &high.output);
        assert!(error <= 1e-6, "{label}: {error:e} relative to HIGH");
        assert_eq!(run.output, high.output, "{label}: bit for bit, in fact");
    }
}

/// Held in f16 (lavapipe has `shader-f16`), the synthetic weights are exact (multiples of 1/256),
/// so the f64 reference holds as tightly as in f32; the books, the pool and the uploads count
/// half the bytes, and every state gives the same output.
#[test]
fn f16_weights_match_the_reference_at_half_the_bytes_in_every_state() {
    let f16 = ConvertTarget::F16;
    let url = write(&MODEL, "f16");
    let (model_bytes, layer_bytes) = (MODEL.bytes() / 2, MODEL.layer_bytes_in(f16));
    let reference = MODEL.reference(&MODEL.input_values(BATCH), BATCH);
    let mut high: Option<Vec<f32>> = None;
    for (label, state, percent) in [
        ("f16 HIGH", VramState::HighVram, 200),
        ("f16 LOW 50%", VramState::LowVram, 50),
        ("f16 NO_VRAM", VramState::NoVram, 100),
    ] {
        let decision = Decision::fixed(state, model_bytes * percent / 100 + RESERVE, RESERVE);
        let mut manager = Manager::new(decision, &Options::default());
        let spec = MODEL.model_spec_in("synth-f16", InferenceEstimate::Fixed(0), f16);
        let id = manager.register(spec).unwrap();
        let mut exec = Executor::new(gpu());
        let layers = load_as(&url, &|_| true, f16);
        assert_eq!(layers.values().map(|l| l.bytes()).sum::<u64>(), model_bytes);
        exec.insert_model(&manager, id, layers).unwrap();
        let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
        block_on(exec.apply(&mut manager, &plan)).unwrap();
        let books = exec.books(&manager);
        assert!(books.agrees, "{label}: {books:?}");
        let resident = manager.gpu_bytes();
        assert_eq!(resident % layer_bytes, 0, "{label}");
        match state {
            VramState::HighVram => assert_eq!(resident, model_bytes, "{label}"),
            VramState::NoVram => assert_eq!(resident, 0, "{label}"),
            _ => assert!(
                resident > 0 && resident < model_bytes,
                "{label}: {resident}"
            ),
        }

        let input = MODEL.input(BATCH, exec.device());
        let (output, stats) = block_on(exec.forward(id, &MODEL, input)).unwrap();
        assert_eq!(stats.uploaded_bytes, model_bytes - resident, "{label}");
        // The bound of the f32 runs plus the f32 copy a running layer is widened into.
        let widened = MODEL.layer_bytes();
        let bound =
            stats.pool_in_use_before + stats.streamed_bound_bytes + widened + ACTIVATION_ALLOWANCE;
        println!(
            "{label}: pool peak {} B, bound {bound} B (before {}, streamed {}, widened {widened})",
            stats.peak_pool_in_use, stats.pool_in_use_before, stats.streamed_bound_bytes
        );
        assert!(stats.peak_pool_in_use <= bound, "{label}: {stats:?}");
        let output = block_on(exec.read(output)).unwrap();
        let error = relative_error(&output, &reference);
        println!("{label}: {error:.3e} relative to the f64 reference");
        assert!(error <= 1e-5, "{label}: {error}");
        match &high {
            None => high = Some(output),
            Some(high) => assert_eq!(&output, high, "{label}: bit for bit with HIGH"),
        }
    }
}

#[test]
fn unified_memory_keeps_no_second_copy_when_a_source_can_bring_it_back() {
    let url = write(&MODEL, "shared");
    let with = run_in("SHARED+src", budget(VramState::Shared, 200), &url, true);
    assert_eq!(with.after_load.booked_host_bytes, 0);
    assert_eq!(with.after_load.held_host_bytes, 0);
    let without = run_in("SHARED", budget(VramState::Shared, 200), &url, false);
    assert_eq!(without.after_load.host_retained_bytes, MODEL.bytes());
    // A discrete GPU keeps its host copies (the books count them): nothing retained.
    let discrete = run_in("NORMAL+src", budget(VramState::NormalVram, 50), &url, true);
    assert_eq!(discrete.after_load.host_retained_bytes, 0);
    assert_eq!(discrete.after_load.held_host_bytes, MODEL.bytes());
}

#[test]
fn books_agree_after_every_plan_and_unloading_leaks_nothing() {
    let second = SynthMlp {
        layers: 10,
        width: 256,
        seed: 12,
    };
    let (url_a, url_b) = (write(&MODEL, "books-a"), write(&second, "books-b"));
    // Room for the first model and half the second: loading the second unloads part of the first.
    let total = MODEL.bytes() + second.bytes() / 2 + RESERVE;
    let decision = Decision::fixed(VramState::NormalVram, total, RESERVE);
    let (mut manager, mut exec, a) = setup(decision, load_all(&url_a));
    let b = manager
        .register(second.model_spec("second", InferenceEstimate::Fixed(0)))
        .unwrap();
    exec.insert_model(&manager, b, load_all(&url_b)).unwrap();
    let baseline = exec.books(&manager).pool_in_use_bytes;

    let apply = |manager: &mut Manager, exec: &mut Executor, plan, what: &str| {
        block_on(exec.apply(manager, &plan)).unwrap();
        let books = exec.books(manager);
        assert!(books.agrees, "after {what}: {books:?}");
        println!(
            "after {what:<22} booked {:>8} B, pool {:>8} B",
            books.booked_gpu_bytes, books.pool_in_use_bytes
        );
    };
    let load = |manager: &Manager, id| manager.load_models_gpu(&LoadRequest::new([id]), 2).unwrap();
    let plan = load(&manager, a);
    apply(&mut manager, &mut exec, plan, "load A");
    let a_before = manager.gpu_bytes();
    let plan = load(&manager, b);
    apply(&mut manager, &mut exec, plan, "load B");
    assert!(manager.memory_map().models[0].tier_bytes[Tier::Gpu as usize] < a_before);

    for (id, model) in [(a, &MODEL), (b, &second)] {
        let input = model.input(BATCH, exec.device());
        let (out, stats) = block_on(exec.forward(id, model, input)).unwrap();
        let values = block_on(exec.read(out)).unwrap();
        let reference = model.reference(&model.input_values(BATCH), BATCH);
        assert!(relative_error(&values, &reference) <= 1e-5);
        assert_eq!(stats.peak_streamed_bytes, stats.streamed_bound_bytes);
    }
    let books = exec.books(&manager);
    assert!(books.agrees, "after running both: {books:?}");

    let plan = manager.free_memory(total, &[]).unwrap();
    apply(&mut manager, &mut exec, plan, "free_memory(all)");
    let plan = manager.unload_all();
    apply(&mut manager, &mut exec, plan, "unload_all");
    exec.remove_model(a);
    exec.remove_model(b);
    let end = exec.device().memory_pool_usage().unwrap();
    assert!(end.bytes_in_use <= baseline + 4096, "{end:?} vs {baseline}");
    println!("pool at the end: {end:?} (baseline in use {baseline})");
}

/// The loop `bench/residency.mjs` runs in the browser, here on lavapipe: it loads, uploads and
/// times, and what it reports is what the executor did.
#[test]
fn the_residency_benchmark_reports_uploads_equal_to_the_non_resident_bytes() {
    use webvram::bench;
    use webvram::fetch::FileSource;

    let url = write(&MODEL, "bench");
    let (layers, file_bytes, _) =
        block_on(bench::load_layers(&FileSource::new(), &url, &MODEL)).unwrap();
    assert!(file_bytes > MODEL.bytes(), "headers come on top");
    let mut exec = Executor::new(exec_support::gpu());
    let (layers, _) = block_on(bench::upload_all(&mut exec, &MODEL, layers)).unwrap();
    assert_eq!(layers.len(), MODEL.layers, "the wasm copies come back");
    assert_eq!(exec.gpu_bytes(), 0);

    let fractions = [1.0, 0.5, 0.25, 0.0];
    let runs = block_on(bench::residency(
        &mut exec, &MODEL, layers, &fractions, BATCH, 2,
    ))
    .unwrap();
    let states: Vec<&str> = runs.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["HIGH_VRAM", "LOW_VRAM", "LOW_VRAM", "NO_VRAM"]);
    assert_eq!(runs[0].non_resident_bytes, 0);
    assert_eq!(runs[3].resident_bytes, 0);
    for run in &runs {
        assert_eq!(run.uploaded_bytes, run.non_resident_bytes, "{run:?}");
        assert_eq!(run.forward_ms.len(), 2);
        assert!(run.max_relative_diff <= 1e-6, "{run:?}");
    }
    assert!(runs[1].resident_bytes > runs[2].resident_bytes);
    assert_eq!(exec.gpu_bytes(), 0, "every budget unloads after itself");
}

/// A model placed while it loads: registered and planned from its headers, each layer uploaded
/// as soon as its bytes are in (`Executor::apply_streaming`). The result is the one a load
/// followed by `apply` gives: the same resident bytes, books that agree, the same output.
#[test]
fn layers_placed_as_they_stream_in_match_a_load_then_apply() {
    use webvram::exec::{HostSink, arrivals, expected_tensors};
    use webvram::fetch::{FileSource, LoadOptions, open_model};

    let url = write(&MODEL, "streaming");
    let high = run_in("HIGH", budget(VramState::HighVram, 200), &url, false);
    for (label, percent, state) in [
        ("streamed HIGH", 200, VramState::HighVram),
        ("streamed LOW 50%", 50, VramState::LowVram),
    ] {
        let (mut manager, mut exec, id) = setup(budget(state, percent), Default::default());
        let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
        let (source, options) = (FileSource::new(), LoadOptions::default());
        let opened = block_on(open_model(&source, &url, &options)).unwrap();
        let layer_of = SynthMlp::layer_of;
        let expected = expected_tensors(opened.headers().map(|(_, header)| header), &layer_of);
        assert_eq!(expected.len(), MODEL.layers, "{label}");
        assert!(
            expected.values().all(|&n| n == 2),
            "{label}: weight and bias"
        );
        let (sender, mut arrivals) = arrivals();
        let sink = HostSink::new(&layer_of).handing_over(expected, sender);
        let load = async {
            let mut sink = sink;
            let loaded = opened.stream(&source, &mut sink, &options, |_| {}).await;
            (loaded, sink.into_layers())
        };
        let place = exec.apply_streaming(&mut manager, &plan, id, &mut arrivals);
        let ((loaded, kept), placed) = block_on(futures_util::future::join(load, place));
        loaded.unwrap();
        assert!(kept.is_empty(), "{label}: every layer was handed over");
        let report = placed.unwrap();
        assert_eq!(report.uploaded_bytes, manager.gpu_bytes(), "{label}");
        // The layers the plan left off the device arrived in wasm memory: the books say so.
        let arrived = manager.loaded_into_host(id, 2).unwrap();
        manager.confirm_all(&arrived);
        let books = exec.books(&manager);
        assert!(books.agrees, "{label}: {books:?}");
        assert_eq!(books.host_retained_bytes, 0, "{label}: {books:?}");
        let resident = manager.gpu_bytes();
        match state {
            VramState::HighVram => assert_eq!(resident, MODEL.bytes(), "{label}"),
            _ => assert!(
                resident > 0 && resident < MODEL.bytes(),
                "{label}: {resident}"
            ),
        }
        let input = MODEL.input(BATCH, exec.device());
        let (output, stats) = block_on(exec.forward(id, &MODEL, input)).unwrap();
        assert_eq!(stats.uploaded_bytes, MODEL.bytes() - resident, "{label}");
        let output = block_on(exec.read(output)).unwrap();
        assert_eq!(
            output, high.output,
            "{label}: bit for bit with a load then apply"
        );
    }
}

/// A layer the model does not have, arriving mid-stream, is refused by name; the plan's other
/// layers are still placed and the books stay true.
#[test]
fn a_stray_arriving_layer_is_refused_by_name() {
    use webvram::exec::{HostLayer, arrivals};

    let url = write(&MODEL, "stray");
    let (mut manager, mut exec, id) = setup(budget(VramState::HighVram, 200), Default::default());
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
    let (sender, mut arrivals) = arrivals();
    sender.send(HostLayer::new("model.layers.99"));
    for (_, layer) in load_all(&url) {
        sender.send(layer);
    }
    drop(sender);
    let err = block_on(exec.apply_streaming(&mut manager, &plan, id, &mut arrivals)).unwrap_err();
    assert!(
        matches!(&err, webvram::exec::ExecError::LayerMismatch { inserted, .. }
            if inserted == &["model.layers.99".to_owned()]),
        "{err}"
    );
    assert_eq!(manager.gpu_bytes(), MODEL.bytes());
    assert!(exec.books(&manager).agrees);
}

/// llama.cpp's `-ngl` split: with [`NonResident::OnCpu`] the layers the GPU does not hold run on
/// burn's CPU backend over their wasm bytes, with the activation moved across. Same output as
/// uploading them (f32 on both; the CPU's summation order differs, within 1e-5 relative to
/// the f64 reference), nothing uploaded, no GPU memory beyond the resident layers.
#[test]
fn non_resident_layers_computed_on_the_cpu_give_the_same_output_without_uploads() {
    let url = write(&MODEL, "split");
    let reference = MODEL.reference(&MODEL.input_values(BATCH), BATCH);
    for (label, decision) in [
        ("LOW 50%", budget(VramState::LowVram, 50)),
        ("NO_VRAM", budget(VramState::NoVram, 100)),
        ("HIGH", budget(VramState::HighVram, 200)),
    ] {
        let (mut manager, mut exec, id) = setup(decision, load_all(&url));
        let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
        block_on(exec.apply(&mut manager, &plan)).unwrap();
        let resident = (manager.gpu_bytes() / MODEL.layer_bytes()) as usize;
        let run = |split| {
            let input = MODEL.input(BATCH, exec.device());
            let (output, stats) = block_on(exec.forward_split(id, &MODEL, input, split)).unwrap();
            (block_on(exec.read(output)).unwrap(), stats)
        };
        let (uploaded, _) = run(NonResident::Upload);
        let (split, stats) = run(NonResident::OnCpu);
        let off_gpu = MODEL.layers - resident;
        assert_eq!(stats.cpu_layers, off_gpu, "{label}: {stats:?}");
        assert_eq!(
            (stats.streamed_layers, stats.uploaded_bytes),
            (0, 0),
            "{label}"
        );
        assert_eq!(stats.peak_streamed_bytes, 0, "{label}");
        // A move wherever the device changes; none when every layer is resident.
        assert_eq!(stats.device_moves > 0, off_gpu > 0, "{label}: {stats:?}");
        assert!(stats.device_moves <= 2 * off_gpu, "{label}: {stats:?}");
        let error = relative_error(&split, &reference);
        println!("{label}: {off_gpu} layers on the CPU, {error:.3e} relative to the f64 reference");
        assert!(error <= 1e-5, "{label}: {error}");
        assert!(relative_error_f32(&split, &uploaded) <= 1e-5, "{label}");
        let books = exec.books(&manager);
        assert!(books.agrees, "{label}: {books:?}");
    }
}

/// With a layer source and no wasm copies, each streamed layer after the first two is read one
/// layer early (while the layer two before it computes) when the room allows a layer, and never
/// when it does not; every layer is still read exactly once and the output is bit for bit the
/// same.
#[test]
fn the_streamed_layer_after_the_next_is_read_ahead_only_where_the_room_allows() {
    let url = write(&MODEL, "read-ahead");
    let run = |room: u64| {
        // NO_VRAM, no host budget and no layer in wasm memory: every layer comes back through
        // the source per call.
        let mut decision = budget(VramState::NoVram, 100);
        decision.host_budget_bytes = 0;
        let (mut manager, mut exec, id) = setup(decision, Default::default());
        let (source, fetched) = CheckpointSource::new(&url);
        exec.set_source(Box::new(source));
        let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
        block_on(exec.apply(&mut manager, &plan)).unwrap();
        let books = exec.books(&manager);
        assert!(books.agrees && books.held_host_bytes == 0, "{books:?}");
        exec.set_read_ahead_room(room);
        let input = MODEL.input(BATCH, exec.device());
        let (output, stats) = block_on(exec.forward(id, &MODEL, input)).unwrap();
        let output = block_on(exec.read(output)).unwrap();
        let fetched = fetched.load(std::sync::atomic::Ordering::Relaxed);
        (output, stats, fetched)
    };
    let (plain, plain_stats, plain_fetched) = run(0);
    assert_eq!(plain_stats.streamed_layers, MODEL.layers);
    assert_eq!(plain_stats.read_ahead_layers, 0);
    assert_eq!(plain_stats.peak_read_ahead_bytes, 0);

    let (ahead, stats, fetched) = run(MODEL.layer_bytes());
    assert_eq!(stats.read_ahead_layers, MODEL.layers - 2, "{stats:?}");
    assert_eq!(stats.peak_read_ahead_bytes, MODEL.layer_bytes());
    assert_eq!(fetched, plain_fetched, "each layer read once");
    assert_eq!(fetched, MODEL.bytes());
    assert_eq!(stats.fetched_bytes, plain_stats.fetched_bytes);
    // The device still holds at most two streamed layers: the read-ahead waits in memory.
    assert_eq!(stats.peak_streamed_bytes, plain_stats.peak_streamed_bytes);
    assert_eq!(ahead, plain, "bit for bit");

    let (_, short, _) = run(MODEL.layer_bytes() - 1);
    assert_eq!(
        short.read_ahead_layers, 0,
        "a layer larger than the room is not read ahead"
    );

    // Through `load_and_run`, the room is the manager's host budget: one layer's worth holds
    // layer 0 in wasm memory and lets each later layer but the first be read ahead; none
    // without a host budget.
    let through_the_manager = |host_budget: u64| {
        let mut decision = budget(VramState::NoVram, 100);
        decision.host_budget_bytes = host_budget;
        let (mut manager, mut exec, id) = setup(decision, Default::default());
        exec.set_source(Box::new(CheckpointSource::new(&url).0));
        let input = |device: &_| Ok(MODEL.input(BATCH, device));
        let request = LoadRequest::new([id]);
        let ran = block_on(exec.load_and_run(&mut manager, id, &MODEL, &request, input, 1));
        let ran = ran.unwrap();
        assert!(exec.books(&manager).agrees);
        (block_on(exec.read(ran.output)).unwrap(), ran.stats)
    };
    let (output, stats) = through_the_manager(MODEL.layer_bytes());
    assert_eq!(stats.fetched_bytes, MODEL.bytes() - MODEL.layer_bytes());
    assert_eq!(stats.read_ahead_layers, MODEL.layers - 2, "{stats:?}");
    assert_eq!(output, plain);
    let (output, stats) = through_the_manager(0);
    assert_eq!(stats.read_ahead_layers, 0, "{stats:?}");
    assert_eq!(output, plain);
}
