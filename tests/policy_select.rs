//! Table tests of state selection: one row per kind of visitor, every override, and learning.
#![cfg(not(target_arch = "wasm32"))]

use webvram::device::AdapterProfile;
use webvram::policy::units::{GIB, MIB};
use webvram::policy::{
    CpuState, Decision, DeviceClass, LearnedBudget, Options, VramMode, VramState, fingerprint,
    select, step_down_after_oom,
};

/// An available adapter with the given info strings, limits and RAM.
fn adapter(
    vendor: &str,
    architecture: &str,
    description: &str,
    max_buffer: u64,
    binding: u64,
    ram_gib: Option<f64>,
) -> AdapterProfile {
    let mut profile = AdapterProfile {
        available: true,
        vendor: vendor.into(),
        architecture: architecture.into(),
        description: description.into(),
        backend: "webgpu".into(),
        device_memory_gib: ram_gib,
        hardware_concurrency: Some(8),
        ..AdapterProfile::default()
    };
    profile.limits.insert("maxBufferSize".into(), max_buffer);
    profile
        .limits
        .insert("maxStorageBufferBindingSize".into(), binding);
    profile
}

fn swiftshader() -> AdapterProfile {
    let mut profile = adapter("google", "swiftshader", "", GIB, GIB, Some(8.0));
    profile.is_fallback_adapter = true;
    profile
}

fn nvidia(max_buffer: u64) -> AdapterProfile {
    adapter(
        "nvidia",
        "ampere",
        "",
        max_buffer,
        max_buffer.min(2 * GIB),
        Some(8.0),
    )
}

fn amd(max_buffer: u64) -> AdapterProfile {
    adapter(
        "amd",
        "rdna-3",
        "",
        max_buffer,
        max_buffer.min(2 * GIB),
        Some(8.0),
    )
}

/// What a row expects.
struct Expect {
    state: VramState,
    class: DeviceClass,
    budget: u64,
    reserve: u64,
    low_resource: bool,
}

fn expect(
    state: VramState,
    class: DeviceClass,
    budget: u64,
    reserve: u64,
    low_resource: bool,
) -> Expect {
    Expect {
        state,
        class,
        budget,
        reserve,
        low_resource,
    }
}

fn check(name: &str, profile: &AdapterProfile, options: &Options, want: Expect) -> Decision {
    let decision = select(profile, options, None);
    assert_eq!(
        decision.state, want.state,
        "{name}: state; reasons {:#?}",
        decision.reasons
    );
    assert_eq!(decision.device_class, want.class, "{name}: class");
    assert_eq!(
        decision.budget_bytes, want.budget,
        "{name}: budget; reasons {:#?}",
        decision.reasons
    );
    assert_eq!(decision.reserve_bytes, want.reserve, "{name}: reserve");
    assert_eq!(
        decision.low_resource, want.low_resource,
        "{name}: low resource"
    );
    assert_eq!(
        decision.cpu_state,
        CpuState::for_state(want.state),
        "{name}: cpu state"
    );
    assert!(
        !decision.reasons.is_empty(),
        "{name}: every decision carries reasons"
    );
    decision
}

fn forced_shared() -> Options {
    Options {
        vram: VramMode::Shared,
        ..Options::default()
    }
}

/// `auto` leaves a software adapter (SwiftShader, lavapipe, any `isFallbackAdapter`) for the CPU
/// path and says why; `vram: 'shared'` uses it, with the RAM-drawn budget (half of 8 GiB = 4 GiB,
/// exactly the page cap).
#[test]
fn a_software_adapter_computes_on_the_cpu_unless_shared_is_asked() {
    for profile in [swiftshader(), {
        let mut lavapipe = adapter(
            "mesa",
            "",
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            GIB,
            GIB,
            Some(8.0),
        );
        lavapipe.is_fallback_adapter = false;
        lavapipe
    }] {
        let auto = select(&profile, &Options::default(), None);
        assert_eq!(auto.state, VramState::Disabled, "{profile:?}");
        assert_eq!(auto.budget_bytes, 0);
        let reason = (auto.reasons.iter())
            .find(|r| r.signal == "adapter" && r.value == "software")
            .expect("the reason is stated");
        assert!(reason.effect.contains("'shared'"), "{reason}");
        let shared = select(&profile, &forced_shared(), None);
        assert_eq!(shared.state, VramState::Shared);
        assert_eq!(shared.budget_bytes, 4 * GIB);
        assert!(!shared.reasons.iter().any(|r| r.value == "software"));
    }
}

