#![cfg(not(target_arch = "wasm32"))]
//! Property tests: random sequences of register / load / partial load / free / unload / OOM /
//! idle-unload against random decisions, with an executor whose uploads fail at random. After
//! every confirmed plan the books must still add up.

use std::collections::BTreeSet;

use proptest::prelude::*;
use webvram::manager::{
    Dtype, InferenceEstimate, LayerSpec, LoadRequest, Manager, ManagerError, ModelId, ModelSpec,
    MoveOutcome, Plan, Tier,
};
use webvram::policy::units::MIB;
use webvram::policy::{Decision, Options, VramState};

/// One step of a random session. Sizes are in MiB so budgets and layers collide often.
#[derive(Clone, Debug)]
enum Op {
    Register {
        sizes: Vec<u64>,
        cached: bool,
        inference: u64,
    },
    Load {
        picks: Vec<usize>,
        memory_required: u64,
        minimum: Option<u64>,
        force: bool,
        seed: u64,
    },
    Free {
        required: u64,
        keep: Vec<usize>,
        seed: u64,
    },
    UnloadAll,
    Oom {
        advance: u64,
    },
    Idle {
        advance: u64,
    },
    Touch {
        pick: usize,
        advance: u64,
    },
    Hold {
        pick: usize,
        release: bool,
    },
    MarkCached {
        pick: usize,
        layer: usize,
    },
    AfterRun,
    Unregister {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let register = (
        prop::collection::vec(1_u64..400, 1..8),
        any::<bool>(),
        0_u64..600,
    )
        .prop_map(|(sizes, cached, inference)| Op::Register {
            sizes,
            cached,
            inference,
        });
    let load = (
        prop::collection::vec(0_usize..16, 1..3),
        0_u64..1500,
        prop::option::of(0_u64..800),
        prop::bool::weighted(0.15),
        any::<u64>(),
    )
        .prop_map(|(picks, memory_required, minimum, force, seed)| Op::Load {
            picks,
            memory_required,
            minimum,
            force,
            seed,
        });
    let free = (
        0_u64..5000,
        prop::collection::vec(0_usize..16, 0..2),
        any::<u64>(),
    )
        .prop_map(|(required, keep, seed)| Op::Free {
            required,
            keep,
            seed,
        });
    prop_oneof![
        3 => register,
        6 => load,
        2 => free,
        1 => Just(Op::UnloadAll),
        1 => (0_u64..1000).prop_map(|advance| Op::Oom { advance }),
        1 => (0_u64..120_000).prop_map(|advance| Op::Idle { advance }),
        1 => (0_usize..16, 0_u64..30_000).prop_map(|(pick, advance)| Op::Touch { pick, advance }),
        1 => (0_usize..16, any::<bool>()).prop_map(|(pick, release)| Op::Hold { pick, release }),
        1 => (0_usize..16, 0_usize..8).prop_map(|(pick, layer)| Op::MarkCached { pick, layer }),
        1 => Just(Op::AfterRun),
        1 => (0_usize..16).prop_map(|pick| Op::Unregister { pick }),
    ]
}

/// A random decision and options: every state, budgets from nothing to 4 GiB.
fn setup() -> impl Strategy<Value = (Decision, Options)> {
    let states = prop::sample::select(vec![
        VramState::Disabled,
        VramState::NoVram,
        VramState::LowVram,
        VramState::NormalVram,
        VramState::HighVram,
        VramState::Shared,
    ]);
    let decision = (
        states,
        0_u64..4096,
        0_u64..1024,
        0_u64..3000,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(state, budget, reserve, host, unified, nvidia)| {
            let mut decision = Decision::fixed(state, budget * MIB, reserve * MIB);
            decision.host_budget_bytes = host * MIB;
            decision.unified_memory = unified;
            decision.min_weight_ratio_permille = if nvidia { 0 } else { 400 };
            decision
        });
    let options = (
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::option::of(1_u64..100_000),
    )
        .prop_map(|(smart_memory, keep_host_copy, idle_unload_ms)| Options {
            smart_memory,
            keep_host_copy,
            idle_unload_ms,
            ..Options::default()
        });
    (decision, options)
}

/// The test's own record of what was registered.
struct Session {
    manager: Manager,
    models: Vec<(ModelId, Vec<u64>)>,
    now: u64,
    keep_host_copy: bool,
}

impl Session {
    fn pick(&self, index: usize) -> Option<ModelId> {
        (!self.models.is_empty()).then(|| self.models[index % self.models.len()].0)
    }

