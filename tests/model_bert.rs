#![cfg(not(target_arch = "wasm32"))]
//! all-MiniLM-L6-v2 against sentence-transformers' own output (tests/reference/minilm_reference.json):
//! tokenisation exactly, embeddings within 1e-4 on burn's CPU backend and on the native GPU (lavapipe).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use burn::tensor::Device;
use webvram::exec::{ExecError, HostLayer, HostSink, LayerOf, LayerWeights, LayeredModel};
use webvram::fetch::{FileSource, LoadOptions, load_model};
use webvram::models::bert::{
    BertConfig, BertModel, Pooling, SentenceHead, SentenceModules, SentenceTokenizer, TokenBatch,
    layer_of,
};
use webvram::{Runtime, RuntimeOptions};

#[path = "model_bert_support/reference.rs"]
mod reference;

use reference::{Case, MAX_ABS_DIFF, MIN_COSINE, compare};

/// The model folder's files and weights, read once for all tests.
struct Minilm {
    dir: PathBuf,
    model: BertModel,
    tokenizer: SentenceTokenizer,
    layers: Vec<HostLayer>,
    cases: Vec<Case>,
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-model.sh", path.display()))
}

fn minilm() -> &'static Minilm {
    static MINILM: OnceLock<Minilm> = OnceLock::new();
    MINILM.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("www/models/all-MiniLM-L6-v2");
        let cases = reference::cases();
        let modules = SentenceModules::from_json(&read(&dir, "modules.json")).unwrap();
        let pooling = read(&dir, &modules.pooling_config_path());
        let head = SentenceHead::from_json(
            &read(&dir, "modules.json"),
            &pooling,
            &read(&dir, "sentence_bert_config.json"),
        )
        .unwrap();
        let config = BertConfig::from_json(&read(&dir, "config.json")).unwrap();
        let model = BertModel::new(config, head).unwrap();
        let tokenizer =
            SentenceTokenizer::from_bytes(&read(&dir, "tokenizer.json"), &head).unwrap();
        let layers = load_layers(&dir.join("model.safetensors"), &model);
        Minilm {
            dir,
            model,
            tokenizer,
            layers,
            cases,
        }
    })
}

/// Streams the checkpoint into host layers, in the model's layer order.
fn load_layers(path: &Path, model: &BertModel) -> Vec<HostLayer> {
    let place: &LayerOf = &layer_of;
    let mut sink = HostSink::new(place);
    let options = LoadOptions::default();
    let source = FileSource::new();
    pollster::block_on(load_model(
        &source,
        path.to_str().unwrap(),
        &mut sink,
        &options,
        |_| {},
    ))
    .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-model.sh", path.display()));
    let mut layers = sink.into_layers();
    let ordered = model
        .layer_names()
        .iter()
        .map(|n| layers.remove(n).expect(n))
        .collect();
    assert!(layers.is_empty(), "unexpected layers {:?}", layers.keys());
    ordered
}

fn upload(m: &Minilm, device: &Device) -> Vec<LayerWeights> {
    m.layers
        .iter()
        .map(|l| LayerWeights::upload(l, device))
        .collect()
}

fn embed(
    m: &Minilm,
    model: &BertModel,
    tokenizer: &SentenceTokenizer,
    w: &[LayerWeights],
    texts: &[&str],
    device: &Device,
) -> Vec<Vec<f32>> {
    let tokens = tokenizer.encode(texts).unwrap();
    pollster::block_on(model.embed_resident(w, &tokens, device))
        .unwrap_or_else(|e| panic!("{:?}: {e}", m.dir))
}

