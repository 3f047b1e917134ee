//! Scenario tests that replay ComfyUI's decisions on worked examples. Every expected number is
//! worked out by hand in the comments, from the formulas quoted there.
#![cfg(not(target_arch = "wasm32"))]

use webvram::manager::{
    Dtype, InferenceEstimate, LayerSpec, LoadRequest, Manager, ManagerError, ModelId, ModelSpec,
    MoveOutcome, PlanKind, Tier, Workload,
};
use webvram::policy::units::MIB;
use webvram::policy::{Decision, Options, VramState};

/// A model whose layers have the given sizes in MiB, in order of use, already in the cache.
fn model(name: &str, sizes_mib: &[u64]) -> ModelSpec {
    let layers = (sizes_mib.iter().enumerate())
        .map(|(i, mib)| LayerSpec::new(format!("{name}.{i}"), i as u32, Dtype::F32, mib * MIB))
        .collect();
    ModelSpec {
        name: name.into(),
        dtype: Dtype::F32,
        layers,
        inference: InferenceEstimate::Fixed(0),
        cached: true,
    }
}

/// A manager with a fixed decision (minimum inference = budget / 8) and no host copies, so the
/// GPU arithmetic is all there is to check.
fn manager(state: VramState, budget_mib: u64, reserve_mib: u64) -> Manager {
    let options = Options {
        keep_host_copy: Some(false),
        ..Options::default()
    };
    Manager::new(
        Decision::fixed(state, budget_mib * MIB, reserve_mib * MIB),
        &options,
    )
}

fn load(manager: &mut Manager, request: LoadRequest, now_ms: u64) -> webvram::manager::Plan {
    let plan = manager
        .load_models_gpu(&request, now_ms)
        .expect("load plans");
    let report = manager.confirm_all(&plan);
    assert!(report.stale.is_empty(), "a fresh plan is never stale");
    assert_eq!(report.gpu_bytes, plan.gpu_bytes_after);
    plan
}

fn layers_on(manager: &Manager, id: ModelId, tier: Tier) -> Vec<usize> {
    let map = manager.memory_map();
    map.layers
        .iter()
        .filter(|l| l.model == id && l.tier == tier)
        .map(|l| l.layer)
        .collect()
}

fn gpu_of(manager: &Manager, id: ModelId) -> u64 {
    manager
        .memory_map()
        .models
        .iter()
        .find(|m| m.model == id)
        .unwrap()
        .tier_bytes[0]
}

#[test]
fn partial_load_fills_the_lowvram_budget_largest_first() {
    // NORMAL_VRAM, budget 4096 MiB, reserve 400 MiB, inference floor 4096/8 = 512 MiB.
    // minimum_inference = 512 + 400 = 912; extra = max(912, 1000 + 400) = 1400 = minimum_required.
    // free_memory(3300 × 1.1 + 1400) has nothing to unload.
    // cur = 4096: budget = max(128, 4096 − 1400, min(4096 × 0.4, 4096 − 912))
    //                    = max(128, 2696, min(1638.4, 3184)) = 2696 MiB (under cur − reserve = 3696).
    // Largest first, strictly below 2696: 1000 → 1000, 800 → 1800, 600 → 2400, 400 → 2800 ✗,
    // 300 → 2700 ✗, 200 → 2600 ✓. GPU: layers 0, 1, 2, 5 = 2600 MiB; 3 and 4 wait in wasm memory.
    let mut m = manager(VramState::NormalVram, 4096, 400);
    let big = m
        .register(model("big", &[1000, 800, 600, 400, 300, 200]))
        .unwrap();
    let plan = load(
        &mut m,
        LoadRequest::new([big]).with_memory_required(1000 * MIB),
        1,
    );
    let budget = plan.weight_budgets[0];
    assert_eq!(
        (
            budget.current_free_bytes,
            budget.budget_bytes,
            budget.full_load
        ),
        (4096 * MIB, 2696 * MIB, false)
    );
    assert_eq!(layers_on(&m, big, Tier::Gpu), [0, 1, 2, 5]);
    assert_eq!(layers_on(&m, big, Tier::Host), [3, 4]);
    assert_eq!(m.gpu_bytes(), 2600 * MIB);
    assert_eq!(m.host_bytes(), 700 * MIB);
}