    /// Executes a plan the way the GPU layer will: releases always succeed; uploads and fetches
    /// fail at random (one in six); after a failure the executor sometimes stops.
    fn execute(&mut self, plan: &Plan, seed: u64) {
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let stop_after_failure = next() % 2 == 0;
        let mut stopped = false;
        let mut outcomes = Vec::new();
        for mv in &plan.moves {
            let outcome = if stopped {
                MoveOutcome::NotAttempted
            } else if !mv.is_release() && next() % 6 == 0 {
                stopped = stop_after_failure;
                MoveOutcome::Failed
            } else {
                MoveOutcome::Done
            };
            outcomes.push(outcome);
        }
        let report = self
            .manager
            .confirm(plan, &outcomes)
            .expect("one outcome per move");
        assert!(
            report.stale.is_empty(),
            "a fresh plan is never stale: {report:?}"
        );
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Register {
                sizes,
                cached,
                inference,
            } => {
                let layers = (sizes.iter().enumerate()).map(|(i, mib)| {
                    LayerSpec::new(format!("l{i}"), i as u32, Dtype::F32, mib * MIB)
                });
                let spec = ModelSpec {
                    name: format!("m{}", self.models.len()),
                    dtype: Dtype::F32,
                    layers: layers.collect(),
                    inference: InferenceEstimate::Fixed(inference * MIB),
                    cached,
                };
                let id = self.manager.register(spec).expect("valid spec");
                self.models.push((id, sizes));
            }
            Op::Load {
                picks,
                memory_required,
                minimum,
                force,
                seed,
            } => {
                let ids: Vec<ModelId> = picks.iter().filter_map(|p| self.pick(*p)).collect();
                let request = LoadRequest {
                    models: ids.clone(),
                    memory_required: memory_required * MIB,
                    minimum_memory_required: minimum.map(|m| m * MIB),
                    force_full_load: force,
                };
                self.now += 1;
                match self.manager.load_models_gpu(&request, self.now) {
                    Ok(plan) => {
                        assert!(
                            plan.gpu_bytes_after <= self.manager.decision().budget_bytes,
                            "planned over budget"
                        );
                        self.execute(&plan, seed);
                        for id in &ids {
                            assert!(
                                self.manager.loaded_models().contains(id),
                                "loaded models are on the list"
                            );
                        }
                    }
                    Err(ManagerError::DoesNotFit {
                        needed, available, ..
                    }) => assert!(needed > available),
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
            Op::Free {
                required,
                keep,
                seed,
            } => {
                let keep: Vec<ModelId> = keep.iter().filter_map(|p| self.pick(*p)).collect();
                let before: Vec<u64> = keep.iter().map(|id| self.gpu_of(*id)).collect();
                let plan = self
                    .manager
                    .free_memory(required * MIB, &keep)
                    .expect("known ids");
                self.execute(&plan, seed);
                let after: Vec<u64> = keep.iter().map(|id| self.gpu_of(*id)).collect();
                assert_eq!(before, after, "keep_loaded models keep their GPU bytes");
            }
            Op::UnloadAll => {
                let plan = self.manager.unload_all();
                self.execute(&plan, 0);
                assert_eq!(self.manager.gpu_bytes(), 0, "unload_all empties the GPU");
                assert!(self.manager.loaded_models().is_empty());
            }
            Op::Oom { advance } => {
                self.now += advance;
                let state = self.manager.decision().state;
                let step = self.manager.on_oom(self.now);
                assert_eq!(self.manager.decision().state, state.step_down());
                self.execute(&step.plan, 0);
                assert_eq!(
                    self.manager.gpu_bytes(),
                    0,
                    "after an OOM everything is unloaded"
                );
            }
            Op::Idle { advance } => {
                self.now += advance;
                let plan = self.manager.idle_unload(self.now);
                self.execute(&plan, 0);
                if let Some(deadline) = self.manager.next_idle_deadline() {
                    assert!(deadline > self.now, "nothing idle is left resident");
                }
            }
            Op::Touch { pick, advance } => {
                self.now += advance;
                if let Some(id) = self.pick(pick) {
                    self.manager.touch(id, self.now).unwrap();
                }
            }
            Op::Hold { pick, release } => {
                if let Some(id) = self.pick(pick) {
                    if release {
                        self.manager.release(id).unwrap()
                    } else {
                        self.manager.hold(id).unwrap()
                    }
                }
            }
            Op::MarkCached { pick, layer } => {
                if let Some(id) = self.pick(pick) {
                    let layers = self.models.iter().find(|(m, _)| *m == id).unwrap().1.len();
                    let result = self.manager.mark_cached(id, layer);
                    assert_eq!(result.is_ok(), layer < layers);
                }
            }
            Op::AfterRun => {
                let plan = self.manager.after_run();
                self.execute(&plan, 0);
            }
            Op::Unregister { pick } => {
                if let Some(id) = self.pick(pick) {
                    match self.manager.unregister(id) {
                        Ok(()) => self.models.retain(|(m, _)| *m != id),
                        Err(ManagerError::ModelResident {
                            gpu_bytes,
                            host_bytes,
                            ..
                        }) => assert!(gpu_bytes + host_bytes > 0),
                        Err(other) => panic!("unexpected error {other}"),
                    }
                }
            }
        }
    }

    fn gpu_of(&self, id: ModelId) -> u64 {
        self.manager
            .memory_map()
            .models
            .iter()
            .find(|m| m.model == id)
            .map_or(0, |m| m.tier_bytes[0])
    }

    /// The invariants that hold after every confirmed step.
    fn check(&self) {
        let decision = self.manager.decision();
        let map = self.manager.memory_map();
        assert!(
            map.gpu_bytes <= decision.budget_bytes,
            "GPU {} over budget {}",
            map.gpu_bytes,
            decision.budget_bytes
        );
        assert!(
            map.gpu_bytes <= decision.usable_bytes(),
            "no weight sits in the reserve"
        );
        assert!(
            map.host_bytes <= decision.host_budget_bytes,
            "wasm memory over its budget"
        );
        assert_eq!(map.models.len(), self.models.len());
        let mut seen = BTreeSet::new();
        let (mut gpu, mut host) = (0, 0);
        for layer in &map.layers {
            assert!(
                seen.insert((layer.model, layer.layer)),
                "layer counted twice"
            );
            assert!(
                !layer.host_copy || layer.tier == Tier::Gpu,
                "only GPU layers have copies"
            );
            assert!(
                !layer.host_copy || self.keep_host_copy,
                "copies only when the settings keep them"
            );
            assert!(layer.tier != Tier::Cache || layer.cached);
            gpu += if layer.tier == Tier::Gpu {
                layer.bytes
            } else {
                0
            };
            host += if layer.tier == Tier::Host || layer.host_copy {
                layer.bytes
            } else {
                0
            };
        }
        assert_eq!((gpu, host), (map.gpu_bytes, map.host_bytes));
        for (id, sizes) in &self.models {
            let summary = map
                .models
                .iter()
                .find(|m| m.model == *id)
                .expect("registered model is mapped");
            let size: u64 = sizes.iter().map(|mib| mib * MIB).sum();
            assert_eq!(
                summary.tier_bytes.iter().sum::<u64>(),
                size,
                "tiers sum to the model size"
            );
            assert_eq!(summary.size_bytes, size);
            assert_eq!(
                map.layers.iter().filter(|l| l.model == *id).count(),
                sizes.len(),
                "no layer lost"
            );
            if summary.tier_bytes[0] > 0 {
                assert!(
                    summary.loaded,
                    "a model with GPU bytes is on the loaded list"
                );
            }
        }
        let loaded = self.manager.loaded_models();
        assert_eq!(
            loaded.iter().collect::<BTreeSet<_>>().len(),
            loaded.len(),
            "loaded list has no duplicates"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn books_add_up_after_any_sequence((decision, options) in setup(), ops in prop::collection::vec(op(), 1..30)) {
        let keep_host_copy = options.keep_host_copy.unwrap_or(!decision.unified_memory);
        let mut session = Session { manager: Manager::new(decision, &options), models: Vec::new(), now: 0, keep_host_copy };
        for op in ops {
            session.run(op);
            session.check();
        }
        let plan = session.manager.unload_all();
        session.execute(&plan, 0);
        prop_assert_eq!(session.manager.gpu_bytes(), 0);
    }
}

/// A sequence proptest once found: an upload out of wasm memory failed, and a later move in the
/// same plan had counted on the room it would free. Uploads no longer make room within a plan.
#[test]
fn a_failed_upload_cannot_overfill_wasm_memory() {
    let mut decision = Decision::fixed(VramState::LowVram, 1960 * MIB, 0);
    decision.unified_memory = true;
    decision.host_budget_bytes = 348 * MIB;
    let options = Options {
        smart_memory: false,
        ..Options::default()
    };
    let mut session = Session {
        manager: Manager::new(decision, &options),
        models: Vec::new(),
        now: 0,
        keep_host_copy: false,
    };
    let ops = [
        Op::Register {
            sizes: vec![1],
            cached: false,
            inference: 0,
        },
        Op::Load {
            picks: vec![0],
            memory_required: 0,
            minimum: None,
            force: false,
            seed: 0,
        },
        Op::Register {
            sizes: vec![96, 129, 100],
            cached: false,
            inference: 0,
        },
        Op::Register {
            sizes: vec![88, 362, 350, 348, 169, 169],
            cached: false,
            inference: 0,
        },
        Op::Load {
            picks: vec![8],
            memory_required: 812,
            minimum: None,
            force: false,
            seed: 12_025_614_947_425_796_144,
        },
        Op::Load {
            picks: vec![2, 4],
            memory_required: 0,
            minimum: Some(643),
            force: false,
            seed: 13_229_816_986_675_809_902,
        },
    ];
    for op in ops {
        session.run(op);
        session.check();
    }
}