/// (max abs diff, cosine) of `got` against `want`.
/// Checks every case alone and all cases as one padded batch; returns the worst (diff, cosine).
fn check_against_fixture(label: &str, device: &Device) -> (f32, f64) {
    let m = minilm();
    let weights = upload(m, device);
    let start = Instant::now();
    let mut worst = (0.0f32, 1.0f64);
    let mut record = |what: &str, case: &Case, got: &[f32]| {
        let (diff, cos) = compare(got, &case.embedding);
        assert!(
            diff <= MAX_ABS_DIFF && cos >= MIN_COSINE,
            "{label} {what} {}: max abs diff {diff:e}, cosine {cos}",
            case.name
        );
        worst = (worst.0.max(diff), worst.1.min(cos));
    };
    for case in &m.cases {
        let got = embed(m, &m.model, &m.tokenizer, &weights, &[&case.text], device);
        record("alone", case, &got[0]);
    }
    let batch = embed(m, &m.model, &m.tokenizer, &weights, &m.texts(), device);
    assert_eq!(batch.len(), m.cases.len());
    for (case, got) in m.cases.iter().zip(&batch) {
        record("in batch", case, got);
    }
    eprintln!(
        "{label}: max abs diff {:.3e}, min cosine 1 - {:.1e} ({:.2?} for 11 cases + 1 batch)",
        worst.0,
        1.0 - worst.1,
        start.elapsed()
    );
    worst
}

impl Minilm {
    fn texts(&self) -> Vec<&str> {
        self.cases.iter().map(|c| c.text.as_str()).collect()
    }
}

#[test]
fn tokenization_matches_sentence_transformers() {
    let m = minilm();
    for case in &m.cases {
        let t = m.tokenizer.encode(&[&case.text]).unwrap();
        assert_eq!(t.ids(), case.token_ids, "{}", case.name);
        assert_eq!((t.batch(), t.seq()), (1, case.token_ids.len()));
        assert!(t.attention_mask().iter().all(|&x| x == 1), "{}", case.name);
        assert!(t.token_type_ids().iter().all(|&x| x == 0), "{}", case.name);
    }
    let batch = m.tokenizer.encode(&m.texts()).unwrap();
    assert_eq!((batch.batch(), batch.seq()), (m.cases.len(), 256));
    for (row, case) in m.cases.iter().enumerate() {
        assert_eq!(
            batch.row_ids(row),
            case.token_ids,
            "{} in a batch",
            case.name
        );
    }
    let short = m.tokenizer.encode(&["Hello world", ""]).unwrap();
    assert_eq!(short.ids(), [101, 7592, 2088, 102, 101, 102, 0, 0]);
    assert_eq!(short.attention_mask(), [1, 1, 1, 1, 1, 1, 0, 0]);
}

#[test]
fn embeddings_match_on_the_cpu_backend() {
    // check_against_fixture asserts every case; the worst one is reported for the log.
    let (diff, cos) = check_against_fixture("cpu (flex)", &Device::flex());
    eprintln!("cpu (flex): worst diff {diff:e}, cosine {cos}");
}

#[test]
fn embeddings_match_on_the_native_gpu() {
    let options = RuntimeOptions {
        policy: webvram::policy::Options {
            vram: webvram::policy::VramMode::Shared,
            ..Default::default()
        },
        ..Default::default()
    };
    let rt = pollster::block_on(Runtime::create(options)).expect("runtime starts");
    assert!(
        rt.gpu().is_some(),
        "no GPU adapter ({:?}); install mesa-vulkan-drivers for lavapipe",
        rt.adapter().unavailable_reason
    );
    let label = format!("gpu ({})", rt.adapter().description);
    check_against_fixture(&label, rt.device());
}

