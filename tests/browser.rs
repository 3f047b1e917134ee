//! The runtime in headless Chromium on SwiftShader's WebGPU adapter (flags in webdriver.json).
#![cfg(target_arch = "wasm32")]

use burn::tensor::{Tensor, TensorData};
use wasm_bindgen_test::*;
use webvram::policy::{Options, VramMode};
use webvram::{Runtime, RuntimeOptions};

wasm_bindgen_test_configure!(run_in_browser);

const MIB: u64 = 1 << 20;

async fn runtime() -> Runtime {
    Runtime::create(RuntimeOptions::default())
        .await
        .expect("runtime starts")
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
    assert!(p.hardware_concurrency.unwrap() >= 1);
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
    // SwiftShader is a software adapter: SHARED, with a budget drawn from RAM and reasons.
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
