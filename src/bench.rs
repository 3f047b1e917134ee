//! The measurement loops behind `bench/residency.mjs`: how long the synthetic model takes to
//! load onto the device, and how a forward call slows down as the budget shrinks.
//!
//! They live in the crate (not in the benchmark script) so the same code runs natively on
//! lavapipe in a test and in the browser through `benchSyntheticModel`; the script only serves
//! the checkpoint, runs the JS baseline and prints.

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use serde::Serialize;
use web_time::Instant;

use crate::exec::{ExecError, Executor, HostLayer, HostSink, SynthMlp, arrivals, expected_tensors};
use crate::fetch::{ByteSource, FetchError, LoadOptions, load_model, open_model};
use crate::manager::{InferenceEstimate, LoadRequest, Manager, ManagerError, ModelId};
use crate::policy::{Decision, Options, VramState};

/// Room kept free inside every budget for activations (ComfyUI's reserve).
const RESERVE: u64 = 1 << 20;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Loading the checkpoint failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The executor failed (out of memory, device lost, …).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The manager refused a plan (a budget too small to stream one layer).
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// HIGH_VRAM with room for twice the model did not load all of it.
    #[error("only {resident} bytes of the model went to the device")]
    NotResident {
        /// Bytes that did.
        resident: u64,
    },
    /// The checkpoint does not hold the model the options describe.
    #[error("the checkpoint holds {found} of the model's {expected} layers")]
    WrongCheckpoint {
        /// Layers the model has.
        expected: usize,
        /// Layers the checkpoint had.
        found: usize,
    },
}

/// How long loading the checkpoint onto the device took.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadTiming {
    /// Bytes of the checkpoint's files (headers included).
    pub file_bytes: u64,
    /// Bytes of f32 weights put on the device.
    pub device_bytes: u64,
    /// Fetch, parse and convert into wasm memory.
    pub fetch_ms: f64,
    /// Upload of every layer, until the device has finished with it.
    pub upload_ms: f64,
    /// The same load with each layer uploaded as soon as its bytes are in, while the next ones
    /// download, until the device has finished ([`load_to_device`]).
    pub streamed_ms: f64,
}

/// One budget's forward calls.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetRun {
    /// The budget asked for, as a fraction of the model's weight bytes.
    pub fraction: f64,
    /// The state the budget ran in.
    pub state: String,
    /// Bytes of weights the plan kept on the device.
    pub resident_bytes: u64,
    /// Bytes the plan left off the device: what each call must upload.
    pub non_resident_bytes: u64,
    /// Bytes each timed call uploaded (the same for all of them, or the run fails).
    pub uploaded_bytes: u64,
    /// Layers streamed per call.
    pub streamed_layers: usize,
    /// The most pool bytes in use during a call.
    pub peak_pool_in_use: u64,
    /// Each timed call, from issuing to having the output in wasm memory.
    pub forward_ms: Vec<f64>,
    /// The output's largest difference from the first budget's, relative to its scale.
    pub max_relative_diff: f64,
}

/// The model's layers from the checkpoint at `url`, and how long that took.
///
/// # Errors
/// [`BenchError::Fetch`] when the loader fails; [`BenchError::WrongCheckpoint`] when the file
/// is not `model`'s.
pub async fn load_layers<S: ByteSource>(
    source: &S,
    url: &str,
    model: &SynthMlp,
) -> Result<(BTreeMap<String, HostLayer>, u64, f64), BenchError> {
    let start = Instant::now();
    let layer_of = SynthMlp::layer_of;
    let mut sink = HostSink::new(&layer_of);
    let loaded = load_model(source, url, &mut sink, &LoadOptions::default(), |_| {}).await?;
    let layers = sink.into_layers();
    if layers.len() != model.layers || model.names().iter().any(|n| !layers.contains_key(n)) {
        return Err(BenchError::WrongCheckpoint {
            expected: model.layers,
            found: layers.len(),
        });
    }
    Ok((layers, loaded.total(), elapsed_ms(start)))
}

