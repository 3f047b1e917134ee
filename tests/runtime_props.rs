#![cfg(not(target_arch = "wasm32"))]
//! `Runtime` under random sequences of operations (the native twin of the browser chaos test,
//! `tests/e2e/chaos.test.mjs`): 1–3 runtimes in random VRAM states (some on lavapipe, some on
//! the CPU, some with a simulated small device), 1–2 tiny models, and random loads, embeds (empty
//! batches, empty strings, texts longer than the model takes, with and without truncation),
//! `load_models_gpu`, `free`, unloads, device losses and destroys.
//!
//! After every operation: an error is one of the documented codes and the one the operation
//! calls for; the books agree with the executor and burn's pool; every embedding equals the
//! reference (the same model on the CPU, computed once). `PROPTEST_CASES` sets the number of
//! sequences (default 96, about 2,500 operations).

#[path = "support/tiny_bert.rs"]
mod tiny_bert;

use std::path::PathBuf;

use pollster::block_on;
use proptest::prelude::*;
use webvram::fetch::{FileSource, LoadOptions};
use webvram::policy::{Options, VramMode, WeightDtype};
use webvram::runtime::EmbedOptions;
use webvram::{Error, Runtime, RuntimeOptions};

const MIB: u64 = 1 << 20;

/// The texts embeds draw from: ordinary, empty, whitespace, non-ASCII, and one longer than the
/// model's 256 tokens.
fn texts() -> Vec<String> {
    let long = "the quick brown fox jumps over the lazy dog ".repeat(40);
    [
        "The cat sits on the mat.",
        "",
        "   ",
        "Größe, naïve café — 東京 🙂",
        "1234567890 numbers and 3.14159",
        long.trim(),
        "A second ordinary sentence about sentence embeddings.",
    ]
    .map(str::to_owned)
    .to_vec()
}

const LONG_TEXT: usize = 5;

/// The two model folders, written once per test binary.
fn folders() -> &'static [PathBuf; 2] {
    static FOLDERS: std::sync::OnceLock<[PathBuf; 2]> = std::sync::OnceLock::new();
    FOLDERS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let minilm = root.join("www/models/all-MiniLM-L6-v2");
        let tmp = root.join("target/tmp/runtime_props");
        let shapes = [(32, 3, 4, 64, 1), (16, 2, 2, 32, 2)];
        shapes.map(|(hidden, layers, heads, intermediate, seed)| {
            let dir = tmp.join(format!("tiny-{hidden}"));
            let model = tiny_bert::TinyBert {
                hidden,
                layers,
                heads,
                intermediate,
                seed,
            };
            model.write(&minilm, &dir);
            dir
        })
    })
}

/// Each model's embedding of each text, on the CPU with everything resident.
fn references() -> &'static Vec<Vec<Vec<f32>>> {
    static REFS: std::sync::OnceLock<Vec<Vec<Vec<f32>>>> = std::sync::OnceLock::new();
    REFS.get_or_init(|| {
        (0..2)
            .map(|model| {
                let mut rt = create(0);
                let id = load(&mut rt, model).expect("reference load");
                let texts = texts();
                let report = block_on(rt.embed(id, &texts)).expect("reference embed");
                assert_eq!(report.truncated, vec![LONG_TEXT]);
                report.vectors
            })
            .collect()
    })
}

