#![cfg(not(target_arch = "wasm32"))]
//! Weights held in f16 on an adapter with `shader-f16` (lavapipe has it; SwiftShader, which the
//! browser tests use, does not): half the bytes in the books, on the device and in wasm memory;
//! embeddings close to sentence-transformers' f32 ones, and identical in every VRAM state.

use pollster::block_on;
use webvram::fetch::{FileSource, LoadOptions};
use webvram::manager::{Dtype, Tier};
use webvram::policy::{Options, VramMode, WeightDtype};
use webvram::weights::ConvertTarget;
use webvram::{Runtime, RuntimeOptions};

#[path = "model_bert_support/reference.rs"]
mod reference;

const MIB: u64 = 1 << 20;
/// Rounding every weight to f16 (11 significant bits) once moves the unit-length embeddings by
/// at most this much per component (measured on lavapipe: 2.2e-4).
const F16_MAX_ABS_DIFF: f32 = 1e-3;
/// …and keeps them as aligned with the reference as the f32 tests require (measured: 0.9999994).
const F16_MIN_COSINE: f64 = reference::MIN_COSINE;

use reference::model_folder as folder;

fn runtime(vram: VramMode, budget: Option<u64>, weight_dtype: WeightDtype) -> Runtime {
    let policy = Options {
        vram,
        vram_budget: budget,
        reserve_vram: budget.map(|_| 0),
        weight_dtype,
        ..Options::default()
    };
    let options = RuntimeOptions {
        policy,
        ..RuntimeOptions::default()
    };
    let rt = block_on(Runtime::create(options)).expect("runtime");
    if vram != VramMode::Cpu {
        assert!(
            rt.adapter().has_feature("shader-f16"),
            "this test needs an adapter with shader-f16 (lavapipe has it): {:?}",
            rt.adapter().features
        );
    }
    rt
}

fn load(rt: &mut Runtime) -> webvram::runtime::ModelInfo {
    block_on(rt.load_model(
        &FileSource::new(),
        &folder(),
        &LoadOptions::default(),
        |_| {},
    ))
    .expect("load")
}

fn texts() -> Vec<String> {
    (reference::cases().iter())
        .filter(|c| c.text.len() < 1000)
        .map(|c| c.text.clone())
        .collect()
}

fn embed(rt: &mut Runtime, id: u32) -> Vec<Vec<f32>> {
    block_on(rt.embed(id, &texts())).expect("embed").vectors
}

#[test]
fn auto_holds_weights_in_f16_and_books_half_the_bytes() {
    let mut f16 = runtime(VramMode::High, None, WeightDtype::Auto);
    assert_eq!(f16.decision().weight_dtype, WeightDtype::F16);
    assert_eq!(f16.weight_dtype(), ConvertTarget::F16);
    let reason = (f16.decision().reasons.iter())
        .find(|r| r.signal == "weightDtype")
        .expect("a weightDtype reason");
    assert_eq!(reason.value, "f16");
    assert!(reason.effect.contains("shader-f16"), "{reason:?}");
    let mut f32 = runtime(VramMode::High, None, WeightDtype::F32);
    assert_eq!(f32.weight_dtype(), ConvertTarget::F32);

    let (half, full) = (load(&mut f16), load(&mut f32));
    assert_eq!(
        (half.weight_dtype, full.weight_dtype),
        (Dtype::F16, Dtype::F32)
    );
    assert_eq!(half.weight_bytes * 2, full.weight_bytes);
    embed(&mut f16, half.id);
    embed(&mut f32, full.id);
    let (books16, books32) = (f16.system_stats().books, f32.system_stats().books);
    assert!(books16.agrees, "{books16:?}");
    assert!(books32.agrees, "{books32:?}");
    assert_eq!(books16.booked_gpu_bytes * 2, books32.booked_gpu_bytes);
    // burn's pool holds the f16 tensors: in use ≈ half of the f32 run's (activations are freed).
    assert!(
        books16.pool_in_use_bytes < books32.pool_in_use_bytes * 6 / 10,
        "f16 pool {} vs f32 pool {}",
        books16.pool_in_use_bytes,
        books32.pool_in_use_bytes
    );
    let on_gpu = (f16.manager().memory_map().layers.iter()).all(|l| l.tier == Tier::Gpu);
    assert!(on_gpu, "HIGH_VRAM keeps every layer");
}

