//! The sentence-transformers reference (tests/reference/minilm_reference.json) and the comparison
//! every all-MiniLM-L6-v2 test applies to it.

use std::path::Path;

use serde::Deserialize;

/// Largest allowed absolute difference per component.
pub const MAX_ABS_DIFF: f32 = 1e-4;
/// Smallest allowed cosine similarity to the reference.
pub const MIN_COSINE: f64 = 0.99999;

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

/// One reference sentence: its text, token ids and embedding.
#[derive(Deserialize)]
pub struct Case {
    pub name: String,
    pub text: String,
    #[allow(dead_code, reason = "only the tokenizer tests read the ids")]
    pub token_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

/// The folder `scripts/fetch-model.sh` puts all-MiniLM-L6-v2 in, as `Runtime::load_model`
/// takes it.
#[allow(dead_code, reason = "model_bert reads the files itself")]
pub fn model_folder() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "run scripts/fetch-model.sh"
    );
    dir.to_str().unwrap().to_owned()
}

/// Every reference case.
pub fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/minilm_reference.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice::<Fixture>(&text).unwrap().cases
}

/// (max abs difference, cosine) of `got` against `want`.
pub fn compare(got: &[f32], want: &[f32]) -> (f32, f64) {
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let dot: f64 = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum();
    let norm = |v: &[f32]| v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    (diff, dot / (norm(got) * norm(want)))
}
