//! Sharded checkpoints: `model.safetensors.index.json`.
//!
//! Hugging Face splits large checkpoints into shards and writes an index
//! `{"metadata": {"total_size": …}, "weight_map": {tensor: shard file}}`. [`Index::parse`] validates it and
//! resolves every shard name against the index's own URL (refusing names that leave its folder unless the
//! caller allows it, see [`ShardPolicy`]). Once the shards' headers are read, [`Index::cross_check`] proves
//! the index and the headers agree, so a loader can trust either to find a tensor.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use crate::weights::MAX_INDEX_LEN;
use crate::weights::error::WeightsError;
use crate::weights::header::Header;
use crate::weights::url::{ShardPolicy, resolve_shard};

/// One shard an index refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRef {
    name: String,
    url: String,
}

impl ShardRef {
    /// The shard name as written in the index, e.g. `"model-00001-of-00002.safetensors"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shard's URL or path, resolved against the index's location.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A validated index: every tensor maps to a shard whose name resolved safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    file: String,
    total_size: Option<u64>,
    /// Sorted by name, each once.
    shards: Vec<ShardRef>,
    /// Sorted by tensor name; the number indexes `shards`.
    weight_map: Vec<(String, usize)>,
}

/// The index JSON as written.
#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<RawIndexMetadata>,
    weight_map: OrderedMap,
}

/// The part of the index's `metadata` that webvram reads; other keys are ignored.
#[derive(Deserialize)]
struct RawIndexMetadata {
    #[serde(default)]
    total_size: Option<serde_json::Number>,
}

/// A JSON object of string → string kept in file order, duplicates included, so they can be reported.
struct OrderedMap(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping tensor names to shard file names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(OrderedMap(pairs))
            }
        }
        de.deserialize_map(V)
    }
}

impl Index {
    /// Parses index JSON fetched from `file` (its URL or path, which shard names are resolved against).
    ///
    /// # Errors
    /// `IndexTooLarge` over [`MAX_INDEX_LEN`]; `IndexMalformed` for bad JSON, a missing or non-string-map
    /// `weight_map`, an empty weight map or a non-integer `total_size`; `DuplicateTensor` for a tensor listed
    /// twice; `BadShardName` for a shard name refused by [`resolve_shard`].
    pub fn parse(file: &str, json: &[u8], policy: ShardPolicy) -> Result<Index, WeightsError> {
        let len = json.len() as u64;
        if len > MAX_INDEX_LEN {
            return Err(WeightsError::IndexTooLarge {
                file: file.into(),
                len,
                limit: MAX_INDEX_LEN,
            });
        }
        let raw: RawIndex =
            serde_json::from_slice(json).map_err(|e| malformed(file, e.to_string()))?;
        let total_size =
            match raw.metadata.and_then(|m| m.total_size) {
                None => None,
                Some(n) => Some(n.as_u64().ok_or_else(|| {
                    malformed(file, format!("total_size {n} is not a byte count"))
                })?),
            };
        let pairs = sorted_unique(file, raw.weight_map.0)?;
        let shards = resolve_all(file, &pairs, policy)?;
        let weight_map = pairs
            .into_iter()
            .map(|(tensor, shard)| {
                let i = shards
                    .binary_search_by(|s| s.name.cmp(&shard))
                    .unwrap_or_default();
                (tensor, i)
            })
            .collect();
        Ok(Index {
            file: file.into(),
            total_size,
            shards,
            weight_map,
        })
    }