#[test]
fn auto_picks_a_state_for_every_kind_of_visitor() {
    use DeviceClass::*;
    use VramState::*;
    let auto = Options::default();
    let rows = [
        (
            "no adapter",
            AdapterProfile::unavailable("navigator.gpu is undefined"),
            expect(Disabled, None, 0, 0, false),
        ),
        // A software adapter computes slower than the CPU path: no GPU budget.
        (
            "SwiftShader",
            swiftshader(),
            expect(Disabled, Software, 0, 256 * MIB, false),
        ),
        (
            "Apple M-series",
            adapter("apple", "metal-3", "", 4 * GIB, 4 * GIB, Some(8.0)),
            expect(Shared, Integrated, 4 * GIB, 256 * MIB, false),
        ),
        // Half of 4 GiB.
        (
            "Intel integrated",
            adapter("intel", "gen-12lp", "", 2 * GIB, GIB, Some(4.0)),
            expect(Shared, Integrated, 2 * GIB, 256 * MIB, false),
        ),
        // Half of 8 GiB is 4 GiB, capped at 1 GiB for a 128 MiB binding.
        (
            "Android Adreno",
            adapter(
                "qualcomm",
                "adreno-7xx",
                "",
                256 * MIB,
                128 * MIB,
                Some(8.0),
            ),
            expect(Shared, Integrated, GIB, 128 * MIB, true),
        ),
        (
            "Android Mali",
            adapter("arm", "valhall", "", 256 * MIB, 128 * MIB, Some(4.0)),
            expect(Shared, Integrated, GIB, 128 * MIB, true),
        ),
        // Safari gives no deviceMemory: 4 GiB assumed, half is 2 GiB, capped at 1 GiB.
        (
            "iPhone",
            adapter("apple", "common-3", "", 256 * MIB, 128 * MIB, Option::None),
            expect(Shared, Integrated, GIB, 128 * MIB, true),
        ),
        // A 0.5 GiB phone: half is 256 MiB, which the 128 MiB reserve still leaves room in.
        (
            "Android 512 MiB",
            adapter("arm", "", "", 256 * MIB, 128 * MIB, Some(0.5)),
            expect(Shared, Integrated, 256 * MIB, 128 * MIB, true),
        ),
        // 2 × maxBufferSize, ≤ 2 GiB → LOW_VRAM.
        (
            "NVIDIA 1 GiB",
            nvidia(GIB),
            expect(LowVram, Discrete, 2 * GIB, 400 * MIB, false),
        ),
        (
            "NVIDIA 2 GiB",
            nvidia(2 * GIB),
            expect(NormalVram, Discrete, 4 * GIB, 400 * MIB, false),
        ),
        (
            "NVIDIA 4 GiB",
            nvidia(4 * GIB),
            expect(NormalVram, Discrete, 4 * GIB, 400 * MIB, false),
        ),
        (
            "AMD 1 GiB",
            amd(GIB),
            expect(LowVram, Discrete, 2 * GIB, 400 * MIB, false),
        ),
        (
            "AMD 3 GiB",
            amd(3 * GIB),
            expect(NormalVram, Discrete, 4 * GIB, 400 * MIB, false),
        ),
        (
            "AMD 4 GiB",
            amd(4 * GIB),
            expect(NormalVram, Discrete, 4 * GIB, 400 * MIB, false),
        ),
        (
            "AMD APU",
            adapter(
                "amd",
                "rdna-2",
                "AMD Radeon(TM) Graphics",
                2 * GIB,
                GIB,
                Some(8.0),
            ),
            expect(Shared, Integrated, 4 * GIB, 256 * MIB, false),
        ),
        (
            "Intel Arc",
            adapter("intel", "xe-hpg", "", 2 * GIB, GIB, Some(8.0)),
            expect(NormalVram, Discrete, 4 * GIB, 400 * MIB, false),
        ),
        (
            "discrete, 128 MiB bindings",
            adapter("nvidia", "", "", 256 * MIB, 128 * MIB, Some(8.0)),
            expect(LowVram, Discrete, 512 * MIB, 128 * MIB, true),
        ),
        (
            "unknown vendor",
            adapter("", "", "", GIB, GIB, Some(2.0)),
            expect(Shared, Unknown, GIB, 256 * MIB, false),
        ),
    ];
    for (name, profile, want) in rows {
        check(name, &profile, &auto, want);
    }
}

