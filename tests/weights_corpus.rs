//! Every defective file, index and checkpoint of the corpus yields its own error variant, never a panic,
//! whatever the chunking of the stream.

mod weights_support;

// The same corpus runs natively and in headless Chromium.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::collections::BTreeSet;

use weights_support::corpus::corpus;
use weights_support::run;

/// Codes of every `WeightsError` variant the corpus must reach (the rest are tested where they arise:
/// `tensor_too_large` in weights_stream, `not_a_float` / `partial_element` in weights_convert,
/// `bad_synth_spec` in weights_synth).
const CORPUS_CODES: &[&str] = &[
    "truncated_length",
    "header_too_large",
    "truncated_header",
    "header_not_utf8",
    "invalid_json",
    "header_not_object",
    "entry_not_object",
    "duplicate_tensor",
    "missing_field",
    "bad_dtype",
    "unknown_dtype",
    "unsupported_dtype",
    "bad_shape",
    "shape_overflow",
    "bad_offsets",
    "offsets_reversed",
    "length_mismatch",
    "offset_gap",
    "offset_overlap",
    "bad_metadata",
    "truncated_data",
    "trailing_data",
    "index_too_large",
    "index_malformed",
    "bad_shard_name",
    "shard_header_missing",
    "tensor_missing_from_shard",
    "tensor_in_two_shards",
    "tensor_not_in_index",
];

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn each_defect_yields_its_error_under_every_chunking() {
    let cases = corpus();
    assert!(cases.len() >= 25, "corpus has only {} cases", cases.len());
    eprintln!("corpus: {} defective inputs", cases.len());
    for case in &cases {
        for chunk in [1, 3, 8, 64, usize::MAX] {
            let err = match run(&case.input, chunk) {
                Ok(()) => panic!("{}: accepted (chunk {chunk})", case.name),
                Err(err) => err,
            };
            assert_eq!(
                err.code(),
                case.code,
                "{} (chunk {chunk}): got {err}",
                case.name
            );
            assert!(!err.to_string().is_empty());
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn corpus_names_are_unique_and_reach_every_variant() {
    let cases = corpus();
    let names: BTreeSet<_> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
    let reached: BTreeSet<_> = cases.iter().map(|c| c.code).collect();
    let wanted: BTreeSet<_> = CORPUS_CODES.iter().copied().collect();
    assert_eq!(reached, wanted);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn file_errors_name_the_file_and_tensor() {
    let case = corpus()
        .into_iter()
        .find(|c| c.name == "byte length mismatch")
        .expect("case exists");
    let err = run(&case.input, 5).expect_err("defective");
    let text = err.to_string();
    assert!(
        text.contains("corpus.safetensors") && text.contains("`t`"),
        "{text}"
    );
    assert!(matches!(
        err,
        webvram::weights::WeightsError::LengthMismatch {
            expected: 12,
            found: 8,
            ..
        }
    ));
}
