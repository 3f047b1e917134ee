//! `benchSyntheticModel()`: the browser half of `bench/residency.mjs`. It loads the synthetic
//! MLP's checkpoint onto the WebGPU device and times forward calls at several budgets, with the
//! same loops the native test runs (`crate::bench`).

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::weights::fetch_error;
use super::{invalid_option, js_error, to_js, to_js_error};
use crate::bench::{self, BenchError, BudgetRun, LoadTiming};
use crate::exec::{Executor, SynthMlp};
use crate::fetch::FetchSource;

/// The model and the runs to time.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BenchOptions {
    layers: usize,
    width: usize,
    seed: u64,
    #[serde(default = "default_fractions")]
    fractions: Vec<f64>,
    #[serde(default = "default_batch")]
    batch: usize,
    #[serde(default = "default_runs")]
    runs: usize,
}

fn default_fractions() -> Vec<f64> {
    vec![1.0, 0.5, 0.25, 0.0]
}

fn default_batch() -> usize {
    1
}

fn default_runs() -> usize {
    3
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BenchReport {
    adapter: String,
    model_bytes: u64,
    layer_bytes: u64,
    load: LoadTiming,
    residency: Vec<BudgetRun>,
}

/// Benchmarks the synthetic MLP whose checkpoint is at `url` (`synth_checkpoint --width W`):
/// `{layers, width, seed, fractions = [1, .5, .25, 0], batch = 1, runs = 3}`. Resolves to
/// `{adapter, modelBytes, layerBytes, load: {fileBytes, deviceBytes, fetchMs, uploadMs},
/// residency: [{fraction, state, residentBytes, nonResidentBytes, uploadedBytes, forwardMs, …}]}`.
/// A diagnostic for benchmarks, not part of the model API.
#[wasm_bindgen(js_name = benchSyntheticModel)]
pub async fn bench_synthetic_model(
    #[wasm_bindgen(unchecked_param_type = "string")] url: JsValue,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    super::panic::check()?;
    let url = super::args::string_arg(&url, "url")?;
    let keys = ["layers", "width", "seed", "fractions", "batch", "runs"];
    super::args::options_object(&options, "benchSyntheticModel", &keys)?;
    let options: BenchOptions = serde_wasm_bindgen::from_value(options)
        .map_err(|err| invalid_option("options", &err.to_string()))?;
    let model = SynthMlp {
        layers: options.layers,
        width: options.width,
        seed: options.seed,
    };
    let (profile, gpu) = crate::device::open(wgpu::PowerPreference::HighPerformance, None)
        .await
        .map_err(to_js_error)?;
    let gpu = gpu.ok_or_else(|| {
        let why = profile.unavailable_reason.clone().unwrap_or_default();
        js_error(&format!("no WebGPU device: {why}"), "UNSUPPORTED", &[])
    })?;
    let mut exec = Executor::new(gpu);
    let source = FetchSource::new(None);
    let (layers, file_bytes, fetch_ms) = bench::load_layers(&source, &url, &model)
        .await
        .map_err(bench_error)?;
    let (layers, upload_ms) = bench::upload_all(&mut exec, &model, layers)
        .await
        .map_err(bench_error)?;
    let streamed_ms = bench::load_to_device(&mut exec, &source, &url, &model)
        .await
        .map_err(bench_error)?;
    let residency = bench::residency(
        &mut exec,
        &model,
        layers,
        &options.fractions,
        options.batch,
        options.runs,
    )
    .await
    .map_err(bench_error)?;
    to_js(&BenchReport {
        adapter: profile.display_name(),
        model_bytes: model.bytes(),
        layer_bytes: model.layer_bytes(),
        load: LoadTiming {
            file_bytes,
            device_bytes: model.bytes(),
            fetch_ms,
            upload_ms,
            streamed_ms,
        },
        residency,
    })
}

fn bench_error(err: BenchError) -> JsValue {
    match err {
        BenchError::Fetch(err) => fetch_error(err),
        BenchError::Exec(err) => to_js_error(err.into()),
        BenchError::Manager(err) => to_js_error(err.into()),
        other => js_error(&other.to_string(), "FORMAT", &[]),
    }
}
