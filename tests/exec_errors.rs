#![cfg(not(target_arch = "wasm32"))]
//! Every executor error a caller can cause, forced on lavapipe, with the books left true.
//! (`TensorTooLarge` and the lost-device reading are unit tests in `src/exec`; `OutOfMemory`
//! and `DeviceLost` are in `exec_recovery`.)

mod exec_support;

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use exec_support::{BATCH, MODEL, load, load_all, setup, write};
use pollster::block_on;
use webvram::exec::{
    ExecError, HostLayer, LayerSource, LayerWeights, LayeredModel, LocalFuture, SynthMlp,
};
use webvram::manager::{InferenceEstimate, LayerMove, LoadRequest, ModelId, Plan, PlanKind, Tier};
use webvram::policy::{Decision, VramState};

fn high() -> Decision {
    Decision::fixed(VramState::HighVram, 4 * MODEL.bytes(), 0)
}

fn load_plan(manager: &webvram::manager::Manager, id: ModelId) -> Plan {
    manager.load_models_gpu(&LoadRequest::new([id]), 1).unwrap()
}

/// Registers `spec` with a HIGH_VRAM manager, inserts `layers` into an executor on `compute` and
/// applies the load plan, which must fail: the error, and the manager to check the books on.
fn failed_load(
    compute: webvram::exec::Compute,
    spec: webvram::manager::ModelSpec,
    layers: std::collections::BTreeMap<String, HostLayer>,
) -> (ExecError, webvram::manager::Manager) {
    let options = webvram::policy::Options::default();
    let mut manager = webvram::manager::Manager::new(high(), &options);
    let id = manager.register(spec).unwrap();
    let mut exec = webvram::exec::Executor::new(compute);
    exec.insert_model(&manager, id, layers).unwrap();
    let plan = load_plan(&manager, id);
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    (err, manager)
}

#[test]
fn a_layer_with_no_bytes_and_no_source_is_not_in_memory() {
    let url = write(&MODEL, "errors-missing");
    let keep = |name: &str| name != "model.layers.0";
    let (mut manager, mut exec, id) = setup(high(), load(&url, &keep));
    let plan = load_plan(&manager, id);
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert_eq!(
        err,
        ExecError::NotInMemory {
            layer: "model.layers.0".into()
        }
    );
    assert!(err.to_string().contains("LayerSource"), "{err}");
    assert_eq!(manager.gpu_bytes(), 0, "nothing was confirmed");
    assert!(exec.books(&manager).agrees);
}

struct FailingSource;

impl LayerSource for FailingSource {
    fn fetch_layer<'a>(
        &'a self,
        _model: ModelId,
        layer: &'a str,
    ) -> LocalFuture<'a, Result<HostLayer, ExecError>> {
        Box::pin(async move {
            Err(ExecError::Source {
                layer: layer.to_owned(),
                message: "HTTP 503".into(),
            })
        })
    }
}

