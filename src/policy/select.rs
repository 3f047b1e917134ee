//! State selection: from the adapter profile, the options and what was learned, to a decision.

use super::adapt::{LearnedBudget, learned_budget, learned_state};
use super::budget::{self, LOW_VRAM_THRESHOLD};
use super::class::{Classified, DeviceClass, classify};
use super::decision::Decision;
use super::fingerprint::fingerprint;
use super::options::{Options, VramMode, WeightDtype};
use super::reasons::{Reason, bytes_value};
use super::state::{CpuState, VramState};
use crate::device::AdapterProfile;

/// Chooses the VRAM state and budgets for this adapter. Pure and infallible.
///
/// ComfyUI picks its state from flags only (plus a "≤ 4 GiB → low VRAM" check); webvram must pick
/// from WebGPU's signals, which never state a VRAM size:
///
/// - no adapter, or `vram: 'cpu'` → `DISABLED`, GPU budget 0;
/// - an explicit `vram` mode wins otherwise (an adapter is needed for any GPU state);
/// - `auto`: reserve ≥ budget → `DISABLED` (the reserve leaves webvram no GPU memory, not even
///   for inference; ComfyUI would try and fail, a browser may lose the device instead);
///   software adapters (SwiftShader, lavapipe, `isFallbackAdapter`) → `DISABLED`: the CPU path
///   is faster than a GPU emulated on the same CPU (MiniLM, batch 1: ~20 vs 0.3 embeddings/s),
///   so `auto` does not use them — `vram: 'shared'` does; integrated and unknown adapters → `SHARED`
///   with a RAM-drawn budget; discrete GPUs → `LOW_VRAM` when low-resource or when the budget is
///   at most [`LOW_VRAM_THRESHOLD`], else `NORMAL_VRAM`. `HIGH_VRAM` only when asked.
///
/// A `learned` budget for the same [fingerprint](super::fingerprint()) lowers the
/// budget unless `vramBudget` is given, and lowers the state unless `vram` is explicit.
pub fn select(
    profile: &AdapterProfile,
    options: &Options,
    learned: Option<&LearnedBudget>,
) -> Decision {
    let classified = classify(profile);
    let mut reasons = classified.reasons.clone();
    let fingerprint = fingerprint(profile);
    let learned = learned.filter(|l| l.applies_to(&fingerprint));
    let (ram, ram_reason) = budget::ram(profile);
    reasons.push(ram_reason);
    let (estimate, estimate_reasons) = budget::estimate(profile, &classified, ram);
    reasons.extend(estimate_reasons);
    let budget = choose_budget(options, &classified, estimate, learned, &mut reasons);
    let reserve = choose_reserve(options, profile, &classified, &mut reasons);
    let mut state = choose_state(options, &classified, budget, reserve, &mut reasons);
    if let (VramMode::Auto, Some(learned)) = (options.vram, learned) {
        state = learned_state(state, learned, &mut reasons);
    }
    let budget = if state == VramState::Disabled {
        0
    } else {
        budget
    };
    let host_budget_bytes = choose_host_budget(options, ram, &mut reasons);
    let weight_dtype = choose_weight_dtype(options.weight_dtype, profile, state, &mut reasons);
    reasons.push(Reason::new(
        "state",
        state.name(),
        format!("budget {}", bytes_value(budget)),
    ));
    Decision {
        state,
        cpu_state: CpuState::for_state(state),
        device_class: classified.class,
        low_resource: classified.low_resource,
        unified_memory: classified.class.unified_memory(),
        estimate_bytes: estimate,
        budget_bytes: budget,
        reserve_bytes: reserve,
        min_inference_bytes: budget::min_inference(budget),
        min_weight_ratio_permille: budget::min_weight_ratio_permille(profile),
        host_budget_bytes,
        oom_count: learned.map_or(0, |l| l.oom_count),
        weight_dtype,
        fingerprint,
        reasons,
    }
}

/// The estimate, replaced by `vramBudget`, else lowered by a learned budget.
fn choose_budget(
    options: &Options,
    classified: &Classified,
    estimate: u64,
    learned: Option<&LearnedBudget>,
    reasons: &mut Vec<Reason>,
) -> u64 {
    if classified.class == DeviceClass::None {
        return 0;
    }
    match (options.vram_budget, learned) {
        (Some(explicit), _) => {
            reasons.push(Reason::new(
                "vramBudget",
                bytes_value(explicit),
                "replaces the estimate",
            ));
            explicit
        }
        (None, Some(learned)) => learned_budget(estimate, learned, reasons),
        (None, None) => estimate,
    }
}