#[test]
fn a_second_model_partially_unloads_the_first_smallest_layers_first() {
    let mut m = manager(VramState::NormalVram, 4096, 400);
    let big = m
        .register(model("big", &[1000, 800, 600, 400, 300, 200]))
        .unwrap();
    let small = m.register(model("small", &[500, 400])).unwrap();
    load(
        &mut m,
        LoadRequest::new([big]).with_memory_required(1000 * MIB),
        1,
    );
    // Load `small` with 300 MiB of inference: extra = max(912, 300 + 400) = 912.
    // free_memory(900 × 1.1 + 912 = 1902): free = 4096 − 2600 = 1496, so `big` must give 406.
    // 406 < 2600 loaded → partial unload, smallest first until freed > 406: 200 (freed 200),
    // 600 (freed 800) → stop; `big` keeps 1000 + 800 = 1800 and stays loaded. free = 2296.
    // `small`: cur = 2296, budget = max(128, 2296 − 912, min(918.4, 1384)) = 1384 MiB:
    // 500 → 500, 400 → 900, both fit. GPU = 1800 + 900 = 2700 MiB.
    let plan = load(
        &mut m,
        LoadRequest::new([small]).with_memory_required(300 * MIB),
        2,
    );
    let released: Vec<_> = plan
        .moves
        .iter()
        .filter(|mv| mv.is_release())
        .map(|mv| (mv.model, mv.layer))
        .collect();
    assert_eq!(released, [(big, 5), (big, 2)]);
    assert!(
        plan.unloaded.is_empty(),
        "a partial unload keeps the model loaded"
    );
    assert_eq!(plan.weight_budgets[0].budget_bytes, 1384 * MIB);
    assert_eq!(
        (gpu_of(&m, big), gpu_of(&m, small)),
        (1800 * MIB, 900 * MIB)
    );
    assert_eq!(m.loaded_models(), [small, big], "most recent first");
}

#[test]
fn minimum_memory_required_widens_the_weight_budget() {
    // As the first scenario, but minimum_memory_required = 200 MiB:
    // minimum_required = max(912, 200 + 400) = 912; budget = max(128, 4096 − 912, 1638.4) = 3184.
    // 1000, 1800, 2400, 2800, 3100 fit; 3300 does not → 3100 MiB on the GPU (layers 0–4).
    let mut m = manager(VramState::NormalVram, 4096, 400);
    let big = m
        .register(model("big", &[1000, 800, 600, 400, 300, 200]))
        .unwrap();
    let request = LoadRequest::new([big])
        .with_memory_required(1000 * MIB)
        .with_minimum_memory_required(200 * MIB);
    let plan = load(&mut m, request, 1);
    assert_eq!(plan.weight_budgets[0].budget_bytes, 3184 * MIB);
    assert_eq!(layers_on(&m, big, Tier::Gpu), [0, 1, 2, 3, 4]);
}

#[test]
fn the_weight_ratio_counts_except_on_nvidia() {
    // Budget 2048, reserve 400, floor 2048/8 = 256 → minimum_inference 656.
    // memory_required 1200 → extra = minimum_required = max(656, 1600) = 1600.
    // AMD (ratio 0.4): max(128, 2048 − 1600, min(819.2, 2048 − 656)) = 819.2 MiB → 300, 600 fit.
    // NVIDIA (ratio 0): max(128, 448, min(0, 1392)) = 448 MiB → only 300 fits.
    for (ratio, budget, gpu_mib) in [(400, 858_993_459, 600), (0, 448 * MIB, 300)] {
        let mut decision = Decision::fixed(VramState::NormalVram, 2048 * MIB, 400 * MIB);
        decision.min_weight_ratio_permille = ratio;
        let mut m = Manager::new(decision, &Options::default());
        let id = m.register(model("ten", &[300; 10])).unwrap();
        let plan = load(
            &mut m,
            LoadRequest::new([id]).with_memory_required(1200 * MIB),
            1,
        );
        assert_eq!(plan.weight_budgets[0].budget_bytes, budget, "ratio {ratio}");
        assert_eq!(m.gpu_bytes(), gpu_mib * MIB, "ratio {ratio}");
    }
}

