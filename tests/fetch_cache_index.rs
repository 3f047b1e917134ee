#![cfg(not(target_arch = "wasm32"))]
//! The cache index: bookkeeping and LRU eviction order, natively and exhaustively.

use proptest::prelude::*;
use webvram::fetch::cache::{CacheIndex, CachedFile, INDEX_VERSION};

fn file(size: u64) -> CachedFile {
    CachedFile {
        size,
        etag: Some(format!("\"{size}\"")),
    }
}

/// A model's location, its files as (URL, size), and when it was last used.
type ModelRow<'a> = (&'a str, &'a [(&'a str, u64)], u64);

fn index_of(models: &[ModelRow<'_>]) -> CacheIndex {
    let mut index = CacheIndex::new();
    for (model, files, used) in models {
        for (url, size) in *files {
            index.record(model, url, file(*size), *used);
        }
    }
    index
}

#[test]
fn records_files_and_reports_sizes_and_recency() {
    let index = index_of(&[
        ("a/index.json", &[("a/1", 10), ("a/2", 20)], 5),
        ("b/model", &[("b/model", 7)], 9),
    ]);
    assert_eq!(index.bytes(), 37);
    assert_eq!(index.file("a/2"), Some(&file(20)));
    assert_eq!(index.file("c"), None);
    let list = index.list();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].url.as_str(), list[0].bytes, list[0].files),
        ("b/model", 7, 1)
    );
    assert_eq!(
        (list[1].url.as_str(), list[1].bytes, list[1].files),
        ("a/index.json", 30, 2)
    );
}

#[test]
fn eviction_takes_least_recently_used_first_and_spares_the_model_being_loaded() {
    let index = index_of(&[
        ("old", &[("o", 100)], 1),
        ("mid", &[("m", 100)], 2),
        ("new", &[("n", 100)], 3),
    ]);
    assert_eq!(index.eviction_order(50, "new"), vec!["old"]);
    assert_eq!(index.eviction_order(150, "new"), vec!["old", "mid"]);
    assert_eq!(index.eviction_order(150, "old"), vec!["mid", "new"]);
    // Not enough to free: every other model is offered, and the caller goes on uncached.
    assert_eq!(index.eviction_order(1_000, "mid"), vec!["old", "new"]);
    assert!(index.eviction_order(0, "mid").is_empty());
}

#[test]
fn removing_a_model_keeps_files_another_model_shares() {
    let mut index = index_of(&[
        ("a", &[("shared", 5), ("only-a", 6)], 1),
        ("b", &[("shared", 5)], 2),
    ]);
    assert_eq!(index.bytes(), 11);
    assert_eq!(index.remove("a"), vec!["only-a".to_owned()]);
    assert_eq!(index.bytes(), 5);
    assert!(index.remove("a").is_empty());
    assert_eq!(index.remove("b"), vec!["shared".to_owned()]);
    assert_eq!(index.bytes(), 0);
}

#[test]
fn an_unreadable_or_foreign_index_reads_as_empty() {
    for text in ["", "not json", "[]", r#"{"version": 99, "models": {}}"#] {
        let index = CacheIndex::parse(text);
        assert!(index.models.is_empty(), "{text:?}");
        assert_eq!(index.version, INDEX_VERSION);
    }
    let stored = index_of(&[("a", &[("a/1", 3)], 4)]);
    let json = serde_json::to_string(&stored).unwrap();
    assert_eq!(CacheIndex::parse(&json), stored);
}

#[test]
fn touch_never_moves_last_use_backwards() {
    let mut index = index_of(&[("a", &[("a/1", 3)], 10)]);
    index.touch("a", 4);
    assert_eq!(index.list()[0].last_used_ms, 10);
    index.touch("a", 12);
    assert_eq!(index.list()[0].last_used_ms, 12);
    index.touch("unknown", 99);
    assert_eq!(index.models.len(), 1);
}

proptest! {
    /// Eviction frees enough when the others can, never names the kept model, and stops early.
    #[test]
    fn eviction_frees_enough_and_no_more_models_than_needed(
        sizes in prop::collection::vec((1u64..1_000, 0u64..50), 1..12),
        needed in 0u64..6_000,
        keep in 0usize..12,
    ) {
        let mut index = CacheIndex::new();
        for (i, (size, used)) in sizes.iter().enumerate() {
            index.record(&format!("m{i}"), &format!("f{i}"), file(*size), *used);
        }
        let keep = format!("m{}", keep % sizes.len());
        let victims = index.eviction_order(needed, &keep);
        prop_assert!(!victims.contains(&keep));
        let size_of = |m: &str| index.models[m].bytes();
        let freed: u64 = victims.iter().map(|m| size_of(m)).sum();
        let others: u64 = index.models.keys().filter(|m| **m != keep).map(|m| size_of(m)).sum();
        prop_assert!(freed >= needed.min(others));
        if let Some((last, rest)) = victims.split_last() {
            let before: u64 = rest.iter().map(|m| size_of(m)).sum();
            prop_assert!(before < needed, "{last} was evicted though enough was already free");
        }
        let used = |m: &str| index.models[m].last_used_ms;
        prop_assert!(victims.windows(2).all(|w| used(&w[0]) <= used(&w[1])));
    }
}
