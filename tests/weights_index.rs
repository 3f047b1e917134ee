//! Index parsing, shard-name resolution and the index ↔ shard-header cross-check.
#![cfg(not(target_arch = "wasm32"))]

mod weights_support;

use std::collections::BTreeMap;

use webvram::weights::{
    Index, ShardNameProblem as P, ShardPolicy, WeightsError, read_header, resolve_shard,
};
use weights_support::{entry, st_file};

const STRICT: ShardPolicy = ShardPolicy {
    allow_external: false,
};
const EXTERNAL: ShardPolicy = ShardPolicy {
    allow_external: true,
};

#[test]
fn plain_names_resolve_beside_the_index() {
    let table = [
        (
            "https://h/m/model.safetensors.index.json",
            "s.safetensors",
            "https://h/m/s.safetensors",
        ),
        (
            "https://h/m/i.json?download=true#x",
            "s.safetensors",
            "https://h/m/s.safetensors",
        ),
        ("https://h", "s.safetensors", "https://h/s.safetensors"),
        (
            "https://h/",
            "sub/s.safetensors",
            "https://h/sub/s.safetensors",
        ),
        ("models/m/i.json", "s.safetensors", "models/m/s.safetensors"),
        ("i.json", "s.safetensors", "s.safetensors"),
        (
            "/data/m/i.json",
            "s 1.safetensors",
            "/data/m/s 1.safetensors",
        ),
        (
            "file:///data/m/i.json",
            "s.safetensors",
            "file:///data/m/s.safetensors",
        ),
        (
            r"C:\models\m\i.json",
            "s.safetensors",
            r"C:\models\m\s.safetensors",
        ),
    ];
    for (base, shard, want) in table {
        assert_eq!(
            resolve_shard(base, shard, STRICT).as_deref(),
            Ok(want),
            "{base} + {shard}"
        );
    }
}

#[test]
fn strict_policy_refuses_each_escape() {
    let base = "https://h/m/i.json";
    let table = [
        ("", P::Empty),
        ("a\\b", P::Backslash),
        ("a\u{7f}b", P::ControlCharacter),
        ("https://evil/x", P::AbsoluteUrl),
        ("data:text/plain,x", P::AbsoluteUrl),
        ("c:x", P::AbsoluteUrl),
        ("//evil/x", P::OtherOrigin),
        ("/x", P::RootedPath),
        ("../x", P::DotSegment),
        ("a/../../x", P::DotSegment),
        ("./x", P::DotSegment),
        ("a//x", P::EmptySegment),
        ("a/", P::EmptySegment),
        ("%2E%2E/x", P::EncodedSeparator),
        ("a%2fb", P::EncodedSeparator),
        ("a%5Cb", P::EncodedSeparator),
        ("x?y", P::QueryOrFragment),
        ("x#y", P::QueryOrFragment),
    ];
    for (shard, problem) in table {
        assert_eq!(
            resolve_shard(base, shard, STRICT),
            Err(problem),
            "{shard:?}"
        );
        assert!(!problem.to_string().is_empty());
    }
}

#[test]
fn external_policy_allows_and_folds() {
    let base = "https://h/a/b/i.json";
    let table = [
        ("https://cdn/x", "https://cdn/x"),
        ("//cdn/x", "https://cdn/x"),
        ("/x", "https://h/x"),
        ("../x", "https://h/a/x"),
        ("../../../../x", "https://h/x"),
        ("./c/./x", "https://h/a/b/c/x"),
    ];
    for (shard, want) in table {
        assert_eq!(
            resolve_shard(base, shard, EXTERNAL).as_deref(),
            Ok(want),
            "{shard}"
        );
    }
    assert_eq!(
        resolve_shard("m/i.json", "../../x", EXTERNAL).as_deref(),
        Ok("../x")
    );
    assert_eq!(resolve_shard(base, "a\\b", EXTERNAL), Err(P::Backslash));
    assert_eq!(resolve_shard(base, "a//b", EXTERNAL), Err(P::EmptySegment));
}

#[test]
fn index_parses_and_answers_lookups() {
    let json = br#"{"metadata":{"total_size":24,"format":"pt"},"weight_map":{
        "b":"model-00002-of-00002.safetensors","a":"model-00001-of-00002.safetensors",
        "c":"model-00002-of-00002.safetensors"},"extra":[1]}"#;
    let index =
        Index::parse("https://h/m/model.safetensors.index.json", json, STRICT).expect("valid");
    assert_eq!(index.file(), "https://h/m/model.safetensors.index.json");
    assert_eq!(index.total_size(), Some(24));
    let shards: Vec<_> = index.shards().iter().map(|s| (s.name(), s.url())).collect();
    assert_eq!(
        shards,
        [
            (
                "model-00001-of-00002.safetensors",
                "https://h/m/model-00001-of-00002.safetensors"
            ),
            (
                "model-00002-of-00002.safetensors",
                "https://h/m/model-00002-of-00002.safetensors"
            ),
        ]
    );
    let tensors: Vec<_> = index.tensors().map(|(t, s)| (t, s.name().len())).collect();
    assert_eq!(
        tensors.iter().map(|t| t.0).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(
        index.shard_of("c").map(|s| s.name()),
        Some("model-00002-of-00002.safetensors")
    );
    assert!(index.shard_of("d").is_none());
    let no_meta = Index::parse("i.json", br#"{"weight_map":{"a":"s"}}"#, STRICT).expect("valid");
    assert_eq!(no_meta.total_size(), None);
}

#[test]
fn bad_shard_name_error_names_tensor_and_shard() {
    let err = Index::parse(
        "https://h/i.json",
        br#"{"weight_map":{"w":"../x"}}"#,
        STRICT,
    )
    .expect_err("bad");
    assert_eq!(
        err,
        WeightsError::BadShardName {
            file: "https://h/i.json".into(),
            tensor: "w".into(),
            shard: "../x".into(),
            problem: P::DotSegment,
        }
    );
    assert!(
        Index::parse(
            "https://h/i.json",
            br#"{"weight_map":{"w":"../x"}}"#,
            EXTERNAL
        )
        .is_ok()
    );
}

#[test]
fn consistent_checkpoint_cross_checks() {
    let s1 = st_file(
        &format!(
            "{{{},{}}}",
            entry("a", "F32", &[1], 0, 4),
            entry("b", "F32", &[1], 4, 8)
        ),
        &[0; 8],
    );
    let s2 = st_file(&format!("{{{}}}", entry("c", "F16", &[2], 0, 4)), &[0; 4]);
    let json = br#"{"weight_map":{"a":"s1","b":"s1","c":"s2"}}"#;
    let index = Index::parse("i.json", json, STRICT).expect("valid");
    let mut headers = BTreeMap::new();
    for (name, bytes) in [("s1", &s1), ("s2", &s2)] {
        headers.insert(
            name,
            read_header(name, bytes, Some(bytes.len() as u64))
                .expect("valid")
                .0,
        );
    }
    assert_eq!(index.cross_check(|s| headers.get(s.name())), Ok(()));
}
