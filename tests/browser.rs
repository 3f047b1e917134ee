//! The runtime in headless Chromium on SwiftShader's WebGPU adapter (flags in webdriver.json).
#![cfg(target_arch = "wasm32")]

use burn::tensor::{Tensor, TensorData};
use wasm_bindgen_test::*;
use webvram::policy::{Options, VramMode};
use webvram::{Runtime, RuntimeOptions};

wasm_bindgen_test_configure!(run_in_browser);

const MIB: u64 = 1 << 20;

/// A runtime on SwiftShader's device: `vram: 'shared'`, since `auto` leaves a software adapter
/// for the CPU path.
async fn runtime() -> Runtime {
    let options = RuntimeOptions {
        policy: Options {
            vram: VramMode::Shared,
            ..Default::default()
        },
        ..Default::default()
    };
    Runtime::create(options).await.expect("runtime starts")
}

#[wasm_bindgen_test]
async fn swiftshader_profile_is_read_from_the_browser() {
    let rt = runtime().await;
    let p = rt.adapter();
    assert!(p.available, "no adapter: {:?}", p.unavailable_reason);
    assert_eq!(p.vendor, "google");
    assert_eq!(p.architecture, "swiftshader");
    assert!(p.is_fallback_adapter);
    assert_eq!(p.backend, "webgpu");
    assert!(p.limit("maxBufferSize").unwrap() >= 256 * MIB);
    assert!(p.user_agent.as_deref().unwrap().contains("Chrome"));
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap();
    let cores = js_sys::Reflect::get(&navigator, &"hardwareConcurrency".into()).unwrap();
    assert_eq!(p.hardware_concurrency.map(f64::from), cores.as_f64());
}

#[wasm_bindgen_test]
async fn device_gets_the_adapters_limits_not_webgpu_defaults() {
    let rt = runtime().await;
    let limits = rt.gpu().expect("a WebGPU device").limits();
    // WebGPU's default maxBufferSize is 256 MiB; SwiftShader offers 1 GiB.
    assert_eq!(
        Some(limits.max_buffer_size),
        rt.adapter().limit("maxBufferSize")
    );
    assert!(limits.max_buffer_size > 256 * MIB);
}

#[wasm_bindgen_test]
async fn burn_matmul_on_the_shared_device_reads_back_asynchronously() {
    let rt = runtime().await;
    let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], rt.device());
    let b = Tensor::<2>::from_floats([[5.0, 6.0], [7.0, 8.0]], rt.device());
    let data = a.matmul(b).into_data_async().await.expect("read back");
    assert_eq!(data, TensorData::from([[19.0f32, 22.0], [43.0, 50.0]]));
}

#[wasm_bindgen_test]
async fn system_stats_report_the_webgpu_device() {
    let rt = runtime().await;
    let stats = rt.system_stats();
    assert_eq!(stats.vram_state, "SHARED");
    assert_eq!(stats.system.os, "Linux");
    assert!(stats.system.ram_total > 0);
    assert_eq!(stats.devices[0].kind, "webgpu");
    assert!(stats.devices[0].name.starts_with("webgpu:0 "));
    assert!(
        stats.devices[0].name.contains("swiftshader"),
        "{}",
        stats.devices[0].name
    );
    // SwiftShader is a software adapter: SHARED when asked, with a budget drawn from RAM and
    // reasons; `auto` would compute on the CPU.
    assert_eq!(stats.devices[0].vram_total, stats.policy.budget_bytes);
    assert!(stats.policy.budget_bytes > 0);
    assert!(
        stats
            .policy
            .reasons
            .iter()
            .any(|r| r.signal.contains("isFallbackAdapter") || r.value.contains("swiftshader")),
        "{:?}",
        stats.policy.reasons
    );
}

#[wasm_bindgen_test]
async fn cpu_mode_is_disabled_and_computes_on_flex() {
    let options = RuntimeOptions {
        policy: Options {
            vram: VramMode::Cpu,
            ..Default::default()
        },
        ..Default::default()
    };
    let rt = Runtime::create(options).await.unwrap();
    assert_eq!(rt.vram_state(), "DISABLED");
    let x = Tensor::<1>::from_floats([1.5, 2.5], rt.device());
    let sum: f32 = x.sum().into_scalar_async().await.unwrap();
    assert_eq!(sum, 4.0);
}

/// The executor on the page's real WebGPU device: the failures a browser GPU has.
mod exec {
    use std::time::Duration;

    use wasm_bindgen_test::*;
    use webvram::bench::relative_diff;
    use webvram::device::GpuContext;
    use webvram::exec::{ExecError, Executor, SynthMlp};
    use webvram::fetch::browser_sleep;
    use webvram::manager::{InferenceEstimate, LoadRequest, Manager, ModelId};
    use webvram::policy::{Decision, Options, VramState};

    const MIB: u64 = 1 << 20;
    const BATCH: usize = 4;

    /// 20 layers of 1 MiB.
    const MODEL: SynthMlp = SynthMlp {
        layers: 20,
        width: 512,
        seed: 23,
    };

    async fn gpu() -> GpuContext {
        let power = wgpu::PowerPreference::HighPerformance;
        let (profile, gpu) = webvram::device::open(power, None).await.expect("probe");
        gpu.unwrap_or_else(|| panic!("no WebGPU device: {:?}", profile.unavailable_reason))
    }