/// The runtime kinds a sequence draws from.
fn options(kind: usize) -> RuntimeOptions {
    let policy = |vram, budget: Option<u64>| Options {
        vram,
        vram_budget: budget,
        reserve_vram: budget.map(|_| 0),
        weight_dtype: WeightDtype::F32,
        ..Options::default()
    };
    // A host budget (5.7 MiB) that holds both tiny models' word tables (3.7 and 1.9 MiB) and part of
    // their layers once both are loaded: layers are evicted and read back from their files.
    let capped = |mut policy: Options| {
        policy.host_budget = Some(HOST_CAP);
        policy
    };
    let (policy, capacity) = match kind {
        0 => (policy(VramMode::Cpu, None), None),
        1 => (policy(VramMode::High, None), None),
        2 => (policy(VramMode::Low, Some(64 * MIB)), None),
        3 => (policy(VramMode::None, Some(64 * MIB)), None),
        5 => (capped(policy(VramMode::Cpu, None)), None),
        6 => (capped(policy(VramMode::Low, Some(64 * MIB))), None),
        // A device smaller than its budget: uploads fail, the budget steps down.
        _ => (policy(VramMode::Normal, Some(64 * MIB)), Some(60 * 1024)),
    };
    RuntimeOptions {
        policy,
        simulated_gpu_capacity: capacity,
        ..RuntimeOptions::default()
    }
}

/// The host cap of the capped kinds (5 and 6), which read layers back from their files.
const HOST_CAP: u64 = 57 * MIB / 10;

fn create(kind: usize) -> Runtime {
    let mut rt = block_on(Runtime::create(options(kind))).expect("runtime");
    if matches!(kind, 5 | 6) {
        rt.set_layer_reader(Box::new(FileSource::new()));
    }
    rt
}

fn load(rt: &mut Runtime, model: usize) -> Result<u32, Error> {
    let folder = folders()[model].to_str().unwrap().to_owned();
    let info =
        block_on(rt.load_model(&FileSource::new(), &folder, &LoadOptions::default(), |_| {}))?;
    Ok(info.id)
}

#[derive(Clone, Debug)]
enum Op {
    Create(usize),
    Load {
        rt: usize,
        model: usize,
    },
    Embed {
        rt: usize,
        slot: usize,
        pick: u8,
        truncate: bool,
    },
    EmbedNothing {
        rt: usize,
        slot: usize,
    },
    LoadModelsGpu {
        rt: usize,
        mask: u8,
        memory_mib: u64,
    },
    Free {
        rt: usize,
        unload: bool,
        free: bool,
    },
    Unload {
        rt: usize,
        slot: usize,
    },
    LoseDevice {
        rt: usize,
    },
    Destroy {
        rt: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let rt = 0..3usize;
    let slot = 0..3usize;
    prop_oneof![
        1 => (0..7usize).prop_map(Op::Create),
        3 => (rt.clone(), 0..2usize).prop_map(|(rt, model)| Op::Load { rt, model }),
        6 => (rt.clone(), slot.clone(), any::<u8>(), prop::bool::weighted(0.8))
            .prop_map(|(rt, slot, pick, truncate)| Op::Embed { rt, slot, pick, truncate }),
        1 => (rt.clone(), slot.clone()).prop_map(|(rt, slot)| Op::EmbedNothing { rt, slot }),
        2 => (rt.clone(), any::<u8>(), 0..8u64)
            .prop_map(|(rt, mask, memory_mib)| Op::LoadModelsGpu { rt, mask, memory_mib }),
        1 => (rt.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(rt, unload, free)| Op::Free { rt, unload, free }),
        1 => (rt.clone(), slot).prop_map(|(rt, slot)| Op::Unload { rt, slot }),
        1 => rt.clone().prop_map(|rt| Op::LoseDevice { rt }),
        1 => rt.prop_map(|rt| Op::Destroy { rt }),
    ]
}

/// A runtime of the sequence and the models it loaded (id, which tiny model, still loaded).
struct Live {
    rt: Runtime,
    kind: usize,
    models: Vec<(u32, usize, bool)>,
}

/// Every code an error may carry.
const CODES: [&str; 12] = [
    "OOM",
    "DEVICE_LOST",
    "FETCH",
    "INTEGRITY",
    "FORMAT",
    "ABORTED",
    "UNSUPPORTED",
    "BROWSER",
    "INVALID_OPTION",
    "INVALID_INPUT",
    "INVALID_STATE",
    "EXECUTION",
];

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut live: Vec<Live> = vec![Live {
        rt: create(0),
        kind: 0,
        models: Vec::new(),
    }];
    for op in ops {
        step(&mut live, &op)?;
        for (index, l) in live.iter().enumerate() {
            let books = l.rt.system_stats().books;
            prop_assert!(books.agrees, "runtime {index} after {op:?}: {books:?}");
            if matches!(l.kind, 5 | 6) {
                prop_assert_eq!(books.held_host_bytes, books.booked_host_bytes, "{:?}", op);
                prop_assert!(books.held_host_bytes <= HOST_CAP, "{:?}: {:?}", op, books);
            }
        }
    }
    for mut l in live {
        l.rt.destroy();
        let stats = l.rt.system_stats();
        prop_assert!(stats.memory_map.layers.is_empty());
        prop_assert_eq!(l.rt.executor().gpu_bytes(), 0);
        prop_assert_eq!(l.rt.executor().host_bytes(), 0);
    }
    Ok(())
}