#[test]
fn the_128_mib_floor_applies_but_never_eats_the_reserve() {
    // NVIDIA-like ratio 0, budget 1024, reserve 128, floor 128 → minimum_inference 256.
    // memory_required 800 → minimum_required = 928: max(128, 1024 − 928, 0) = 128 MiB → one
    // 64 MiB layer fits (64 < 128), a second does not (128 < 128 is false).
    let mut decision = Decision::fixed(VramState::LowVram, 1024 * MIB, 128 * MIB);
    decision.min_weight_ratio_permille = 0;
    let mut m = Manager::new(decision, &Options::default());
    let id = m.register(model("eight", &[64; 8])).unwrap();
    let plan = load(
        &mut m,
        LoadRequest::new([id]).with_memory_required(800 * MIB),
        1,
    );
    assert_eq!(
        (plan.weight_budgets[0].budget_bytes, m.gpu_bytes()),
        (128 * MIB, 64 * MIB)
    );

    // Budget 512, reserve 448: ComfyUI's formula gives max(128, 512 − 512, min(204.8, 0)) =
    // 128 MiB, which would put 128 MiB of weights in a 64 MiB gap. webvram caps it at
    // cur − reserve = 64 MiB: one 32 MiB layer.
    let mut m = manager(VramState::LowVram, 512, 448);
    let id = m.register(model("four", &[32; 4])).unwrap();
    let plan = load(&mut m, LoadRequest::new([id]), 1);
    assert_eq!(
        (plan.weight_budgets[0].budget_bytes, m.gpu_bytes()),
        (64 * MIB, 32 * MIB)
    );
}

/// Five models loaded in one request (so even without smart memory none unloads another), with
/// different unload keys: D's second layer failed to upload (200 MiB offloaded), C is held, E and
/// B tie on size but E is more recent. Returns the manager and [A, B, C, D, E].
fn five_models(options: Options) -> (Manager, [ModelId; 5]) {
    let mut m = Manager::new(
        Decision::fixed(VramState::HighVram, 4096 * MIB, 0),
        &options,
    );
    let ids = [
        m.register(model("A", &[500])).unwrap(),
        m.register(model("B", &[300])).unwrap(),
        m.register(model("C", &[300])).unwrap(),
        m.register(model("D", &[200, 200])).unwrap(),
        m.register(model("E", &[150, 150])).unwrap(),
    ];
    let plan = m.load_models_gpu(&LoadRequest::new(ids), 1).unwrap();
    let outcome = |mv: &webvram::manager::LayerMove| {
        if mv.model == ids[3] && mv.layer == 1 {
            MoveOutcome::Failed
        } else {
            MoveOutcome::Done
        }
    };
    let outcomes: Vec<_> = plan.moves.iter().map(outcome).collect();
    m.confirm(&plan, &outcomes).unwrap();
    m.hold(ids[2]).unwrap();
    assert_eq!(m.loaded_models(), [ids[4], ids[3], ids[2], ids[1], ids[0]]);
    (m, ids)
}

#[test]
fn without_smart_memory_every_candidate_unloads_whole_in_comfyui_order() {
    // Order: most offloaded (D: 200 offloaded), then unheld before held, then smallest, then most
    // recent: E (300, newer) before B (300), then A (500), then the held C.
    let (m, [a, b, c, d, e]) = five_models(Options {
        smart_memory: false,
        keep_host_copy: Some(false),
        ..Options::default()
    });
    assert_eq!(m.gpu_bytes(), (500 + 300 + 300 + 200 + 300) * MIB);
    let plan = m.free_memory(0, &[]).unwrap();
    assert_eq!(plan.unloaded, [d, e, b, a, c]);
    assert!(plan.empty_cache);
    assert_eq!(plan.gpu_bytes_after, 0);
    let kept = m.free_memory(0, &[a]).unwrap();
    assert_eq!(kept.unloaded, [d, e, b, c], "keep_loaded is never unloaded");
}

#[test]
fn without_smart_memory_each_load_unloads_every_other_model() {
    let options = Options {
        smart_memory: false,
        ..Options::default()
    };
    let mut m = Manager::new(
        Decision::fixed(VramState::HighVram, 4096 * MIB, 0),
        &options,
    );
    let a = m.register(model("A", &[100])).unwrap();
    let b = m.register(model("B", &[100])).unwrap();
    load(&mut m, LoadRequest::new([a]), 1);
    let plan = load(&mut m, LoadRequest::new([b]), 2);
    assert_eq!(
        plan.unloaded,
        [a],
        "no early stop, although 3996 MiB were free"
    );
    assert_eq!(m.loaded_models(), [b]);
}