    fn setup(exec: &mut Executor, model: &SynthMlp, decision: Decision) -> (Manager, ModelId) {
        let mut manager = Manager::new(decision, &Options::default());
        let spec = model.model_spec("synth", InferenceEstimate::Fixed(0));
        let id = manager.register(spec).expect("registers");
        exec.insert_model(&manager, id, model.host_layers())
            .expect("inserts");
        (manager, id)
    }

    async fn run(
        exec: &mut Executor,
        manager: &mut Manager,
        model: &SynthMlp,
        id: ModelId,
    ) -> Result<(Vec<f32>, bool), ExecError> {
        let request = LoadRequest::new([id]);
        let input = |device: &_| Ok(model.input(BATCH, device));
        let ran = (exec.load_and_run(manager, id, model, &request, input, 1)).await?;
        let stepped_down = ran.oom.is_some();
        Ok((exec.read(ran.output).await?, stepped_down))
    }

    #[wasm_bindgen_test]
    async fn the_synthetic_model_on_webgpu_matches_its_f64_reference() {
        let mut exec = Executor::new(gpu().await);
        let decision = Decision::fixed(VramState::LowVram, MODEL.bytes() / 2 + MIB, MIB);
        let (mut manager, id) = setup(&mut exec, &MODEL, decision);
        let (output, _) = run(&mut exec, &mut manager, &MODEL, id).await.unwrap();
        let reference = MODEL.reference(&MODEL.input_values(BATCH), BATCH);
        let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = (output.iter().zip(&reference))
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0f64, f64::max);
        assert!(worst / scale <= 1e-5, "{} relative", worst / scale);
        assert!(manager.gpu_bytes() > 0 && manager.gpu_bytes() < MODEL.bytes());
    }

    /// A real `GPUDevice.destroy()`: the browser's device-lost callback marks the executor, the
    /// next call fails with `DeviceLost` before touching the device, and a new device gets the
    /// resident layers back and gives the same output.
    #[wasm_bindgen_test]
    async fn a_destroyed_webgpu_device_is_noticed_and_replaced() {
        let mut exec = Executor::new(gpu().await);
        let decision = Decision::fixed(VramState::NormalVram, MODEL.bytes() / 2 + MIB, MIB);
        let (mut manager, id) = setup(&mut exec, &MODEL, decision);
        let (before, _) = run(&mut exec, &mut manager, &MODEL, id).await.unwrap();
        let resident = manager.gpu_bytes();
        assert!(resident > 0);

        exec.gpu().expect("a GPU").wgpu_device().destroy();
        let sleep = browser_sleep();
        for _ in 0..100 {
            if exec.device_lost().is_some() {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let reason = exec.device_lost().expect("the lost callback fired");
        assert!(reason.contains("Destroyed"), "{reason}");
        let err = run(&mut exec, &mut manager, &MODEL, id).await.unwrap_err();
        assert!(matches!(err, ExecError::DeviceLost { .. }), "{err}");

        let report = exec.replace_device(gpu().await, &mut manager).await;
        assert_eq!(report.restored_bytes, resident);
        assert_eq!(report.failure, None);
        assert!(exec.books(&manager).agrees, "{:?}", exec.books(&manager));
        let (after, _) = run(&mut exec, &mut manager, &MODEL, id).await.unwrap();
        assert_eq!(after, before, "same device kind, same kernels: bit for bit");
    }

    /// Out of memory, forced with a simulated capacity (SwiftShader allocates from RAM and does
    /// not run out): the upload fails inside the WebGPU error scopes, the manager steps down,
    /// the retry fits and gives the resident output; the real scopes report nothing spurious.
    #[wasm_bindgen_test]
    async fn simulated_oom_on_webgpu_steps_down_and_gives_the_resident_output() {
        let mut exec = Executor::new(gpu().await);
        let roomy = Decision::fixed(VramState::HighVram, 2 * MODEL.bytes() + MIB, MIB);
        let (mut manager, id) = setup(&mut exec, &MODEL, roomy);
        let (expected, stepped) = run(&mut exec, &mut manager, &MODEL, id).await.unwrap();
        assert!(!stepped, "no out-of-memory event on a roomy device");
        let plan = manager.unload_all();
        exec.apply(&mut manager, &plan).await.unwrap();
        exec.remove_model(id);

        let budget = MODEL.bytes() * 11 / 10 + MIB;
        let decision = Decision::fixed(VramState::NormalVram, budget, MIB);
        let (mut manager, id) = setup(&mut exec, &MODEL, decision);
        exec.set_simulated_capacity(Some(MODEL.layer_bytes() * 39 / 2));
        let (output, stepped) = run(&mut exec, &mut manager, &MODEL, id).await.unwrap();
        assert!(stepped, "the load ran out of memory and stepped down");
        assert_eq!(manager.decision().state, VramState::LowVram);
        assert_eq!(manager.decision().oom_count, 1);
        // The budget is capped by what the device held (19 layers) less the prefetched one.
        assert!(manager.decision().budget_bytes <= MODEL.layer_bytes() * 18);
        assert!(manager.gpu_bytes() < MODEL.layer_bytes() * 18);
        assert!(relative_diff(&output, &expected) <= 1e-6);
        assert!(exec.books(&manager).agrees);
    }
}