    /// The index's own label (its URL or path).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// `metadata.total_size`: the sum of all tensors' byte lengths, as the writer declared it (unchecked).
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }

    /// The shards the index uses, sorted by name.
    pub fn shards(&self) -> &[ShardRef] {
        &self.shards
    }

    /// Every tensor with its shard, sorted by tensor name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &ShardRef)> {
        self.weight_map
            .iter()
            .map(|(t, i)| (t.as_str(), &self.shards[*i]))
    }

    /// The shard holding `tensor`, if the index lists it.
    pub fn shard_of(&self, tensor: &str) -> Option<&ShardRef> {
        let i = self
            .weight_map
            .binary_search_by(|(t, _)| t.as_str().cmp(tensor))
            .ok()?;
        Some(&self.shards[self.weight_map[i].1])
    }

    /// Checks the shards' headers against the weight map. `header_of` returns the parsed header of a shard.
    ///
    /// A tensor present in a shard's header but absent from the index (or mapped to another shard) is an
    /// error, not a warning: a loader driven by the index would silently never load it, and a stale index
    /// is exactly the mismatch this check exists to catch.
    ///
    /// # Errors
    /// `ShardHeaderMissing`, `TensorInTwoShards`, `TensorMissingFromShard`, `TensorNotInIndex`.
    pub fn cross_check<'h>(
        &self,
        mut header_of: impl FnMut(&ShardRef) -> Option<&'h Header>,
    ) -> Result<(), WeightsError> {
        let index = || self.file.clone();
        let mut headers = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let header = header_of(shard).ok_or_else(|| WeightsError::ShardHeaderMissing {
                index: index(),
                shard: shard.name.clone(),
            })?;
            headers.push(header);
        }
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for (shard, header) in self.shards.iter().zip(&headers) {
            for t in header.tensors() {
                if let Some(first) = owner.insert(t.name(), &shard.name) {
                    let (tensor, second) = (t.name().to_owned(), shard.name.clone());
                    return Err(WeightsError::TensorInTwoShards {
                        index: index(),
                        tensor,
                        first: first.to_owned(),
                        second,
                    });
                }
            }
        }
        for (tensor, i) in &self.weight_map {
            if headers[*i].tensor(tensor).is_none() {
                let shard = self.shards[*i].name.clone();
                return Err(WeightsError::TensorMissingFromShard {
                    index: index(),
                    tensor: tensor.clone(),
                    shard,
                });
            }
        }
        match owner
            .into_iter()
            .find(|(t, s)| self.shard_of(t).map(ShardRef::name) != Some(*s))
        {
            Some((t, s)) => Err(WeightsError::TensorNotInIndex {
                index: index(),
                tensor: t.to_owned(),
                shard: s.to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// The error for an index that is not of the expected form.
fn malformed(file: &str, problem: String) -> WeightsError {
    WeightsError::IndexMalformed {
        file: file.into(),
        problem,
    }
}

/// Sorts the weight map by tensor name, refusing an empty map or a tensor listed twice.
fn sorted_unique(
    file: &str,
    mut pairs: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, WeightsError> {
    if pairs.is_empty() {
        return Err(malformed(file, "weight_map is empty".into()));
    }
    pairs.sort();
    match pairs.windows(2).find(|p| p[0].0 == p[1].0) {
        Some(pair) => Err(WeightsError::DuplicateTensor {
            file: file.into(),
            tensor: pair[0].0.clone(),
        }),
        None => Ok(pairs),
    }
}

/// Resolves each distinct shard name once, returning them sorted by name.
fn resolve_all(
    file: &str,
    pairs: &[(String, String)],
    policy: ShardPolicy,
) -> Result<Vec<ShardRef>, WeightsError> {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for (tensor, shard) in pairs {
        by_name.entry(shard).or_insert(tensor);
    }
    by_name
        .into_iter()
        .map(|(shard, tensor)| match resolve_shard(file, shard, policy) {
            Ok(url) => Ok(ShardRef {
                name: shard.to_owned(),
                url,
            }),
            Err(problem) => {
                let (file, tensor, shard) = (file.to_owned(), tensor.to_owned(), shard.to_owned());
                Err(WeightsError::BadShardName {
                    file,
                    tensor,
                    shard,
                    problem,
                })
            }
        })
        .collect()
}