/// Loads the checkpoint at `url` straight onto the device (HIGH_VRAM, room for all): the model
/// is registered and planned from the headers, and each layer is uploaded as soon as its bytes
/// are in, while the next ones download ([`Executor::apply_streaming`]); then unloaded again.
/// Returns the milliseconds until the device has finished.
///
/// # Errors
/// What the load or the upload raised; [`BenchError::NotResident`] if not all of it went up.
pub async fn load_to_device<S: ByteSource>(
    exec: &mut Executor,
    source: &S,
    url: &str,
    model: &SynthMlp,
) -> Result<f64, BenchError> {
    let start = Instant::now();
    let options = LoadOptions::default();
    let opened = open_model(source, url, &options).await?;
    let layer_of = SynthMlp::layer_of;
    let expected = expected_tensors(opened.headers().map(|(_, header)| header), &layer_of);
    let budget = 2 * model.bytes() + RESERVE;
    let decision = Decision::fixed(VramState::HighVram, budget, RESERVE);
    let (mut manager, id) = register(exec, model, decision, BTreeMap::new())?;
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1)?;
    let (sender, mut arrivals) = arrivals();
    let sink = HostSink::new(&layer_of).handing_over(expected, sender);
    let load = async move {
        let mut sink = sink;
        opened.stream(source, &mut sink, &options, |_| {}).await
        // The sink, and with it the sender, drops here: the arrivals end.
    };
    let place = exec.apply_streaming(&mut manager, &plan, id, &mut arrivals);
    let (loaded, placed) = futures_util::future::join(load, place).await;
    loaded?;
    placed?;
    settle(exec).await?;
    let ms = elapsed_ms(start);
    if exec.gpu_bytes() != model.bytes() {
        return Err(BenchError::NotResident {
            resident: exec.gpu_bytes(),
        });
    }
    unload(exec, &mut manager, id).await?;
    Ok(ms)
}

/// Uploads every layer (HIGH_VRAM, room for all) and waits until the device is done, then
/// unloads them again. Returns the layers (for [`residency`]) and the upload's milliseconds.
///
/// # Errors
/// What the upload raised.
pub async fn upload_all(
    exec: &mut Executor,
    model: &SynthMlp,
    layers: BTreeMap<String, HostLayer>,
) -> Result<(BTreeMap<String, HostLayer>, f64), BenchError> {
    let budget = 2 * model.bytes() + RESERVE;
    let decision = Decision::fixed(VramState::HighVram, budget, RESERVE);
    let (mut manager, id) = register(exec, model, decision, layers)?;
    let start = Instant::now();
    let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1)?;
    exec.apply(&mut manager, &plan).await?;
    settle(exec).await?;
    let upload_ms = elapsed_ms(start);
    if exec.gpu_bytes() != model.bytes() {
        return Err(BenchError::NotResident {
            resident: exec.gpu_bytes(),
        });
    }
    Ok((unload(exec, &mut manager, id).await?, upload_ms))
}

/// Runs `model` `runs` times (after one untimed call) at each budget in `fractions` (of the
/// weights' bytes: ≥ 1 is HIGH_VRAM, 0 is NO_VRAM, in between LOW_VRAM), on a `batch`-row input.
/// Every budget starts from the same wasm copies and unloads after itself.
///
/// # Errors
/// The first executor or manager error.
pub async fn residency(
    exec: &mut Executor,
    model: &SynthMlp,
    mut layers: BTreeMap<String, HostLayer>,
    fractions: &[f64],
    batch: usize,
    runs: usize,
) -> Result<Vec<BudgetRun>, BenchError> {
    let mut first: Option<Vec<f32>> = None;
    let mut out = Vec::with_capacity(fractions.len());
    for &fraction in fractions {
        let decision = decision_for(model, fraction);
        let state = decision.state.name().to_owned();
        let (mut manager, id) = register(exec, model, decision, layers)?;
        let plan = manager.load_models_gpu(&LoadRequest::new([id]), 1)?;
        exec.apply(&mut manager, &plan).await?;
        let resident_bytes = manager.gpu_bytes();
        let (output, _) = exec
            .forward(id, model, model.input(batch, exec.device()))
            .await?;
        let output = exec.read(output).await?;
        let mut run = BudgetRun {
            fraction,
            state,
            resident_bytes,
            non_resident_bytes: model.bytes() - resident_bytes,
            uploaded_bytes: 0,
            streamed_layers: 0,
            peak_pool_in_use: 0,
            forward_ms: Vec::with_capacity(runs),
            max_relative_diff: relative_diff(&output, first.as_deref().unwrap_or(&output)),
        };
        for _ in 0..runs {
            let start = Instant::now();
            let input = model.input(batch, exec.device());
            let (result, stats) = exec.forward(id, model, input).await?;
            exec.read(result).await?;
            run.forward_ms.push(elapsed_ms(start));
            run.uploaded_bytes = stats.uploaded_bytes;
            run.streamed_layers = stats.streamed_layers;
            run.peak_pool_in_use = run.peak_pool_in_use.max(stats.peak_pool_in_use);
        }
        layers = unload(exec, &mut manager, id).await?;
        first.get_or_insert(output);
        out.push(run);
    }
    Ok(out)
}

