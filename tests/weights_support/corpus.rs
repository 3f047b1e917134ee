//! The malformed-file corpus: hand-made defective files, indexes and checkpoints, each with the error code
//! it must produce.

use super::{Case, Input, entry, raw_file, st_file, valid_file};

/// A defective file streamed with no declared length.
fn file(name: &'static str, bytes: Vec<u8>, code: &'static str) -> Case {
    Case {
        name,
        input: Input::File {
            bytes,
            file_len: None,
        },
        code,
    }
}

/// A file whose header JSON is `json` and data is `data_len` zero bytes.
fn json_file(name: &'static str, json: &str, data_len: usize, code: &'static str) -> Case {
    file(name, st_file(json, &vec![0; data_len]), code)
}

/// A one-entry header `{"t": <entry body>}` with 8 data bytes.
fn one(name: &'static str, body: &str, code: &'static str) -> Case {
    json_file(name, &format!(r#"{{"t":{body}}}"#), 8, code)
}

/// An index at a fixed location whose weight map is `map` (JSON object text).
fn index(name: &'static str, map: &str, code: &'static str) -> Case {
    let json = format!(r#"{{"metadata":{{"total_size":8}},"weight_map":{map}}}"#);
    Case {
        name,
        input: Input::Index {
            location: "https://h/m/model.safetensors.index.json",
            json,
        },
        code,
    }
}

/// A one-tensor F32 [2] shard holding `names`, each 8 bytes, contiguous.
fn shard(names: &[&str]) -> Vec<u8> {
    let entries: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| entry(n, "F32", &[2], 8 * i as u64, 8 * (i as u64 + 1)))
        .collect();
    st_file(
        &format!("{{{}}}", entries.join(",")),
        &vec![0; 8 * names.len()],
    )
}

/// A checkpoint of index `map` and shards `s1`, `s2`.
fn checkpoint(
    name: &'static str,
    map: &str,
    s1: &[&str],
    s2: Option<&[&str]>,
    code: &'static str,
) -> Case {
    let json = format!(r#"{{"weight_map":{map}}}"#);
    let mut shards = vec![("s1.safetensors", shard(s1))];
    if let Some(s2) = s2 {
        shards.push(("s2.safetensors", shard(s2)));
    }
    Case {
        name,
        input: Input::Checkpoint { json, shards },
        code,
    }
}

/// Every defective input. Each name is unique; each code names one `WeightsError` variant.
pub fn corpus() -> Vec<Case> {
    let valid = valid_file();
    let two = |a: &str, b: &str| format!("{{{a},{b}}}");
    let mut cases = vec![
        // Truncation in each region.
        file(
            "truncated inside the length prefix",
            valid[..5].to_vec(),
            "truncated_length",
        ),
        file("empty file", Vec::new(), "truncated_length"),
        file(
            "truncated inside the header JSON",
            valid[..30].to_vec(),
            "truncated_header",
        ),
        file(
            "truncated inside the data",
            valid[..valid.len() - 3].to_vec(),
            "truncated_data",
        ),
        file(
            "header only, data missing",
            valid[..valid.len() - 14].to_vec(),
            "truncated_data",
        ),
        Case {
            name: "declared length shorter than header",
            input: Input::File {
                bytes: valid[..20].to_vec(),
                file_len: Some(20),
            },
            code: "truncated_header",
        },
        Case {
            name: "declared length shorter than data",
            input: Input::File {
                bytes: valid[..valid.len() - 2].to_vec(),
                file_len: Some(valid.len() as u64 - 2),
            },
            code: "truncated_data",
        },
        // Sizes.
        file(
            "header length u64::MAX",
            u64::MAX.to_le_bytes().to_vec(),
            "header_too_large",
        ),
        file(
            "header length cap + 1",
            100_000_001u64.to_le_bytes().to_vec(),
            "header_too_large",
        ),
        file(
            "trailing bytes after the data",
            [valid.clone(), vec![7; 5]].concat(),
            "trailing_data",
        ),
        Case {
            name: "declared length longer than the data",
            input: Input::File {
                bytes: valid.clone(),
                file_len: Some(valid.len() as u64 + 1),
            },
            code: "trailing_data",
        },
        // Encoding and JSON shape.
        file(
            "header not UTF-8",
            raw_file(b"{\"a\xff\":{}}", &[]),
            "header_not_utf8",
        ),
        json_file(
            "header not JSON",
            r#"{"t":{"dtype":"F32","#,
            0,
            "invalid_json",
        ),
        json_file("empty header", "", 0, "invalid_json"),
        json_file("garbage after the JSON object", "{} x", 0, "invalid_json"),
        json_file(
            "lone surrogate in a name",
            r#"{"\ud800":{}}"#,
            0,
            "invalid_json",
        ),
        one(
            "field given twice",
            r#"{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}"#,
            "invalid_json",
        ),
        json_file("header is an array", "[1,2]", 0, "header_not_object"),
        json_file("header is a string", r#""hello""#, 0, "header_not_object"),
        json_file("entry is a number", r#"{"t":3}"#, 0, "entry_not_object"),
        json_file("entry is null", r#"{"t":null}"#, 0, "entry_not_object"),
        // Fields.
        one(
            "missing dtype",
            r#"{"shape":[2],"data_offsets":[0,8]}"#,
            "missing_field",
        ),
        one(
            "missing shape",
            r#"{"dtype":"F32","data_offsets":[0,8]}"#,
            "missing_field",
        ),
        one(
            "missing data_offsets",
            r#"{"dtype":"F32","shape":[2]}"#,
            "missing_field",
        ),
        one(
            "dtype is a number",
            r#"{"dtype":4,"shape":[2],"data_offsets":[0,8]}"#,
            "bad_dtype",
        ),
        one(
            "unknown dtype",
            r#"{"dtype":"F33","shape":[2],"data_offsets":[0,8]}"#,
            "unknown_dtype",
        ),
        one(
            "lower-case dtype",
            r#"{"dtype":"f32","shape":[2],"data_offsets":[0,8]}"#,
            "unknown_dtype",
        ),
        one(
            "unsupported dtype U16",
            r#"{"dtype":"U16","shape":[4],"data_offsets":[0,8]}"#,
            "unsupported_dtype",
        ),
        one(
            "unsupported dtype F4",
            r#"{"dtype":"F4","shape":[16],"data_offsets":[0,8]}"#,
            "unsupported_dtype",
        ),
        one(
            "negative shape",
            r#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#,
            "bad_shape",
        ),
        one(
            "float shape",
            r#"{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}"#,
            "bad_shape",
        ),
        one(
            "shape not an array",
            r#"{"dtype":"F32","shape":2,"data_offsets":[0,8]}"#,
            "bad_shape",
        ),
        one(
            "shape dimension is a string",
            r#"{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}"#,
            "bad_shape",
        ),
        one(
            "element count overflows",
            r#"{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}"#,
            "shape_overflow",
        ),
        one(
            "byte count overflows",
            r#"{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}"#,
            "shape_overflow",
        ),
        one(
            "offsets not a pair",
            r#"{"dtype":"F32","shape":[2],"data_offsets":[0,8,16]}"#,
            "bad_offsets",
        ),
        one(
            "offsets negative",
            r#"{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}"#,
            "bad_offsets",
        ),
        one(
            "offset past u64",
            r#"{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}"#,
            "bad_offsets",
        ),
        one(
            "offsets an object",
            r#"{"dtype":"F32","shape":[2],"data_offsets":{"a":1}}"#,
            "bad_offsets",
        ),
        one(
            "offsets reversed",
            r#"{"dtype":"F32","shape":[2],"data_offsets":[8,0]}"#,
            "offsets_reversed",
        ),
        one(
            "byte length mismatch",
            r#"{"dtype":"F32","shape":[3],"data_offsets":[0,8]}"#,
            "length_mismatch",
        ),
        // Layout.
        json_file(
            "offsets overlap",
            &two(
                &entry("a", "F32", &[2], 0, 8),
                &entry("b", "F32", &[2], 4, 12),
            ),
            12,
            "offset_overlap",
        ),
        json_file(
            "same span twice",
            &two(
                &entry("a", "F32", &[2], 0, 8),
                &entry("b", "F32", &[2], 0, 8),
            ),
            8,
            "offset_overlap",
        ),
        json_file(
            "gap between tensors",
            &two(
                &entry("a", "F32", &[2], 0, 8),
                &entry("b", "F32", &[2], 12, 20),
            ),
            20,
            "offset_gap",
        ),
        json_file(
            "first tensor not at 0",
            &format!("{{{}}}", entry("a", "F32", &[2], 4, 12)),
            12,
            "offset_gap",
        ),
        json_file(
            "duplicate tensor name",
            &two(
                &entry("a", "F32", &[2], 0, 8),
                &entry("a", "F32", &[2], 8, 16),
            ),
            16,
            "duplicate_tensor",
        ),
        json_file(
            "metadata is an array",
            r#"{"__metadata__":[1]}"#,
            0,
            "bad_metadata",
        ),
        json_file(
            "metadata value is a number",
            r#"{"__metadata__":{"k":1}}"#,
            0,
            "bad_metadata",
        ),
        json_file(
            "metadata given twice",
            r#"{"__metadata__":{},"__metadata__":{}}"#,
            0,
            "bad_metadata",
        ),
        json_file(
            "metadata key given twice",
            r#"{"__metadata__":{"k":"a","k":"b"}}"#,
            0,
            "bad_metadata",
        ),
    ];
    cases.extend(index_cases());
    cases
}

/// Defective indexes and checkpoints.
fn index_cases() -> Vec<Case> {
    let at = "https://h/m/model.safetensors.index.json";
    let raw = |name, json: &str| Case {
        name,
        input: Input::Index {
            location: at,
            json: json.into(),
        },
        code: "index_malformed",
    };
    vec![
        raw("index not JSON", "{weight_map"),
        raw("index is an array", "[]"),
        raw("index without weight_map", r#"{"metadata":{}}"#),
        raw("weight_map value is a number", r#"{"weight_map":{"a":1}}"#),
        raw("weight_map is empty", r#"{"weight_map":{}}"#),
        raw(
            "total_size negative",
            r#"{"metadata":{"total_size":-1},"weight_map":{"a":"s.safetensors"}}"#,
        ),
        index(
            "index names ../x",
            r#"{"a":"../x.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index names an absolute URL",
            r#"{"a":"https://evil.example/x.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index names another origin",
            r#"{"a":"//evil.example/x.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index names a rooted path",
            r#"{"a":"/etc/x.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index name with backslash",
            r#"{"a":"..\\x.safetensors"}"#,
            "bad_shard_name",
        ),
        index("index name empty", r#"{"a":""}"#, "bad_shard_name"),
        index(
            "index name percent-encoded dots",
            r#"{"a":"%2e%2e/x.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index name with control character",
            r#"{"a":"x\n.safetensors"}"#,
            "bad_shard_name",
        ),
        index(
            "index tensor listed twice",
            r#"{"a":"s1.safetensors","a":"s2.safetensors"}"#,
            "duplicate_tensor",
        ),
        Case {
            name: "index too large",
            input: Input::Index {
                location: at,
                json: " ".repeat(100_000_001),
            },
            code: "index_too_large",
        },
        checkpoint(
            "shard tensor absent from index",
            r#"{"a":"s1.safetensors"}"#,
            &["a", "extra"],
            None,
            "tensor_not_in_index",
        ),
        checkpoint(
            "tensor missing from its shard",
            r#"{"a":"s1.safetensors","b":"s1.safetensors"}"#,
            &["a"],
            None,
            "tensor_missing_from_shard",
        ),
        checkpoint(
            "tensor in two shards",
            r#"{"a":"s1.safetensors","b":"s2.safetensors"}"#,
            &["a", "b"],
            Some(&["b"]),
            "tensor_in_two_shards",
        ),
        checkpoint(
            "index maps tensor to the wrong shard",
            r#"{"a":"s2.safetensors","b":"s2.safetensors"}"#,
            &["a"],
            Some(&["b"]),
            "tensor_missing_from_shard",
        ),
        checkpoint(
            "shard header not supplied",
            r#"{"a":"s1.safetensors","b":"s3.safetensors"}"#,
            &["a"],
            None,
            "shard_header_missing",
        ),
    ]
}