/// Runs one operation and checks its outcome against what it calls for.
/// Whether bit `i` of `mask` is set; a model past the mask's 8 bits is never chosen (a runtime
/// can hold more models than that over a long sequence).
fn in_mask(mask: u8, i: usize) -> bool {
    i < 8 && mask >> i & 1 == 1
}

fn step(live: &mut Vec<Live>, op: &Op) -> Result<(), TestCaseError> {
    let count = live.len();
    let pick = |rt: usize| rt % count;
    match *op {
        Op::Create(kind) if count < 3 => live.push(Live {
            rt: create(kind),
            kind,
            models: Vec::new(),
        }),
        Op::Create(_) => {}
        Op::Load { rt, model } => {
            let l = &mut live[pick(rt)];
            match load(&mut l.rt, model) {
                Ok(id) => l.models.push((id, model, true)),
                Err(err) => expect_refused(&l.rt, &err, "load")?,
            }
        }
        Op::Embed {
            rt,
            slot,
            pick: mask,
            truncate,
        } => {
            let l = &mut live[pick(rt)];
            let Some(&(id, model, loaded)) = l.models.get(slot % l.models.len().max(1)) else {
                return Ok(());
            };
            let all = texts();
            let chosen: Vec<usize> = (0..all.len()).filter(|&i| in_mask(mask, i)).collect();
            let batch: Vec<String> = chosen.iter().map(|&i| all[i].clone()).collect();
            let options = EmbedOptions {
                truncate,
                ..EmbedOptions::default()
            };
            let mut heard = Vec::new();
            let result = block_on(l.rt.embed_with(id, &batch, &options, |p| heard.push(p)));
            match result {
                Ok(report) => {
                    prop_assert!(
                        loaded && !l.rt.is_destroyed(),
                        "{op:?} succeeded on a dead model"
                    );
                    prop_assert!(truncate || !chosen.contains(&LONG_TEXT));
                    prop_assert_eq!(report.vectors.len(), batch.len());
                    // Progress after every batch, ending at every text.
                    prop_assert_eq!(heard.len(), report.batches);
                    prop_assert!(heard.last().is_none_or(|p| p.done == batch.len()));
                    let long_at = chosen.iter().position(|&i| i == LONG_TEXT);
                    prop_assert_eq!(report.truncated, long_at.into_iter().collect::<Vec<_>>());
                    for (&text, got) in chosen.iter().zip(&report.vectors) {
                        let want = &references()[model][text];
                        let diff = max_diff(got, want);
                        prop_assert!(diff <= 1e-4, "{op:?}: text {text} differs by {diff}");
                    }
                }
                Err(Error::InvalidInput { argument, .. }) => {
                    prop_assert!(!truncate, "{op:?}: refused {argument}");
                    let at = chosen.iter().position(|&i| i == LONG_TEXT);
                    prop_assert_eq!(Some(argument), at.map(|i| format!("texts[{i}]")));
                }
                Err(err) if !loaded || l.rt.is_destroyed() => {
                    prop_assert_eq!(err.code(), "INVALID_STATE", "{:?}: {}", op, err);
                }
                Err(err) => expect_refused(&l.rt, &err, "embed")?,
            }
        }
        Op::EmbedNothing { rt, slot } => {
            let l = &mut live[pick(rt)];
            let Some(&(id, _, loaded)) = l.models.get(slot % l.models.len().max(1)) else {
                return Ok(());
            };
            let before = l.rt.system_stats().memory_map;
            match block_on(l.rt.embed(id, &[])) {
                Ok(report) => {
                    prop_assert!(loaded && !l.rt.is_destroyed());
                    prop_assert!(report.vectors.is_empty());
                    prop_assert_eq!(report.forward.layers, 0, "nothing ran");
                    prop_assert_eq!(l.rt.system_stats().memory_map, before, "nothing moved");
                }
                Err(err) => prop_assert_eq!(err.code(), "INVALID_STATE", "{}", err),
            }
        }
        Op::LoadModelsGpu {
            rt,
            mask,
            memory_mib,
        } => {
            let l = &mut live[pick(rt)];
            let ids: Vec<u32> = (l.models.iter().enumerate())
                .filter(|&(i, _)| in_mask(mask, i))
                .map(|(_, m)| m.0)
                .collect();
            let any_unloaded = (l.models.iter().enumerate()).any(|(i, m)| in_mask(mask, i) && !m.2);
            if let Err(err) = block_on(l.rt.load_models_gpu(&ids, memory_mib * MIB)) {
                match any_unloaded || l.rt.is_destroyed() {
                    true => prop_assert_eq!(err.code(), "INVALID_STATE", "{}", err),
                    false => expect_refused(&l.rt, &err, "loadModelsGpu")?,
                }
            }
        }
        Op::Free { rt, unload, free } => {
            let l = &mut live[pick(rt)];
            if let Err(err) = block_on(l.rt.free(unload, free)) {
                prop_assert!(l.rt.is_destroyed(), "free failed: {err}");
                prop_assert_eq!(err.code(), "INVALID_STATE");
            }
        }
        Op::Unload { rt, slot } => {
            let l = &mut live[pick(rt)];
            let len = l.models.len();
            let Some(model) = l.models.get_mut(slot % len.max(1)) else {
                return Ok(());
            };
            let result = block_on(l.rt.unload_model(model.0));
            prop_assert_eq!(
                result.is_ok(),
                model.2 && !l.rt.is_destroyed(),
                "{:?}",
                result
            );
            model.2 = false;
        }
        Op::LoseDevice { rt } => live[pick(rt)].rt.lose_device(),
        Op::Destroy { rt } => {
            let l = &mut live[pick(rt)];
            l.rt.destroy();
            prop_assert!(l.rt.system_stats().memory_map.layers.is_empty());
            // The slot gets a fresh runtime of the same kind, so sequences go on.
            *l = Live {
                rt: create(l.kind),
                kind: l.kind,
                models: Vec::new(),
            };
        }
    }
    Ok(())
}

/// A refusal of an operation that could have worked must be one the runtime documents for a
/// valid call: out of memory (the simulated device), or a device lost and not replaced.
fn expect_refused(rt: &Runtime, err: &Error, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        CODES.contains(&err.code()),
        "{what}: unknown code {}",
        err.code()
    );
    let allowed = match rt.is_destroyed() {
        true => ["INVALID_STATE"].as_slice(),
        false => ["OOM", "DEVICE_LOST"].as_slice(),
    };
    prop_assert!(
        allowed.contains(&err.code()),
        "{what} refused with {}: {err}",
        err.code()
    );
    Ok(())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_operations_keeps_the_books_and_the_outputs(
        ops in prop::collection::vec(op(), 8..40)
    ) {
        run(ops)?;
    }
}

#[test]
fn the_reference_runs_truncate_only_the_long_text() {
    let refs = references();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0].len(), texts().len());
    // Different models, different vectors; every one unit length (the head normalises).
    assert!(max_diff(&refs[0][0][..16], &refs[1][0]) > 1e-3);
    for vector in refs.iter().flatten() {
        let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
}