#[test]
fn a_failing_source_is_reported_with_its_layer() {
    let (mut manager, mut exec, id) = setup(high(), BTreeMap::new());
    exec.set_source(Box::new(FailingSource));
    let plan = load_plan(&manager, id);
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert!(
        matches!(&err, ExecError::Source { layer, .. } if layer == "model.layers.0"),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 503"));
}

#[test]
fn moves_between_cache_and_network_are_refused() {
    let (mut manager, mut exec, id) = setup(high(), BTreeMap::new());
    let mut plan = Plan::empty(PlanKind::Free, 0);
    plan.moves.push(LayerMove {
        model: id,
        layer: 0,
        name: "model.layers.0".into(),
        from: Tier::Cache,
        to: Tier::Remote,
        bytes: MODEL.layer_bytes(),
        keep_host_copy: false,
    });
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::UnsupportedMove {
                from: Tier::Cache,
                to: Tier::Remote,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(manager.layer_state(id, 0).unwrap().tier, Tier::Cache);
}

#[test]
fn a_stale_move_is_skipped_not_applied() {
    let url = write(&MODEL, "errors-stale");
    let (mut manager, mut exec, id) = setup(high(), load_all(&url));
    let plan = load_plan(&manager, id);
    block_on(exec.apply(&mut manager, &plan)).unwrap();
    // The same plan again: every layer is already on the GPU, not where the moves start.
    let report = block_on(exec.apply(&mut manager, &plan)).unwrap();
    assert_eq!(report.uploaded_bytes, 0);
    assert_eq!(report.confirm.not_attempted, MODEL.layers);
    assert!(exec.books(&manager).agrees);
}

#[test]
fn unknown_models_and_mismatched_layers_are_refused() {
    let url = write(&MODEL, "errors-unknown");
    let (mut manager, mut exec, id) = setup(high(), load_all(&url));
    let other = manager
        .register(MODEL.model_spec("not inserted", InferenceEstimate::Fixed(0)))
        .unwrap();
    let plan = load_plan(&manager, other);
    let err = block_on(exec.apply(&mut manager, &plan)).unwrap_err();
    assert_eq!(err, ExecError::UnknownModel { model: other });

    let mut stray = BTreeMap::new();
    stray.insert("decoder.0".to_owned(), HostLayer::new("decoder.0"));
    let err = exec.insert_model(&manager, other, stray).unwrap_err();
    assert!(matches!(err, ExecError::LayerMismatch { .. }), "{err}");

    let shorter = SynthMlp { layers: 3, ..MODEL };
    let input = shorter.input(BATCH, exec.device());
    let err = block_on(exec.forward(id, &shorter, input)).unwrap_err();
    assert!(
        matches!(&err, ExecError::LayerMismatch { runs, .. } if runs.len() == 3),
        "{err}"
    );
}

#[test]
fn wrong_input_and_missing_or_misshapen_tensors_name_what_is_wrong() {
    let url = write(&MODEL, "errors-model");
    let mut layers = load_all(&url);
    layers
        .get_mut("model.layers.2")
        .unwrap()
        .tensors
        .remove("bias");
    let (mut manager, mut exec, id) = setup(high(), layers);
    let plan = load_plan(&manager, id);
    block_on(exec.apply(&mut manager, &plan)).unwrap();

    let narrow = Tensor::<2>::zeros([BATCH, 8], exec.device());
    let err = block_on(exec.forward(id, &MODEL, narrow)).unwrap_err();
    assert!(matches!(err, ExecError::BadInput(_)), "{err}");

    let input = MODEL.input(BATCH, exec.device());
    let err = block_on(exec.forward(id, &MODEL, input)).unwrap_err();
    assert_eq!(
        err,
        ExecError::MissingTensor {
            layer: "model.layers.2".into(),
            tensor: "bias".into()
        }
    );

    let input = MODEL.input(BATCH, exec.device());
    let err = block_on(exec.forward(id, &RankThree, input)).unwrap_err();
    assert!(
        matches!(&err, ExecError::BadShape { actual, .. } if actual == &[256, 256]),
        "{err}"
    );
}

/// A model that asks for the weight with the wrong rank.
struct RankThree;

impl LayeredModel for RankThree {
    type Activation = Tensor<2>;

    fn layer_names(&self) -> Vec<String> {
        MODEL.names()
    }

    fn run_layer(
        &self,
        _index: usize,
        weights: &LayerWeights,
        input: Tensor<2>,
    ) -> Result<Tensor<2>, ExecError> {
        weights.get::<3>("weight")?;
        Ok(input)
    }
}

/// f16 layers need `shader-f16`: burn's CPU backend is refused by layer name, with the books left
/// as they were. (Every GPU adapter in these tests has `shader-f16`; one without it takes the
/// same branch of the upload.)
#[test]
fn f16_layers_on_a_device_without_shader_f16_are_refused_by_name() {
    use webvram::exec::Compute;
    use webvram::weights::ConvertTarget;

    let url = write(&MODEL, "errors-f16");
    let layers = exec_support::load_as(&url, &|_| true, ConvertTarget::F16);
    let spec = MODEL.model_spec_in(
        "f16 on cpu",
        InferenceEstimate::Fixed(0),
        ConvertTarget::F16,
    );
    let cpu = Compute::Cpu(burn::tensor::Device::flex());
    let (err, manager) = failed_load(cpu, spec, layers);
    assert_eq!(
        err,
        ExecError::F16Unsupported {
            layer: "model.layers.0".into()
        }
    );
    assert_eq!(err.code(), "UNSUPPORTED");
    assert!(err.to_string().contains("weightDtype"), "{err}");
    assert_eq!(manager.gpu_bytes(), 0, "nothing was confirmed");
}

/// A tensor that cannot be split into rows within the device's binding limit (here a rank-1
/// bias of 1 KiB on a device capped at 1000 bytes, enforced by wgpu) is refused by name before
/// any upload, with the books left as they were.
#[test]
fn a_tensor_that_no_row_split_fits_in_one_binding_is_refused_by_name() {
    let gpu = exec_support::gpu_capped(Some(1000));
    assert_eq!(gpu.limits().max_storage_buffer_binding_size, 1000);
    let url = write(&MODEL, "errors-binding");
    let layers = exec_support::load(&url, &|_| true);
    let spec = MODEL.model_spec("binding", InferenceEstimate::Fixed(0));
    let (err, manager) = failed_load(webvram::exec::Compute::Gpu(gpu), spec, layers);
    assert_eq!(
        err,
        ExecError::TensorTooLarge {
            layer: "model.layers.0".into(),
            tensor: "bias".into(),
            bytes: 1024,
            limit: 1000,
        }
    );
    assert_eq!(err.code(), "UNSUPPORTED");
    assert_eq!(manager.gpu_bytes(), 0, "nothing was confirmed");
}