#[test]
fn discrete_without_max_buffer_size_uses_the_spec_default() {
    let mut profile = nvidia(GIB);
    profile.limits.clear();
    // 2 × 256 MiB.
    check(
        "no limits",
        &profile,
        &Options::default(),
        expect(
            VramState::LowVram,
            DeviceClass::Discrete,
            512 * MIB,
            400 * MIB,
            false,
        ),
    );
}

#[test]
fn windows_discrete_reserves_600_mib_like_comfyui() {
    let mut profile = nvidia(2 * GIB);
    profile.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)".into());
    assert_eq!(
        select(&profile, &Options::default(), None).reserve_bytes,
        600 * MIB
    );
}

#[test]
fn every_vram_override_wins_when_there_is_an_adapter() {
    let rows = [
        (VramMode::Auto, VramState::NormalVram),
        (VramMode::High, VramState::HighVram),
        (VramMode::Normal, VramState::NormalVram),
        (VramMode::Low, VramState::LowVram),
        (VramMode::None, VramState::NoVram),
        (VramMode::Cpu, VramState::Disabled),
    ];
    for (vram, state) in rows {
        let options = Options {
            vram,
            ..Options::default()
        };
        let decision = select(&nvidia(2 * GIB), &options, None);
        assert_eq!(decision.state, state, "vram = {}", vram.name());
        let budget = if state == VramState::Disabled {
            0
        } else {
            4 * GIB
        };
        assert_eq!(decision.budget_bytes, budget, "vram = {}", vram.name());
    }
    let high_on_apple = Options {
        vram: VramMode::High,
        ..Options::default()
    };
    let decision = select(
        &adapter("apple", "metal-3", "", 4 * GIB, 4 * GIB, Some(8.0)),
        &high_on_apple,
        None,
    );
    assert_eq!(decision.state, VramState::HighVram);
    assert!(
        decision.unified_memory,
        "the override changes the state, not the memory"
    );
}

#[test]
fn overrides_cannot_conjure_a_gpu() {
    for vram in [
        VramMode::High,
        VramMode::Normal,
        VramMode::Low,
        VramMode::None,
        VramMode::Cpu,
    ] {
        let options = Options {
            vram,
            vram_budget: Some(8 * GIB),
            ..Options::default()
        };
        let decision = select(&AdapterProfile::unavailable("no WebGPU"), &options, None);
        assert_eq!(decision.state, VramState::Disabled);
        assert_eq!(decision.budget_bytes, 0);
    }
    let options = Options {
        vram: VramMode::High,
        ..Options::default()
    };
    let decision = select(&AdapterProfile::unavailable("no WebGPU"), &options, None);
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.signal == "vram" && r.effect.contains("ignored"))
    );
}