#[test]
fn smart_memory_stops_early_and_unloads_partially() {
    // GPU 1600, free 2496. free_memory(2796): D first, to_free 300 ≥ its 200 loaded → whole
    // unload, free 2696. E: to_free 100 < 300 → partial: its smaller-or-equal first layer (150)
    // frees 150 > 100 → E stays with 150. free 2846 > 2796 → stop; B, A, C untouched.
    let (mut m, [a, b, c, d, e]) = five_models(Options {
        keep_host_copy: Some(false),
        ..Options::default()
    });
    let plan = m.free_memory(2796 * MIB, &[]).unwrap();
    assert_eq!(plan.unloaded, [d]);
    m.confirm_all(&plan);
    assert_eq!(m.free_bytes(), 2846 * MIB);
    assert_eq!(
        [a, b, c, e].map(|id| gpu_of(&m, id) / MIB),
        [500, 300, 300, 150]
    );
    assert_eq!(m.loaded_models(), [e, c, b, a]);
}

#[test]
fn no_vram_keeps_weights_off_the_gpu() {
    // NO_VRAM: ComfyUI's lowvram_model_memory = 0.1, i.e. no weight stays on the GPU; every layer
    // waits in wasm memory and is copied in for its forward call. force_full_load is ignored.
    let mut m = manager(VramState::NoVram, 2048, 0);
    let id = m.register(model("m", &[300, 200])).unwrap();
    let plan = load(&mut m, LoadRequest::new([id]).with_force_full_load(true), 1);
    assert_eq!(
        (
            plan.weight_budgets[0].budget_bytes,
            m.gpu_bytes(),
            m.host_bytes()
        ),
        (0, 0, 500 * MIB)
    );
    assert_eq!(m.loaded_models(), [id]);
}

#[test]
fn shared_loads_whole_models_without_host_copies() {
    // SHARED: whole model; unified memory, so no wasm copy; an unload drops the layers back to the
    // cache and the next load reads them from there.
    let mut m = Manager::new(
        Decision::fixed(VramState::Shared, 2048 * MIB, 256 * MIB),
        &Options::default(),
    );
    let id = m.register(model("m", &[400, 300])).unwrap();
    let plan = load(&mut m, LoadRequest::new([id]), 1);
    assert!(plan.weight_budgets[0].full_load);
    assert!(
        plan.moves
            .iter()
            .all(|mv| mv.from == Tier::Cache && mv.to == Tier::Gpu && !mv.keep_host_copy)
    );
    assert_eq!((m.gpu_bytes(), m.host_bytes()), (700 * MIB, 0));
    let unload = m.unload_all();
    assert!(unload.moves.iter().all(|mv| mv.to == Tier::Cache));
    m.confirm_all(&unload);
    let reload = load(&mut m, LoadRequest::new([id]), 2);
    assert!(reload.moves.iter().all(|mv| mv.from == Tier::Cache));
}

#[test]
fn discrete_gpus_keep_host_copies_so_eviction_needs_no_reread() {
    let mut m = Manager::new(
        Decision::fixed(VramState::NormalVram, 4096 * MIB, 400 * MIB),
        &Options::default(),
    );
    let id = m.register(model("m", &[400, 300])).unwrap();
    let plan = load(&mut m, LoadRequest::new([id]), 1);
    assert!(plan.moves.iter().all(|mv| mv.keep_host_copy));
    assert_eq!(
        (m.gpu_bytes(), m.host_bytes()),
        (700 * MIB, 700 * MIB),
        "the deliberate double count"
    );
    let unload = m.unload_all();
    assert!(
        unload
            .moves
            .iter()
            .all(|mv| mv.from == Tier::Gpu && mv.to == Tier::Host)
    );
    m.confirm_all(&unload);
    assert_eq!((m.gpu_bytes(), m.host_bytes()), (0, 700 * MIB));
    let reload = load(&mut m, LoadRequest::new([id]), 2);
    assert!(reload.moves.iter().all(|mv| mv.from == Tier::Host));
}