#[test]
fn f16_embeddings_stay_close_to_the_reference() {
    let mut rt = runtime(VramMode::High, None, WeightDtype::F16);
    let info = load(&mut rt);
    let got = embed(&mut rt, info.id);
    let cases = reference::cases();
    let short = cases.iter().filter(|c| c.text.len() < 1000);
    let (mut worst_diff, mut worst_cosine) = (0.0f32, 1.0f64);
    for (case, vector) in short.zip(&got) {
        let (diff, cosine) = reference::compare(vector, &case.embedding);
        assert!(
            diff <= F16_MAX_ABS_DIFF && cosine >= F16_MIN_COSINE,
            "{}: max abs diff {diff:e}, cosine {cosine}",
            case.name
        );
        worst_diff = worst_diff.max(diff);
        worst_cosine = worst_cosine.min(cosine);
    }
    eprintln!("f16 weights: max abs diff {worst_diff:e}, min cosine {worst_cosine}");
    // Not the f32 result either: the weights really were rounded.
    assert!(
        worst_diff > reference::MAX_ABS_DIFF / 100.0,
        "{worst_diff:e}"
    );
}

#[test]
fn f16_gives_the_same_output_in_every_state() {
    let mut high = runtime(VramMode::High, None, WeightDtype::F16);
    let id = load(&mut high).id;
    let want = embed(&mut high, id);
    let same = |label: &str, got: &[Vec<f32>]| {
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{label}: {g} vs {w}"
            );
        }
    };
    // The f16 encoder is 21.7 MB without the word table; 18 MiB holds the largest block plus
    // the inference memory (17.4 MB with the widened f32 copy of a block) and streams the rest.
    for (vram, budget) in [
        (VramMode::Normal, None),
        (VramMode::Low, Some(18 * MIB)),
        (VramMode::None, None),
    ] {
        let mut rt = runtime(vram, budget, WeightDtype::F16);
        let id = load(&mut rt).id;
        let report = block_on(rt.embed(id, &texts())).expect("embed");
        if vram == VramMode::Low {
            let streamed = report.forward.streamed_layers;
            assert!(streamed > 0 && streamed < 7, "streamed {streamed}");
        }
        same(rt.vram_state(), &report.vectors);
        assert!(rt.system_stats().books.agrees, "{}", rt.vram_state());
    }
    // SHARED, with layers read back from the files in f16 after a lost device.
    let mut shared = runtime(VramMode::Shared, None, WeightDtype::F16);
    assert_eq!(shared.vram_state(), "SHARED");
    shared.set_layer_reader(Box::new(FileSource::new()));
    let id = load(&mut shared).id;
    same("SHARED", &embed(&mut shared, id));
    assert_eq!(shared.system_stats().books.host_retained_bytes, 0);
    shared.lose_device();
    let report = block_on(shared.embed(id, &texts())).expect("embed after loss");
    assert!(report.device_replaced);
    same("SHARED after device loss", &report.vectors);
    assert!(shared.system_stats().books.agrees);
}

#[test]
fn f32_is_kept_where_f16_is_not_possible_or_not_wanted() {
    let cpu = runtime(VramMode::Cpu, None, WeightDtype::F16);
    assert_eq!(cpu.decision().weight_dtype, WeightDtype::F32);
    assert_eq!(cpu.weight_dtype(), ConvertTarget::F32);
    let reason = (cpu.decision().reasons.iter())
        .find(|r| r.signal == "weightDtype")
        .unwrap();
    assert!(reason.effect.contains("CPU"), "{reason:?}");
    let asked = runtime(VramMode::Shared, None, WeightDtype::F32);
    assert_eq!(asked.weight_dtype(), ConvertTarget::F32);
}