#[test]
fn reserve_and_budget_options_replace_the_defaults() {
    let options = Options {
        reserve_vram: Some(GIB),
        ..Options::default()
    };
    assert_eq!(select(&nvidia(2 * GIB), &options, None).reserve_bytes, GIB);
    // An explicit budget is honoured above the page cap, and decides LOW vs NORMAL in auto.
    let big = Options {
        vram_budget: Some(12 * GIB),
        ..Options::default()
    };
    let decision = select(&nvidia(GIB), &big, None);
    assert_eq!(
        (
            decision.state,
            decision.budget_bytes,
            decision.estimate_bytes
        ),
        (VramState::NormalVram, 12 * GIB, 2 * GIB)
    );
    let small = Options {
        vram_budget: Some(GIB),
        ..Options::default()
    };
    assert_eq!(
        select(&nvidia(4 * GIB), &small, None).state,
        VramState::LowVram
    );
}

#[test]
fn reserve_at_least_the_budget_computes_on_the_cpu_in_auto() {
    // Documented outcome: the reserve leaves no GPU memory, so auto picks DISABLED.
    let options = Options {
        reserve_vram: Some(5 * GIB),
        ..Options::default()
    };
    let decision = select(&nvidia(4 * GIB), &options, None);
    assert_eq!(
        (decision.state, decision.budget_bytes),
        (VramState::Disabled, 0)
    );
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.effect.contains("reserve ≥ budget"))
    );
    // Equal counts too.
    let equal = Options {
        reserve_vram: Some(4 * GIB),
        ..Options::default()
    };
    assert_eq!(
        select(&nvidia(4 * GIB), &equal, None).state,
        VramState::Disabled
    );
    // A quarter-GiB laptop: half of RAM (128 MiB) is below the 256 MiB shared reserve.
    let tiny = adapter("intel", "gen-9", "", GIB, GIB, Some(0.25));
    assert_eq!(
        select(&tiny, &Options::default(), None).state,
        VramState::Disabled
    );
    // An explicit state keeps the override; usable bytes are 0, so loads fail with DoesNotFit.
    let forced = Options {
        vram: VramMode::Low,
        ..options
    };
    let decision = select(&nvidia(4 * GIB), &forced, None);
    assert_eq!(
        (decision.state, decision.usable_bytes()),
        (VramState::LowVram, 0)
    );
}

#[test]
fn derived_numbers_follow_the_budget_and_vendor() {
    let decision = select(&nvidia(2 * GIB), &Options::default(), None);
    assert_eq!(decision.min_inference_bytes, 512 * MIB, "4 GiB / 8");
    assert_eq!(
        decision.minimum_inference_memory(),
        912 * MIB,
        "plus the 400 MiB reserve"
    );
    assert_eq!(
        decision.min_weight_ratio_permille, 0,
        "ComfyUI uses 0.0 on NVIDIA"
    );
    assert_eq!(
        select(&amd(2 * GIB), &Options::default(), None).min_weight_ratio_permille,
        400
    );
    assert_eq!(
        decision.host_budget_bytes,
        2 * GIB,
        "25% of 8 GiB, at the wasm cap"
    );
    let options = Options {
        host_budget: Some(512 * MIB),
        ..Options::default()
    };
    assert_eq!(
        select(&swiftshader(), &options, None).host_budget_bytes,
        512 * MIB
    );
    assert!(!decision.unified_memory);
    assert!(select(&swiftshader(), &Options::default(), None).unified_memory);
}