#[test]
fn shared_falls_back_to_a_partial_load_when_the_model_exceeds_the_budget() {
    // cur − reserve = 1024 − 256 = 768 < 1000: ComfyUI would load it all and run out of memory;
    // webvram loads largest first below 768: 400, 700, then 200 (900) and 100 (800) do not fit.
    let mut m = manager(VramState::Shared, 1024, 256);
    let id = m.register(model("m", &[400, 300, 200, 100])).unwrap();
    let plan = load(&mut m, LoadRequest::new([id]), 1);
    assert_eq!(
        (
            plan.weight_budgets[0].budget_bytes,
            plan.weight_budgets[0].full_load
        ),
        (768 * MIB, false)
    );
    assert_eq!(layers_on(&m, id, Tier::Gpu), [0, 1]);
    assert_eq!(layers_on(&m, id, Tier::Host), [2, 3]);
}

#[test]
fn what_cannot_fit_is_a_typed_error_with_the_numbers() {
    let mut m = manager(VramState::Shared, 1024, 256);
    let id = m.register(model("m", &[400, 300, 200, 100])).unwrap();
    let err = m
        .load_models_gpu(&LoadRequest::new([id]).with_force_full_load(true), 1)
        .unwrap_err();
    assert_eq!(
        err,
        ManagerError::DoesNotFit {
            model: "m".into(),
            needed: 1000 * MIB,
            available: 768 * MIB,
            tier: Tier::Gpu,
            what: "a forced full load"
        }
    );
    let wide = m.register(model("wide", &[700])).unwrap();
    let err = m
        .load_models_gpu(&LoadRequest::new([wide]).with_memory_required(100 * MIB), 1)
        .unwrap_err();
    assert!(
        matches!(err, ManagerError::DoesNotFit { needed, available, .. } if needed == 800 * MIB && available == 768 * MIB)
    );
    assert!(
        err.to_string().contains("\"wide\"") && err.to_string().contains("800 MiB"),
        "{err}"
    );
    assert_eq!(m.gpu_bytes(), 0, "a failed plan changes nothing");
    // A forced state whose reserve swallows the budget: every load is refused.
    let mut m = manager(VramState::LowVram, 1024, 1024);
    let id = m.register(model("m", &[1])).unwrap();
    assert!(matches!(
        m.load_models_gpu(&LoadRequest::new([id]), 0),
        Err(ManagerError::DoesNotFit { available: 0, .. })
    ));
}

#[test]
fn the_cpu_path_fills_wasm_memory_and_evicts_least_recently_used() {
    let mut decision = Decision::fixed(VramState::Disabled, 0, 0);
    decision.host_budget_bytes = 1000 * MIB;
    let mut m = Manager::new(decision, &Options::default());
    let mut spec_a = model("A", &[400, 300]);
    spec_a.cached = false;
    let a = m.register(spec_a).unwrap();
    let b = m.register(model("B", &[500, 200])).unwrap();
    let plan = load(&mut m, LoadRequest::new([a]), 1);
    assert!(
        plan.moves
            .iter()
            .all(|mv| mv.from == Tier::Remote && mv.to == Tier::Host)
    );
    // B needs 700 of the 300 left: A's layers go, last first, back to the network (not cached).
    let plan = load(&mut m, LoadRequest::new([b]), 2);
    let evicted: Vec<_> = plan
        .moves
        .iter()
        .filter(|mv| mv.model == a)
        .map(|mv| (mv.layer, mv.to))
        .collect();
    assert_eq!(evicted, [(1, Tier::Remote), (0, Tier::Remote)]);
    assert_eq!((m.gpu_bytes(), m.host_bytes()), (0, 700 * MIB));
    // A layer larger than the whole host budget cannot run on the CPU path.
    let huge = m.register(model("huge", &[1001])).unwrap();
    let err = m.load_models_gpu(&LoadRequest::new([huge]), 3).unwrap_err();
    assert!(matches!(
        err,
        ManagerError::DoesNotFit {
            tier: Tier::Host,
            ..
        }
    ));
}

