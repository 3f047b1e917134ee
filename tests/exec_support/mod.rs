//! Shared helpers for the executor tests: a synthetic checkpoint on disk, loaded the way the
//! runtime loads one, a layer source over it, a device, and output comparison.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use webvram::device::GpuContext;
use webvram::exec::{ExecError, Executor, HostLayer, HostSink, LayerSource, LocalFuture, SynthMlp};
use webvram::fetch::{FileSource, LoadOptions, load_model};
use webvram::manager::{InferenceEstimate, Manager, ModelId};
use webvram::policy::{Decision, Options};
use webvram::weights::synth::write_checkpoint;
use webvram::weights::{ConvertTarget, Dtype};

/// Rows per test input.
pub const BATCH: usize = 4;

/// The test model: 20 layers of 256 KiB + 1 KiB, so each layer is 5% of the model and larger
/// than the books' fixed slack (64 KiB).
pub const MODEL: SynthMlp = SynthMlp {
    layers: 20,
    width: 256,
    seed: 11,
};

/// A fresh device on the native adapter (lavapipe here).
pub fn gpu() -> GpuContext {
    gpu_capped(None)
}

/// [`gpu`] with its storage bindings capped at `max_binding_bytes`.
pub fn gpu_capped(max_binding_bytes: Option<u64>) -> GpuContext {
    let power = wgpu::PowerPreference::HighPerformance;
    let opened = webvram::device::open(power, max_binding_bytes);
    let (profile, gpu) = pollster::block_on(opened).expect("probe");
    gpu.unwrap_or_else(|| panic!("no GPU device: {:?}", profile.unavailable_reason))
}

/// Writes `model`'s checkpoint (sharded at 1 MiB, so several shards and an index) under cargo's
/// per-target scratch folder, named by test binary, tag and seed (deterministic content, so a rerun
/// overwrites instead of piling up), and returns the URL `load_model` takes.
pub fn write(model: &SynthMlp, tag: &str) -> String {
    let dir: PathBuf = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{tag}-{}",
        env!("CARGO_CRATE_NAME"),
        model.seed
    ));
    let spec = model.checkpoint(Dtype::F32, 1 << 20);
    let checkpoint = write_checkpoint(&dir, &spec).expect("checkpoint written");
    let file = match checkpoint.index_json() {
        Some(_) => "model.safetensors.index.json",
        None => "model.safetensors",
    };
    dir.join(file).to_str().expect("utf-8 path").to_owned()
}

/// Loads the checkpoint at `url` into host layers with the loader and a `HostSink`, keeping
/// the layers `keep` accepts.
pub fn load(url: &str, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, HostLayer> {
    load_as(url, keep, ConvertTarget::F32)
}

/// [`load`], holding the layers in `dtype`.
pub fn load_as(
    url: &str,
    keep: &dyn Fn(&str) -> bool,
    dtype: ConvertTarget,
) -> BTreeMap<String, HostLayer> {
    let layer_of = |tensor: &str| SynthMlp::layer_of(tensor).filter(|(layer, _)| keep(layer));
    let mut sink = HostSink::new(&layer_of).storing(dtype);
    let options = LoadOptions::default();
    pollster::block_on(load_model(
        &FileSource::new(),
        url,
        &mut sink,
        &options,
        |_| {},
    ))
    .expect("checkpoint loads");
    sink.into_layers()
}

/// Every layer of the checkpoint at `url`.
pub fn load_all(url: &str) -> BTreeMap<String, HostLayer> {
    load(url, &|_| true)
}

/// A [`LayerSource`] that re-reads single layers from the checkpoint on disk, as the runtime's
/// would from Cache Storage or with `Range` requests; it counts the bytes it hands out.
pub struct CheckpointSource {
    pub url: String,
    pub fetched: Arc<AtomicU64>,
}

impl CheckpointSource {
    /// A source over `url` and the counter it adds to.
    pub fn new(url: &str) -> (Self, Arc<AtomicU64>) {
        let fetched = Arc::new(AtomicU64::new(0));
        let source = Self {
            url: url.to_owned(),
            fetched: fetched.clone(),
        };
        (source, fetched)
    }
}

impl LayerSource for CheckpointSource {
    fn fetch_layer<'a>(
        &'a self,
        _model: ModelId,
        layer: &'a str,
    ) -> LocalFuture<'a, Result<HostLayer, ExecError>> {
        Box::pin(async move {
            let mut layers = load(&self.url, &|name| name == layer);
            let host = layers.remove(layer).ok_or_else(|| ExecError::Source {
                layer: layer.to_owned(),
                message: "not in the checkpoint".into(),
            })?;
            self.fetched.fetch_add(host.bytes(), Ordering::Relaxed);
            Ok(host)
        })
    }
}

/// A manager with `decision` and default options, the test model registered (no inference
/// memory beyond the decision's floors), and an executor on a fresh device holding `layers`.
pub fn setup(
    decision: Decision,
    layers: BTreeMap<String, HostLayer>,
) -> (Manager, Executor, ModelId) {
    setup_model(&MODEL, decision, layers)
}

/// [`setup`] for another model.
pub fn setup_model(
    model: &SynthMlp,
    decision: Decision,
    layers: BTreeMap<String, HostLayer>,
) -> (Manager, Executor, ModelId) {
    let mut manager = Manager::new(decision, &Options::default());
    let id = manager
        .register(model.model_spec("synth-mlp", InferenceEstimate::Fixed(0)))
        .expect("registers");
    let mut exec = Executor::new(gpu());
    exec.insert_model(&manager, id, layers).expect("inserts");
    (manager, exec, id)
}

/// `max |a − b| / max |b|`: the error relative to the reference's scale.
pub fn relative_error(actual: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(actual.len(), reference.len(), "lengths differ");
    let scale = reference.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let worst = (actual.iter().zip(reference))
        .map(|(a, r)| (f64::from(*a) - r).abs())
        .fold(0.0_f64, f64::max);
    worst / scale
}

/// The same for two f32 outputs.
pub fn relative_error_f32(actual: &[f32], reference: &[f32]) -> f64 {
    let reference: Vec<f64> = reference.iter().map(|v| f64::from(*v)).collect();
    relative_error(actual, &reference)
}

/// Destroys the device and lets wgpu finish losing it, so burn marks it poisoned before
/// anything else touches it. (A real loss in a browser is silent for later calls; natively,
/// calls made between `destroy` and the poll that reports the loss raise validation errors
/// that burn turns into a panic on its server thread.)
pub fn destroy(gpu: &GpuContext) {
    gpu.wgpu_device().destroy();
    gpu.wgpu_device()
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("the destroyed device polls");
}