/// Max and CLS pooling must also ignore padding: a text embedded alone equals it inside a batch.
#[test]
fn other_pooling_modes_ignore_padding() {
    let m = minilm();
    let device = Device::flex();
    let weights = upload(m, &device);
    for (mode, json) in [
        (Pooling::Max, r#"{"pooling_mode_max_tokens": true}"#),
        (Pooling::Cls, r#"{"pooling_mode_cls_token": true}"#),
    ] {
        let head = SentenceHead::from_json(
            &read(&m.dir, "modules.json"),
            json.as_bytes(),
            &read(&m.dir, "sentence_bert_config.json"),
        )
        .unwrap();
        assert_eq!(head.pooling(), mode);
        let model = BertModel::new(m.model.config().clone(), head).unwrap();
        let texts = [
            "Hello world",
            "The quick brown fox jumps over the lazy dog.",
        ];
        let batch = embed(m, &model, &m.tokenizer, &weights, &texts, &device);
        let alone = embed(m, &model, &m.tokenizer, &weights, &texts[..1], &device);
        let (diff, _) = compare(&batch[0], &alone[0]);
        assert!(diff <= 1e-5, "{mode:?}: padded row differs by {diff}");
        let mean = embed(m, &m.model, &m.tokenizer, &weights, &texts[..1], &device);
        assert!(
            compare(&mean[0], &alone[0]).0 > 1e-3,
            "{mode:?} looks like mean pooling"
        );
    }
}

#[test]
fn checkpoint_places_into_the_models_layers() {
    let m = minilm();
    let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names[0], "embeddings");
    assert_eq!(
        names[1..],
        [
            "encoder.layer.0",
            "encoder.layer.1",
            "encoder.layer.2",
            "encoder.layer.3",
            "encoder.layer.4",
            "encoder.layer.5"
        ]
    );
    let emb = &m.layers[0];
    assert_eq!(emb.tensors.len(), 5, "{:?}", emb.tensors.keys());
    assert!(!emb.tensors.contains_key("position_ids"));
    assert!(m.layers[1..].iter().all(|l| l.tensors.len() == 16));
    let total: u64 = m.layers.iter().map(HostLayer::bytes).sum();
    // 22.7 M parameters minus the 0.15 M of the pooler, in f32.
    assert!((90_000_000..91_000_000).contains(&total), "{total}");
}

#[test]
fn bad_weights_and_input_are_typed_errors() {
    let m = minilm();
    let device = Device::flex();
    let tokens = m.tokenizer.encode(&["Hello world"]).unwrap();
    let input = || m.model.input(&tokens, &device).unwrap();
    let layer1 = LayerWeights::upload(&m.layers[1], &device);
    let err = m.model.run_layer(0, &layer1, input()).unwrap_err();
    assert!(
        matches!(err, ExecError::BadInput(ref s) if s.contains("encoder.layer.0")),
        "{err}"
    );

    let mut no_query = m.layers[1].clone();
    no_query.tensors.remove("attention.self.query.weight");
    let embedded = m
        .model
        .run_layer(0, &LayerWeights::upload(&m.layers[0], &device), input())
        .unwrap();
    let err = m
        .model
        .run_layer(1, &LayerWeights::upload(&no_query, &device), embedded)
        .unwrap_err();
    assert!(
        matches!(err, ExecError::MissingTensor { ref tensor, .. } if tensor == "attention.self.query.weight"),
        "{err}"
    );

    let mut short_vocab = m.layers[0].clone();
    let word = short_vocab
        .tensors
        .get_mut("word_embeddings.weight")
        .unwrap();
    word.shape[0] -= 1;
    word.data = word.data.prefix(word.shape[0] * word.shape[1]);
    let err = m
        .model
        .run_layer(0, &LayerWeights::upload(&short_vocab, &device), input())
        .unwrap_err();
    assert!(
        matches!(err, ExecError::BadShape { ref actual, .. } if actual == &[30521, 384]),
        "{err}"
    );

    let out_of_vocab = TokenBatch::new(1, 2, vec![101, 30522], vec![0, 0], vec![1, 1]).unwrap();
    assert!(matches!(
        m.model.input(&out_of_vocab, &device),
        Err(ExecError::BadInput(_))
    ));
    let empty = TokenBatch::new(0, 0, vec![], vec![], vec![]).unwrap();
    assert!(matches!(
        m.model.input(&empty, &device),
        Err(ExecError::BadInput(_))
    ));
    assert!(TokenBatch::new(1, 2, vec![1], vec![0, 0], vec![1, 1]).is_err());
    assert!(matches!(m.model.pool(input()), Err(ExecError::BadInput(_))));
    let few = webvram::models::run_resident(&m.model, &[], input()).unwrap_err();
    assert!(matches!(few, ExecError::BadInput(_)));
}

#[test]
fn inference_bytes_bound_the_attention_scores() {
    let model = &minilm().model;
    let scores = |b: u64, s: u64| b * 12 * s * s * 4;
    assert!(model.inference_bytes(1, 256) > 2 * scores(1, 256));
    assert!(model.inference_bytes(8, 256) >= 8 * model.inference_bytes(1, 256) - 8 * 2 * 384 * 4);
    assert!(
        model.inference_bytes(1, 256) < 32 << 20,
        "{}",
        model.inference_bytes(1, 256)
    );
    assert_eq!(model.inference_bytes(usize::MAX, usize::MAX), u64::MAX);
}

#[path = "model_bert_support/config_errors.rs"]
mod config_errors;