/// The plan never books a layer into the cache: storing is the fetch layer's job, reported with
/// `mark_cached`. A layer that fits nowhere in memory stays where it is and streams per call.
#[test]
fn layers_that_fit_nowhere_in_memory_stay_where_they_are() {
    let mut decision = Decision::fixed(VramState::Disabled, 0, 0);
    decision.host_budget_bytes = 300 * MIB;
    let mut m = Manager::new(decision, &Options::default());
    let mut spec = model("C", &[200, 200]);
    spec.cached = false;
    let id = m.register(spec).unwrap();
    load(&mut m, LoadRequest::new([id]), 1);
    assert_eq!(
        [0, 1].map(|l| m.layer_state(id, l).unwrap().tier),
        [Tier::Host, Tier::Remote]
    );
    m.mark_cached(id, 1).unwrap();
    assert_eq!(m.layer_state(id, 1).unwrap().tier, Tier::Cache);
    m.mark_uncached(id, 1).unwrap();
    assert_eq!(m.layer_state(id, 1).unwrap().tier, Tier::Remote);
    // A pinned table counts in the host tier and its budget.
    m.set_pinned_host_bytes(id, 50 * MIB).unwrap();
    assert_eq!(m.host_bytes(), 250 * MIB);
    assert_eq!(m.host_room(), 50 * MIB);
    assert_eq!(m.memory_map().models[0].pinned_host_bytes, 50 * MIB);
}

#[test]
fn out_of_memory_steps_down_unloads_everything_and_learns() {
    let mut m = Manager::new(
        Decision::fixed(VramState::HighVram, 4096 * MIB, 0),
        &Options::default(),
    );
    let id = m.register(model("m", &[1000, 1000, 1000])).unwrap();
    load(&mut m, LoadRequest::new([id]), 1);
    assert_eq!(m.gpu_bytes(), 3000 * MIB);
    let step = m.on_oom(5);
    assert_eq!(step.plan.kind, PlanKind::OutOfMemory);
    // 75% of 4096 is 3072, but the device failed while holding 3000: the budget is capped at what
    // it held less the largest layer (the one the executor would prefetch), 2000.
    assert_eq!(
        (m.decision().state, m.decision().budget_bytes),
        (VramState::NormalVram, 2000 * MIB)
    );
    assert_eq!(
        (
            step.learned.budget_bytes,
            step.learned.oom_count,
            step.learned.updated_ms
        ),
        (2000 * MIB, 1, 5)
    );
    m.confirm_all(&step.plan);
    assert_eq!(m.gpu_bytes(), 0);
    // The retry under NORMAL_VRAM, budget 2000, reserve 0, floor 250: budget =
    // max(128, 2000 − 250, min(800, 1750)) = 1750 → one 1000 MiB layer.
    let plan = load(&mut m, LoadRequest::new([id]), 6);
    assert_eq!(plan.weight_budgets[0].budget_bytes, 1750 * MIB);
    assert_eq!(m.gpu_bytes(), 1000 * MIB);
}

#[test]
fn idle_models_give_back_gpu_and_wasm_memory() {
    let options = Options {
        idle_unload_ms: Some(60_000),
        ..Options::default()
    };
    let mut m = Manager::new(
        Decision::fixed(VramState::NormalVram, 4096 * MIB, 0),
        &options,
    );
    let a = m.register(model("A", &[100, 100])).unwrap();
    let b = m.register(model("B", &[100])).unwrap();
    assert_eq!(m.next_idle_deadline(), None, "nothing resident");
    load(&mut m, LoadRequest::new([a]), 0);
    load(&mut m, LoadRequest::new([b]), 50_000);
    assert_eq!(m.next_idle_deadline(), Some(60_000));
    assert!(m.idle_unload(59_999).is_empty());
    let plan = m.idle_unload(60_000);
    assert_eq!(
        (plan.kind, plan.unloaded.clone()),
        (PlanKind::Idle, vec![a])
    );
    m.confirm_all(&plan);
    assert_eq!(
        [0, 1].map(|l| m.layer_state(a, l).unwrap().tier),
        [Tier::Cache, Tier::Cache]
    );
    assert_eq!((m.gpu_bytes(), m.host_bytes()), (100 * MIB, 100 * MIB));
    m.touch(b, 100_000).unwrap();
    assert_eq!(m.next_idle_deadline(), Some(160_000));
    let never = Manager::new(
        Decision::fixed(VramState::NormalVram, 4096 * MIB, 0),
        &Options::default(),
    );
    assert!(never.idle_unload(u64::MAX).is_empty() && never.next_idle_deadline().is_none());
}