/// Unloads `id` and takes its wasm copies back from the executor.
async fn unload(
    exec: &mut Executor,
    manager: &mut Manager,
    id: ModelId,
) -> Result<BTreeMap<String, HostLayer>, BenchError> {
    let plan = manager.unload_all();
    exec.apply(manager, &plan).await?;
    Ok(exec.take_model(id))
}

/// The decision a budget fraction runs under.
fn decision_for(model: &SynthMlp, fraction: f64) -> Decision {
    let weights = (model.bytes() as f64 * fraction.max(0.0)) as u64;
    let state = match fraction {
        f if f >= 1.0 => VramState::HighVram,
        f if f <= 0.0 => VramState::NoVram,
        _ => VramState::LowVram,
    };
    // NO_VRAM keeps nothing resident whatever its budget; it still needs room to stream.
    let budget = match state {
        VramState::NoVram => model.bytes() + RESERVE,
        _ => weights + RESERVE,
    };
    Decision::fixed(state, budget, RESERVE)
}

/// A manager under `decision` with `model` registered, and the executor holding its layers.
fn register(
    exec: &mut Executor,
    model: &SynthMlp,
    decision: Decision,
    layers: BTreeMap<String, HostLayer>,
) -> Result<(Manager, ModelId), BenchError> {
    let mut manager = Manager::new(decision, &Options::default());
    let id = manager.register(model.model_spec("synth-mlp", InferenceEstimate::Fixed(0)))?;
    exec.insert_model(&manager, id, layers)?;
    Ok((manager, id))
}

/// Waits until the device has run everything queued: a read completes after all earlier work.
async fn settle(exec: &Executor) -> Result<(), ExecError> {
    let probe = Tensor::<1>::zeros([1], exec.device());
    exec.read(probe).await.map(drop)
}

/// `max |a − b| / max |b|`: an output's error relative to the reference's scale.
pub fn relative_diff(actual: &[f32], reference: &[f32]) -> f64 {
    let scale = reference
        .iter()
        .fold(0.0_f64, |m, v| m.max(f64::from(v.abs())));
    let worst = (actual.iter().zip(reference))
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0_f64, f64::max);
    if scale == 0.0 { worst } else { worst / scale }
}

fn elapsed_ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: SynthMlp = SynthMlp {
        layers: 10,
        width: 64,
        seed: 3,
    };

    #[test]
    fn budgets_map_to_states_and_weight_room() {
        let high = decision_for(&MODEL, 1.0);
        assert_eq!(high.state, VramState::HighVram);
        assert_eq!(high.budget_bytes, MODEL.bytes() + RESERVE);
        let half = decision_for(&MODEL, 0.5);
        assert_eq!(half.state, VramState::LowVram);
        assert_eq!(half.budget_bytes, MODEL.bytes() / 2 + RESERVE);
        assert_eq!(decision_for(&MODEL, 0.0).state, VramState::NoVram);
    }

    #[test]
    fn relative_diff_is_scaled_by_the_reference() {
        assert_eq!(relative_diff(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(relative_diff(&[1.0, 3.0], &[1.0, 2.0]), 0.5);
    }
}
