//! The runtime on a real native adapter (lavapipe on CI): profile, shared device, stats shape.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::{Tensor, TensorData};
use webvram::policy::{Options, VramMode};
use webvram::{Runtime, RuntimeOptions};

const MIB: u64 = 1 << 20;

fn runtime(options: RuntimeOptions) -> Runtime {
    pollster::block_on(Runtime::create(options)).expect("runtime starts")
}

/// A runtime on the GPU even when it is a software adapter (`auto` would compute on the CPU).
fn gpu_runtime() -> RuntimeOptions {
    RuntimeOptions {
        policy: Options {
            vram: VramMode::Shared,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn profile_describes_the_vulkan_adapter_in_webgpu_terms() {
    let rt = runtime(RuntimeOptions::default());
    let p = rt.adapter();
    assert!(p.available, "no adapter: {:?}", p.unavailable_reason);
    assert_eq!(p.backend, "vulkan");
    assert!(!p.description.is_empty());
    // lavapipe is a CPU adapter, which WebGPU calls a fallback adapter.
    if p.description.contains("llvmpipe") {
        assert!(p.is_fallback_adapter);
        assert_eq!(p.vendor, "mesa");
    }
    assert!(p.limit("maxBufferSize").unwrap() >= 256 * MIB);
    assert!(p.limit("maxStorageBufferBindingSize").unwrap() >= 128 * MIB);
    assert!(p.limit("maxComputeWorkgroupSizeX").unwrap() >= 256);
    assert!(p.limits.len() >= 26, "{:?}", p.limits.keys());
    let mut sorted = p.features.clone();
    sorted.sort();
    assert_eq!(sorted, p.features);
    assert!(p.device_memory_gib.unwrap() > 0.5);
    // What the OS reports through another door (`nproc` honours the same affinity mask).
    let nproc = std::process::Command::new("nproc")
        .output()
        .expect("nproc runs");
    let cores: u32 = String::from_utf8_lossy(&nproc.stdout)
        .trim()
        .parse()
        .expect("a count");
    assert_eq!(p.hardware_concurrency, Some(cores));
}

#[test]
fn device_is_opened_with_the_adapters_own_limits() {
    let rt = runtime(gpu_runtime());
    let gpu = rt.gpu().expect("a GPU device");
    assert_eq!(
        Some(gpu.limits().max_buffer_size),
        rt.adapter().limit("maxBufferSize")
    );
    assert_eq!(rt.vram_state(), "SHARED");
}

#[test]
fn burn_computes_on_the_shared_device() {
    let rt = runtime(gpu_runtime());
    let a = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], rt.device());
    let b = Tensor::<2>::from_floats([[5.0, 6.0], [7.0, 8.0]], rt.device());
    let data = pollster::block_on(a.matmul(b).into_data_async()).expect("read back");
    assert_eq!(data, TensorData::from([[19.0f32, 22.0], [43.0, 50.0]]));
    let pool = rt
        .device()
        .memory_pool_usage()
        .expect("wgpu reports its pool");
    assert!(pool.bytes_reserved > 0);
}

/// `auto` does not compute on a software adapter (lavapipe here): the CPU path is faster than a
/// GPU emulated on the same CPU. A hardware adapter keeps a GPU state.
#[test]
fn auto_computes_on_the_cpu_when_the_adapter_is_software() {
    let rt = runtime(RuntimeOptions::default());
    if rt.adapter().is_fallback_adapter {
        assert_eq!(rt.vram_state(), "DISABLED");
        assert!(rt.gpu().is_none(), "the software device is not kept");
        let reason = (rt.decision().reasons.iter())
            .find(|r| r.signal == "adapter" && r.value == "software")
            .expect("the reason is stated");
        assert!(reason.effect.contains("'shared'"), "{reason}");
    } else {
        assert_ne!(rt.vram_state(), "DISABLED");
        assert!(rt.gpu().is_some());
    }
}

#[test]
fn cpu_mode_runs_on_burns_cpu_backend() {
    let options = RuntimeOptions {
        policy: Options {
            vram: VramMode::Cpu,
            ..Default::default()
        },
        ..Default::default()
    };
    let rt = runtime(options);
    assert!(rt.gpu().is_none());
    assert_eq!(rt.vram_state(), "DISABLED");
    assert!(
        rt.adapter()
            .unavailable_reason
            .as_deref()
            .unwrap()
            .contains("cpu")
    );
    let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0], rt.device());
    let sum: f32 = pollster::block_on(x.sum().into_scalar_async()).unwrap();
    assert_eq!(sum, 6.0);
}

#[test]
fn bad_power_preference_is_a_typed_error() {
    let options = RuntimeOptions {
        power_preference: Some("turbo".into()),
        ..Default::default()
    };
    let err = pollster::block_on(Runtime::create(options)).unwrap_err();
    assert_eq!(err.code(), "INVALID_OPTION");
    assert!(err.to_string().contains("powerPreference"), "{err}");
}

#[test]
fn system_stats_use_comfyuis_exact_field_names() {
    let rt = runtime(gpu_runtime());
    let json = serde_json::to_value(rt.system_stats()).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    // ComfyUI's three, plus webvram's additions: policy, books and memory_map.
    assert_eq!(
        keys(&json),
        [
            "books",
            "devices",
            "memory_map",
            "policy",
            "system",
            "vram_state"
        ]
    );
    assert_eq!(
        keys(&json["system"]),
        [
            "os",
            "ram_free",
            "ram_total",
            "user_agent",
            "wasm_memory_bytes",
            "webvram_build",
            "webvram_version"
        ]
    );
    let device = &json["devices"][0];
    assert_eq!(
        keys(device),
        [
            "index",
            "name",
            "torch_vram_free",
            "torch_vram_total",
            "type",
            "vram_free",
            "vram_total"
        ]
    );
    assert_eq!(device["type"], "vulkan");
    assert_eq!(json["vram_state"], "SHARED");
    assert_eq!(json["system"]["os"], "Linux");
    assert_eq!(json["system"]["webvram_build"], "gpu");
    assert!(
        json["system"]["ram_total"].as_u64().unwrap()
            >= json["system"]["ram_free"].as_u64().unwrap()
    );
    assert!(device["vram_total"].as_u64().unwrap() >= device["vram_free"].as_u64().unwrap());
    assert_eq!(device["vram_total"], json["policy"]["budgetBytes"]);
    assert!(json["policy"]["reasons"].as_array().unwrap().len() >= 3);
}