/// `reserveVram`, else the class default — at most a quarter of an explicit `vramBudget`: a
/// budget the caller states is memory given to webvram, and a 256 MiB default must not swallow a
/// small one whole.
fn choose_reserve(
    options: &Options,
    profile: &AdapterProfile,
    classified: &Classified,
    reasons: &mut Vec<Reason>,
) -> u64 {
    match options.reserve_vram {
        Some(reserve) => {
            reasons.push(Reason::new(
                "reserveVram",
                bytes_value(reserve),
                "replaces the default reserve",
            ));
            reserve
        }
        None => {
            let (reserve, reason) = budget::default_reserve(profile, classified);
            reasons.push(reason);
            match options.vram_budget {
                Some(given) if reserve > given / 4 => {
                    let effect = "default reserve lowered to a quarter of the given budget";
                    reasons.push(Reason::new("vramBudget", bytes_value(given), effect));
                    given / 4
                }
                _ => reserve,
            }
        }
    }
}

/// The state, before learning (see [`select`]).
fn choose_state(
    options: &Options,
    classified: &Classified,
    budget: u64,
    reserve: u64,
    reasons: &mut Vec<Reason>,
) -> VramState {
    if classified.class == DeviceClass::None {
        if !matches!(options.vram, VramMode::Auto | VramMode::Cpu) {
            reasons.push(Reason::new(
                "vram",
                options.vram.name(),
                "ignored: there is no adapter",
            ));
        }
        return VramState::Disabled;
    }
    if let Some(forced) = options.vram.forced_state() {
        reasons.push(Reason::new(
            "vram",
            options.vram.name(),
            format!("forces {forced}"),
        ));
        return forced;
    }
    if reserve >= budget {
        let effect = "reserve ≥ budget: no GPU memory left for webvram, compute on the CPU";
        reasons.push(Reason::new("reserve", bytes_value(reserve), effect));
        return VramState::Disabled;
    }
    match classified.class {
        DeviceClass::Discrete if classified.low_resource => {
            reasons.push(Reason::new(
                "lowResource",
                "true",
                "low-resource discrete GPU: LOW_VRAM",
            ));
            VramState::LowVram
        }
        DeviceClass::Discrete if budget <= LOW_VRAM_THRESHOLD => {
            reasons.push(Reason::new(
                "budget",
                bytes_value(budget),
                "≤ 2 GiB on a discrete GPU: LOW_VRAM",
            ));
            VramState::LowVram
        }
        DeviceClass::Discrete => VramState::NormalVram,
        DeviceClass::Software => {
            let effect = "a GPU emulated on the CPU computes slower than the CPU path: DISABLED \
                          (vram: 'shared' uses it anyway)";
            reasons.push(Reason::new("adapter", "software", effect));
            VramState::Disabled
        }
        _ => VramState::Shared,
    }
}

/// `hostBudget`, else a quarter of RAM up to the wasm cap.
fn choose_host_budget(options: &Options, ram: u64, reasons: &mut Vec<Reason>) -> u64 {
    let (bytes, effect) = match options.host_budget {
        Some(bytes) => (bytes, "hostBudget option"),
        None => (
            budget::default_host_budget(ram),
            "25% of RAM, at most 2 GiB of wasm memory",
        ),
    };
    reasons.push(Reason::new("hostBudget", bytes_value(bytes), effect));
    bytes
}

/// f16 when asked (or `auto`), the adapter has `shader-f16` and the GPU computes; else f32.
/// An explicit `f16` the device cannot honour falls back with a reason instead of failing: the
/// page then runs on every adapter.
fn choose_weight_dtype(
    asked: WeightDtype,
    profile: &AdapterProfile,
    state: VramState,
    reasons: &mut Vec<Reason>,
) -> WeightDtype {
    let (chosen, effect) = match asked {
        WeightDtype::F32 => (WeightDtype::F32, "weightDtype option"),
        _ if state == VramState::Disabled => (WeightDtype::F32, "the CPU backend computes in f32"),
        _ if !profile.has_feature("shader-f16") => (
            WeightDtype::F32,
            "the adapter has no shader-f16: weights are held in f32",
        ),
        _ => (
            WeightDtype::F16,
            "the adapter has shader-f16: weights are held in f16, widened to f32 per layer",
        ),
    };
    reasons.push(Reason::new("weightDtype", chosen.name(), effect));
    chosen
}
