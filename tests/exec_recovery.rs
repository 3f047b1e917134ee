#![cfg(not(target_arch = "wasm32"))]
//! Out of memory and device loss on lavapipe. lavapipe allocates from system RAM and never runs
//! out, so out-of-memory is forced with the executor's simulated capacity (a device smaller than
//! the budget); tests that rely on it say `simulated` in their names. Device loss is real:
//! `wgpu::Device::destroy`.

mod exec_support;

use std::sync::atomic::Ordering;

use exec_support::{
    BATCH, CheckpointSource, MODEL, destroy, gpu, load_all, relative_error_f32, setup, setup_model,
    write,
};
use pollster::block_on;
use webvram::exec::{ExecError, Executor, SynthMlp};
use webvram::manager::{LoadRequest, Manager, ManagerError, ModelId};
use webvram::policy::{Decision, VramState};

const MIB: u64 = 1 << 20;
const RESERVE: u64 = MIB;

/// Loads the test model, runs it and reads the output back.
fn run(manager: &mut Manager, exec: &mut Executor, id: ModelId) -> Result<Vec<f32>, ExecError> {
    run_model(&MODEL, manager, exec, id)
}

/// [`run`] for another model.
fn run_model(
    model: &SynthMlp,
    manager: &mut Manager,
    exec: &mut Executor,
    id: ModelId,
) -> Result<Vec<f32>, ExecError> {
    let request = LoadRequest::new([id]);
    let input = |device: &_| Ok(model.input(BATCH, device));
    let ran = block_on(exec.load_and_run(manager, id, model, &request, input, 5))?;
    block_on(exec.read(ran.output))
}

fn layers(n: u64) -> u64 {
    n * MODEL.layer_bytes()
}

/// 20 layers of 4 MiB: budgets above the policy's 64 MiB step-down floor (a smaller budget
/// keeps its size after an out-of-memory event; only its state steps down).
const BIG: SynthMlp = SynthMlp {
    layers: 20,
    width: 1024,
    seed: 13,
};

#[test]
fn simulated_oom_steps_down_and_the_retry_gives_the_resident_output() {
    let url = write(&BIG, "oom");
    let big_layers = |n: u64| n * BIG.layer_bytes();
    let expected = {
        let decision = Decision::fixed(VramState::HighVram, 2 * BIG.bytes() + RESERVE, RESERVE);
        let (mut manager, mut exec, id) = setup_model(&BIG, decision, load_all(&url));
        run_model(&BIG, &mut manager, &mut exec, id).expect("resident run")
    };
    // The budget says the whole model fits; the device holds 19 layers.
    let budget = BIG.bytes() * 11 / 10 + RESERVE;
    let decision = Decision::fixed(VramState::NormalVram, budget, RESERVE);
    let (mut manager, mut exec, id) = setup_model(&BIG, decision, load_all(&url));
    exec.set_simulated_capacity(Some(big_layers(19) + big_layers(1) / 2));

    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert!(
        matches!(&err, ExecError::OutOfMemory { layer, simulated: true, .. } if layer == "model.layers.19"),
        "{err}"
    );
    assert_eq!(
        manager.gpu_bytes(),
        big_layers(19),
        "the books keep what was uploaded"
    );
    assert!(exec.books(&manager).agrees);

    let input = |device: &_| Ok(BIG.input(BATCH, device));
    let request = LoadRequest::new([id]);
    let ran = block_on(exec.load_and_run(&mut manager, id, &BIG, &request, input, 2)).unwrap();
    let learned = ran.oom.expect("one out-of-memory event");
    assert_eq!((learned.state, learned.oom_count), (VramState::LowVram, 1));
    assert_eq!(learned.budget_bytes, budget * 3 / 4);
    assert_eq!(manager.decision().state, VramState::LowVram);
    assert_eq!(
        manager.gpu_bytes(),
        big_layers(16),
        "75% of the budget, less the reserve"
    );
    assert_eq!(ran.stats.streamed_layers, 4);
    let values = block_on(exec.read(ran.output)).unwrap();
    let error = relative_error_f32(&values, &expected);
    println!("after the OOM step-down: {error:e} relative to the resident run");
    assert!(error <= 1e-6);
    assert!(exec.books(&manager).agrees);
}

/// A device that holds one layer and a half cannot stream with prefetch: after the first
/// out-of-memory event the budget is capped by what it held (one layer) less the prefetched
/// layer, so the retry is refused by the manager, saying what it would need, instead of failing
/// on the device again.
#[test]
fn a_device_that_cannot_stream_two_layers_is_refused_after_one_step_down() {
    let url = write(&MODEL, "oom-twice");
    let decision = Decision::fixed(VramState::NormalVram, MODEL.bytes() + RESERVE, RESERVE);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    exec.set_simulated_capacity(Some(layers(3) / 2));
    let err = run(&mut manager, &mut exec, id).unwrap_err();
    assert!(
        matches!(err, ExecError::Manager(ManagerError::DoesNotFit { .. })),
        "{err}"
    );
    assert_eq!(err.code(), "OOM");
    assert_eq!(manager.decision().oom_count, 1, "one step-down, one retry");
    assert_eq!(manager.decision().budget_bytes, 0);
    let reason = manager.decision().reasons.last().unwrap();
    assert!(
        reason.value.contains("held when the device refused more"),
        "{reason:?}"
    );
    assert_eq!(manager.gpu_bytes(), 0);
    assert!(exec.books(&manager).agrees);
}