#[test]
fn books_follow_the_confirmation_not_the_plan() {
    let mut m = manager(VramState::HighVram, 4096, 0);
    let id = m.register(model("m", &[300, 200, 100])).unwrap();
    let plan = m.load_models_gpu(&LoadRequest::new([id]), 1).unwrap();
    assert_eq!(plan.gpu_bytes_after, 600 * MIB);
    assert_eq!(m.gpu_bytes(), 0, "planning changes nothing");
    // The second upload fails and the executor stops.
    let report = m
        .confirm(&plan, &[MoveOutcome::Done, MoveOutcome::Failed])
        .unwrap();
    assert_eq!(
        (report.applied, report.failed, report.not_attempted),
        (1, 1, 1)
    );
    assert_eq!(m.gpu_bytes(), 300 * MIB);
    assert_eq!(
        m.loaded_models(),
        [id],
        "the model was used, so it is loaded"
    );
    // Confirming the same plan again: the first move no longer starts where the layer is.
    let again = m.confirm(&plan, &[MoveOutcome::Done]).unwrap();
    assert_eq!(again.stale, [0]);
    assert_eq!(m.gpu_bytes(), 300 * MIB);
    // Too many outcomes is a typed error and applies nothing.
    let err = m.confirm(&plan, &[MoveOutcome::Done; 4]).unwrap_err();
    assert_eq!(err, ManagerError::OutcomeCount { given: 4, moves: 3 });
    // The next load plans only what is missing.
    let rest = m.load_models_gpu(&LoadRequest::new([id]), 2).unwrap();
    assert_eq!(rest.bytes_into(Tier::Gpu), 300 * MIB);
}

#[test]
fn loads_grow_and_shrink_a_partially_loaded_model() {
    // LOW_VRAM 2048, reserve 0, floor 256. With 1024 of inference: minimum_required 1024,
    // budget = max(128, 2048 − 1024, min(819.2, 1792)) = 1024 → 5 × 200 = 1000 (1000 < 1024).
    // Then with 1536: cur = 1048 free + 1000 loaded = 2048, budget = max(128, 512, 819.2) =
    // 819.2 < 1000 loaded → shrink smallest first until freed > 180.8: one layer → 800 MiB.
    // Then with none: budget = max(128, 2048 − 256, …) = 1792 → grow to 1600 (8 × 200; 1800 is
    // not < 1792), the layers already on the GPU staying.
    let mut m = manager(VramState::LowVram, 2048, 0);
    let id = m.register(model("m", &[200; 10])).unwrap();
    load(
        &mut m,
        LoadRequest::new([id]).with_memory_required(1024 * MIB),
        1,
    );
    assert_eq!(m.gpu_bytes(), 1000 * MIB);
    let plan = load(
        &mut m,
        LoadRequest::new([id]).with_memory_required(1536 * MIB),
        2,
    );
    assert_eq!(plan.weight_budgets[0].budget_bytes, 858_993_459);
    assert_eq!(
        plan.moves.iter().filter(|mv| mv.from == Tier::Gpu).count(),
        1
    );
    assert_eq!(m.gpu_bytes(), 800 * MIB);
    let plan = load(&mut m, LoadRequest::new([id]), 3);
    assert!(
        plan.moves.iter().all(|mv| mv.from != Tier::Gpu),
        "growing releases nothing"
    );
    assert_eq!(m.gpu_bytes(), 1600 * MIB);
}

#[test]
fn after_run_unloads_only_without_smart_memory() {
    let mut smart = manager(VramState::HighVram, 4096, 0);
    let id = smart.register(model("m", &[100])).unwrap();
    load(&mut smart, LoadRequest::new([id]), 1);
    assert!(smart.after_run().is_empty());
    let options = Options {
        smart_memory: false,
        ..Options::default()
    };
    let mut plain = Manager::new(
        Decision::fixed(VramState::HighVram, 4096 * MIB, 0),
        &options,
    );
    let id = plain.register(model("m", &[100])).unwrap();
    load(&mut plain, LoadRequest::new([id]), 1);
    let plan = plain.after_run();
    assert_eq!(
        (plan.kind, plan.unloaded.clone()),
        (PlanKind::AfterRun, vec![id])
    );
    plain.confirm_all(&plan);
    assert_eq!(plain.gpu_bytes(), 0);
    assert!(plain.loaded_models().is_empty());
}