#[test]
fn reasons_name_the_signals_that_gave_each_number() {
    let decision = select(
        &adapter(
            "qualcomm",
            "adreno-7xx",
            "",
            256 * MIB,
            128 * MIB,
            Some(8.0),
        ),
        &Options::default(),
        None,
    );
    let signals: Vec<&str> = decision.reasons.iter().map(|r| r.signal.as_str()).collect();
    for expected in [
        "adapter.vendor",
        "limits.maxStorageBufferBindingSize",
        "navigator.deviceMemory",
        "ram",
        "low-resource cap",
        "reserve (default)",
        "hostBudget",
        "state",
    ] {
        assert!(
            signals.contains(&expected),
            "missing {expected} in {signals:?}"
        );
    }
    let ram = decision
        .reasons
        .iter()
        .find(|r| r.signal == "navigator.deviceMemory")
        .unwrap();
    assert!(
        ram.effect.contains("caps"),
        "the 8 GiB report cap is stated: {ram}"
    );
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["state"], "SHARED");
    assert_eq!(json["deviceClass"], "integrated");
    assert_eq!(json["reserveBytes"], 128 * MIB);
    assert!(json["reasons"][0]["effect"].is_string());
}

#[test]
fn a_learned_budget_starts_the_next_visit_stepped_down() {
    let profile = nvidia(2 * GIB);
    let first = select(&profile, &Options::default(), None);
    let (after_one, _) = step_down_after_oom(&first, 10);
    let (_, learned) = step_down_after_oom(&after_one, 20);
    // 4 GiB → 3 GiB → 2.25 GiB; NORMAL → LOW → NO_VRAM.
    assert_eq!(
        (learned.budget_bytes, learned.state, learned.oom_count),
        (9 * GIB / 4, VramState::NoVram, 2)
    );
    let stored = LearnedBudget::from_json(&learned.to_json()).unwrap();
    let next = select(&profile, &Options::default(), Some(&stored));
    assert_eq!(
        (next.state, next.budget_bytes, next.oom_count),
        (VramState::NoVram, 9 * GIB / 4, 2)
    );
    assert_eq!(next.fingerprint, fingerprint(&profile));
    assert!(next.reasons.iter().any(|r| r.signal == "learnedBudget"));
    // Another adapter ignores it.
    let other = select(&amd(2 * GIB), &Options::default(), Some(&stored));
    assert_eq!(
        (other.state, other.budget_bytes),
        (VramState::NormalVram, 4 * GIB)
    );
    // Explicit options win over what was learned.
    let explicit = Options {
        vram: VramMode::High,
        vram_budget: Some(6 * GIB),
        ..Options::default()
    };
    let next = select(&profile, &explicit, Some(&stored));
    assert_eq!(
        (next.state, next.budget_bytes),
        (VramState::HighVram, 6 * GIB)
    );
    // A learned budget above the estimate changes nothing.
    let generous = LearnedBudget {
        budget_bytes: 64 * GIB,
        state: VramState::HighVram,
        ..stored
    };
    let next = select(&profile, &Options::default(), Some(&generous));
    assert_eq!(
        (next.state, next.budget_bytes),
        (VramState::NormalVram, 4 * GIB)
    );
}

#[test]
fn out_of_memory_steps_down_high_normal_low_novram() {
    let options = Options {
        vram: VramMode::High,
        ..Options::default()
    };
    let mut decision = select(&nvidia(4 * GIB), &options, None);
    let mut states = vec![decision.state];
    let mut budgets = vec![decision.budget_bytes];
    for now in 1..=4 {
        decision = step_down_after_oom(&decision, now).0;
        states.push(decision.state);
        budgets.push(decision.budget_bytes);
    }
    use VramState::*;
    assert_eq!(states, [HighVram, NormalVram, LowVram, NoVram, NoVram]);
    assert_eq!(
        budgets,
        [4 * GIB, 3 * GIB, 9 * GIB / 4, 27 * GIB / 16, 81 * GIB / 64]
    );
    assert_eq!(decision.oom_count, 4);
    assert!(
        decision
            .reasons
            .iter()
            .filter(|r| r.signal == "out-of-memory")
            .count()
            == 4
    );
    let shared = select(&swiftshader(), &forced_shared(), None);
    assert_eq!(step_down_after_oom(&shared, 0).0.state, LowVram);
}