#[test]
fn a_budget_that_cannot_stream_one_layer_is_a_manager_error() {
    let url = write(&MODEL, "too-small");
    let decision = Decision::fixed(VramState::LowVram, MODEL.layer_bytes() / 2, 0);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    let err = run(&mut manager, &mut exec, id).unwrap_err();
    assert!(
        matches!(err, ExecError::Manager(ManagerError::DoesNotFit { .. })),
        "{err}"
    );
}

#[test]
fn device_loss_is_detected_and_a_new_device_gets_every_resident_layer_back() {
    let url = write(&MODEL, "lost");
    let decision = Decision::fixed(VramState::NormalVram, MODEL.bytes() / 2 + RESERVE, RESERVE);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    let before = run(&mut manager, &mut exec, id).unwrap();
    assert_eq!(manager.gpu_bytes(), layers(9));

    destroy(exec.gpu().expect("a GPU"));
    let input = MODEL.input(BATCH, exec.device());
    let (output, _) = block_on(exec.forward(id, &MODEL, input)).unwrap();
    let err = block_on(exec.read(output)).unwrap_err();
    assert!(matches!(err, ExecError::DeviceLost { .. }), "{err}");
    assert!(exec.device_lost().is_some());
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 3).unwrap();
    let refused = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert!(matches!(refused, ExecError::DeviceLost { .. }), "{refused}");

    let report = block_on(exec.replace_device(gpu(), &mut manager));
    assert_eq!(
        (report.restored_layers, report.restored_bytes),
        (9, layers(9))
    );
    assert_eq!((report.failure, report.released), (None, None));
    assert_eq!(exec.device_lost(), None);
    assert!(exec.books(&manager).agrees, "{:?}", exec.books(&manager));
    let after = run(&mut manager, &mut exec, id).unwrap();
    assert!(relative_error_f32(&after, &before) <= 1e-6);
    assert_eq!(after, before);
}

#[test]
fn device_loss_under_unified_memory_restores_through_the_layer_source() {
    let url = write(&MODEL, "lost-shared");
    let decision = Decision::fixed(VramState::Shared, 2 * MODEL.bytes() + RESERVE, RESERVE);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    let (source, fetched) = CheckpointSource::new(&url);
    exec.set_source(Box::new(source));
    let before = run(&mut manager, &mut exec, id).unwrap();
    assert_eq!(exec.host_bytes(), 0, "no second copy of resident layers");

    destroy(exec.gpu().expect("a GPU"));
    let report = block_on(exec.replace_device(gpu(), &mut manager));
    assert_eq!(report.restored_layers, MODEL.layers);
    assert_eq!(report.fetched_bytes, MODEL.bytes());
    assert_eq!(fetched.load(Ordering::Relaxed), MODEL.bytes());
    assert_eq!(exec.host_bytes(), 0, "fetched copies are not kept");
    let after = run(&mut manager, &mut exec, id).unwrap();
    assert!(relative_error_f32(&after, &before) <= 1e-6);
}

#[test]
fn device_loss_onto_a_smaller_device_releases_what_does_not_fit_simulated() {
    let url = write(&MODEL, "lost-smaller");
    let decision = Decision::fixed(VramState::HighVram, 2 * MODEL.bytes() + RESERVE, RESERVE);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    let before = run(&mut manager, &mut exec, id).unwrap();

    destroy(exec.gpu().expect("a GPU"));
    exec.set_simulated_capacity(Some(layers(25) / 2));
    let report = block_on(exec.replace_device(gpu(), &mut manager));
    assert_eq!(report.restored_layers, 12);
    assert!(matches!(
        report.failure,
        Some(ExecError::OutOfMemory {
            simulated: true,
            ..
        })
    ));
    let released = report.released.expect("the rest is released in the books");
    assert_eq!(released.applied, 8);
    assert_eq!(manager.gpu_bytes(), layers(12));
    assert!(exec.books(&manager).agrees);

    exec.set_simulated_capacity(None);
    let input = MODEL.input(BATCH, exec.device());
    let (output, stats) = block_on(exec.forward(id, &MODEL, input)).unwrap();
    assert_eq!(stats.uploaded_bytes, layers(8));
    let after = block_on(exec.read(output)).unwrap();
    assert!(relative_error_f32(&after, &before) <= 1e-6);
}

/// On unified memory a layer's wasm copy goes to the device by value (no second copy for burn).
/// An upload refused before it starts hands the copy back: nothing is lost or fetched again.
#[test]
fn a_refused_upload_keeps_the_copy_it_was_handed_simulated() {
    let url = write(&MODEL, "refused-shared");
    let decision = Decision::fixed(VramState::Shared, 2 * MODEL.bytes() + RESERVE, RESERVE);
    let (mut manager, mut exec, id) = setup(decision, load_all(&url));
    // The executor holds every layer in wasm memory: the books say so too (with a source set,
    // the host books must equal what is held).
    let arrived = manager.loaded_into_host(id, 0).unwrap();
    manager.confirm_all(&arrived);
    let (source, fetched) = CheckpointSource::new(&url);
    exec.set_source(Box::new(source));
    exec.set_simulated_capacity(Some(layers(5) + layers(1) / 2));
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::OutOfMemory {
                simulated: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(exec.gpu_bytes(), layers(5));
    assert_eq!(
        exec.host_bytes(),
        layers(MODEL.layers as u64 - 5),
        "the five uploaded layers left no wasm copy; the refused one kept its own"
    );
    assert_eq!(
        fetched.load(Ordering::Relaxed),
        0,
        "nothing was fetched back"
    );
    assert!(exec.books(&manager).agrees);
}