#[test]
fn minilm_inference_memory_comes_from_the_workload() {
    let mut m = Manager::new(
        Decision::fixed(VramState::Shared, 2048 * MIB, 256 * MIB),
        &Options::default(),
    );
    let mut spec = model("all-MiniLM-L6-v2", &[45, 6, 6, 6, 6, 6, 6]);
    spec.inference = InferenceEstimate::Encoder {
        hidden: 384,
        intermediate: 1536,
        heads: 12,
        bytes_per_element: 4,
        widened_weights: 0,
    };
    let id = m.register(spec).unwrap();
    let one = m
        .inference_memory(
            id,
            Workload {
                batch: 1,
                sequence: 256,
            },
        )
        .unwrap();
    assert_eq!(one, (5 * 256 * 384 + 2 * 12 * 256 * 256 + 256 * 1536) * 4);
    let request = m
        .request_for(
            &[id],
            Workload {
                batch: 32,
                sequence: 256,
            },
        )
        .unwrap();
    assert_eq!(request.memory_required, 32 * one);
    let plan = load(&mut m, request, 1);
    assert!(plan.weight_budgets[0].full_load);
    assert_eq!(m.gpu_bytes(), 81 * MIB);
}

#[test]
fn every_bookkeeping_error_names_what_was_wrong() {
    let mut m = manager(VramState::NormalVram, 1024, 0);
    let empty = ModelSpec {
        layers: Vec::new(),
        ..model("empty", &[1])
    };
    assert_eq!(
        m.register(empty).unwrap_err(),
        ManagerError::EmptyModel {
            model: "empty".into()
        }
    );
    let mut dup = model("dup", &[1, 2]);
    dup.layers[1].name = "dup.0".into();
    assert_eq!(
        m.register(dup).unwrap_err(),
        ManagerError::DuplicateLayer {
            model: "dup".into(),
            layer: "dup.0".into()
        }
    );
    let f16 = ModelSpec {
        dtype: Dtype::F16,
        ..model("half", &[1])
    };
    assert_eq!(
        m.register(f16).unwrap_err(),
        ManagerError::MissingDtype {
            model: "half".into(),
            layer: "half.0".into(),
            dtype: Dtype::F16
        }
    );
    let mut overflow = model("huge", &[1, 1]);
    overflow
        .layers
        .iter_mut()
        .for_each(|l| *l.bytes.get_mut(&Dtype::F32).unwrap() = u64::MAX);
    assert_eq!(
        m.register(overflow).unwrap_err(),
        ManagerError::SizeOverflow {
            model: "huge".into()
        }
    );

    let unknown = ModelId::new(99);
    let err = ManagerError::UnknownModel { model: unknown };
    assert_eq!(
        m.load_models_gpu(&LoadRequest::new([unknown]), 0)
            .unwrap_err(),
        err
    );
    assert_eq!(m.free_memory(0, &[unknown]).unwrap_err(), err);
    assert_eq!(m.touch(unknown, 0).unwrap_err(), err);
    assert_eq!(m.hold(unknown).unwrap_err(), err);
    assert_eq!(m.release(unknown).unwrap_err(), err);
    assert_eq!(
        m.inference_memory(
            unknown,
            Workload {
                batch: 1,
                sequence: 1
            }
        )
        .unwrap_err(),
        err
    );

    let mut spec = model("m", &[100, 100]);
    spec.cached = false;
    let id = m.register(spec).unwrap();
    assert_eq!(
        m.mark_cached(id, 2).unwrap_err(),
        ManagerError::UnknownLayer {
            model: "m".into(),
            layer: 2,
            layers: 2
        }
    );
    m.mark_cached(id, 1).unwrap();
    assert_eq!(m.layer_state(id, 1).unwrap().tier, Tier::Cache);
    load(&mut m, LoadRequest::new([id]), 1);
    let err = m.unregister(id).unwrap_err();
    assert!(matches!(err, ManagerError::ModelResident { gpu_bytes, .. } if gpu_bytes == 200 * MIB));
    let plan = m.unload_all();
    m.confirm_all(&plan);
    m.unregister(id).unwrap();
    assert_eq!(
        m.unregister(id).unwrap_err(),
        ManagerError::UnknownModel { model: id }
    );
    assert!(m.memory_map().layers.is_empty());
}