#[test]
fn fingerprint_is_stable_and_ignores_options() {
    let profile = swiftshader();
    let a = select(&profile, &Options::default(), None).fingerprint;
    let b = select(
        &profile,
        &Options {
            vram: VramMode::Low,
            ..Options::default()
        },
        None,
    )
    .fingerprint;
    assert_eq!(a, b);
    assert_eq!(a, fingerprint(&profile));
    assert_ne!(a, fingerprint(&nvidia(GIB)));
}

#[test]
fn a_small_given_budget_keeps_three_quarters_for_webvram() {
    let options = |budget: u64, reserve: Option<u64>| Options {
        vram: VramMode::Low,
        vram_budget: Some(budget),
        reserve_vram: reserve,
        ..Options::default()
    };
    // The discrete default reserve (400 MiB here) would swallow a 24 MiB budget whole.
    let small = select(&nvidia(8 * GIB), &options(24 * MIB, None), None);
    assert_eq!(small.reserve_bytes, 6 * MIB);
    assert!(
        small.reasons.iter().any(|r| r.effect.contains("quarter")),
        "{:#?}",
        small.reasons
    );
    // A large budget keeps the default; an explicit reserve is the caller's word.
    let default = select(&nvidia(8 * GIB), &Options::default(), None).reserve_bytes;
    assert!(default > 6 * MIB);
    let large = select(&nvidia(8 * GIB), &options(4 * GIB, None), None);
    assert_eq!(large.reserve_bytes, default);
    let explicit = select(&nvidia(8 * GIB), &options(24 * MIB, Some(20 * MIB)), None);
    assert_eq!(explicit.reserve_bytes, 20 * MIB);
}

/// Every (option, shader-f16, state) combination: f16 only where asked or `auto`, the adapter has
/// `shader-f16` and the GPU computes; the reason names why, and an OOM step-down keeps it.
#[test]
fn weights_are_held_in_f16_only_where_the_adapter_can_and_the_gpu_computes() {
    use webvram::policy::WeightDtype;

    for asked in [WeightDtype::Auto, WeightDtype::F32, WeightDtype::F16] {
        for has_f16 in [false, true] {
            for vram in [VramMode::Auto, VramMode::Low, VramMode::None, VramMode::Cpu] {
                let mut profile = nvidia(8 * GIB);
                if has_f16 {
                    profile.features.push("shader-f16".into());
                }
                let options = Options {
                    vram,
                    weight_dtype: asked,
                    ..Options::default()
                };
                let decision = select(&profile, &options, None);
                let f16 = asked != WeightDtype::F32 && has_f16 && vram != VramMode::Cpu;
                let want = if f16 {
                    WeightDtype::F16
                } else {
                    WeightDtype::F32
                };
                let case = format!("{asked:?}, shader-f16 {has_f16}, {vram:?}");
                assert_eq!(decision.weight_dtype, want, "{case}");
                let reason = (decision.reasons.iter())
                    .find(|r| r.signal == "weightDtype")
                    .unwrap_or_else(|| panic!("{case}: no weightDtype reason"));
                assert_eq!(reason.value, want.name(), "{case}");
                let why = match (asked, vram, has_f16) {
                    (WeightDtype::F32, ..) => "option",
                    (_, VramMode::Cpu, _) => "CPU",
                    (_, _, false) => "no shader-f16",
                    _ => "has shader-f16",
                };
                assert!(reason.effect.contains(why), "{case}: {reason:?}");
                let (stepped, _) = step_down_after_oom(&decision, 1);
                assert_eq!(stepped.weight_dtype, want, "{case}: after an OOM");
            }
        }
    }
    assert_eq!(swiftshader().features, Vec::<String>::new());
    let shared = select(&swiftshader(), &forced_shared(), None);
    assert_eq!(
        shared.weight_dtype,
        WeightDtype::F32,
        "SwiftShader has no f16"
    );
}
