//! Raw JSON shapes of a safetensors header, before validation.
//!
//! serde's derive would stop at the first type error with one opaque message. These hand-written visitors
//! instead record *what* was found where (a number where an object belongs, a negative dimension) as data,
//! so each problem becomes its own typed error naming the tensor. They never build a `serde_json::Value`,
//! whose per-node size would multiply a hostile header's memory cost; each entry is validated as soon as it
//! is read, and each shape stops collecting at [`MAX_RANK`](crate::weights::MAX_RANK) dimensions.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::weights::MAX_RANK;
use crate::weights::error::WeightsError;
use crate::weights::tensor::TensorInfo;

/// A value that is either what was wanted or a note of what was found instead.
pub(crate) type Found<T> = Result<T, String>;

/// One field of a tensor entry.
#[derive(Debug)]
pub(crate) enum Field<T> {
    /// The key was absent.
    Missing,
    /// The key was present.
    Present(Found<T>),
}

/// A tensor entry as written, each field possibly wrong.
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub dtype: Field<String>,
    pub shape: Field<Vec<u64>>,
    pub offsets: Field<[u64; 2]>,
}

/// A header's content once every entry has been validated on its own: tensors in file order and the
/// `__metadata__` map. Cross-entry rules (duplicates, layout) are [`Header`](crate::weights::Header)'s job.
#[derive(Debug, Default)]
pub(crate) struct RawHeader {
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

/// Parses header JSON text. Each entry is validated into a [`TensorInfo`] as soon as it is read and the
/// parse stops at the first bad one, so memory holds validated tensors only, never a backlog of raw ones.
///
/// # Errors
/// `InvalidJson`, `HeaderNotObject`, `BadMetadata`, or the first entry's [`TensorInfo::from_raw`] error.
pub(crate) fn parse_raw(file: &str, json: &str) -> Result<RawHeader, WeightsError> {
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_str(json);
    let visitor = HeaderVisitor {
        file,
        failure: &mut failure,
    };
    let parsed = de
        .deserialize_any(visitor)
        .and_then(|top| de.end().map(|()| top));
    match (parsed, failure) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(WeightsError::InvalidJson {
            file: file.into(),
            line: e.line() as u64,
            column: e.column() as u64,
            message: e.to_string(),
        }),
        (Ok(Err(found)), None) => Err(WeightsError::HeaderNotObject {
            file: file.into(),
            found,
        }),
        (Ok(Ok(raw)), None) => Ok(raw),
    }
}

/// The top-level visitor; it parks a typed error in `failure` and aborts the parse with a placeholder.
struct HeaderVisitor<'a> {
    file: &'a str,
    failure: &'a mut Option<WeightsError>,
}

impl HeaderVisitor<'_> {
    /// Records `error` and returns the serde error that stops the parse.
    fn fail<E: de::Error>(self, error: WeightsError) -> E {
        *self.failure = Some(error);
        E::custom("invalid header entry")
    }
}

/// A visitor expecting a `T`; any other JSON kind yields `Err("a string")` etc.
struct Expect<T>(std::marker::PhantomData<T>);

impl<T> Expect<T> {
    fn new() -> Self {
        Expect(std::marker::PhantomData)
    }
}

impl<'de, T> DeserializeSeed<'de> for Expect<T>
where
    Expect<T>: Visitor<'de, Value = Found<T>>,
{
    type Value = Found<T>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

/// Implements `visit_*` for each listed JSON kind, recording "found a string" etc. instead of failing.
/// Arrays and objects are drained without being stored.
macro_rules! record_kinds {
    ($($kind:ident)*) => { $(record_kinds!(@ $kind);)* };
    (@ bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(Err("a boolean".to_owned())) }
    };
    (@ i64) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Err("a negative number".to_owned()))
        }
    };
    (@ u64) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(Err("a number".to_owned())) }
    };
    (@ f64) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Err("a fractional or too-large number".to_owned()))
        }
    };
    (@ unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Err("null".to_owned())) }
    };
    (@ str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(Err("a string".to_owned())) }
    };
    (@ seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Err("an array".to_owned()))
        }
    };
    (@ map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Err("an object".to_owned()))
        }
    };
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Found<RawHeader>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a safetensors header object")
    }
    record_kinds!(bool i64 u64 f64 unit str seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawHeader::default();
        let mut seen_metadata = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "__metadata__" {
                let entry = map.next_value_seed(Expect::<RawEntry>::new())?;
                match TensorInfo::from_raw(self.file, key, entry) {
                    Ok(tensor) => raw.tensors.push(tensor),
                    Err(e) => return Err(self.fail(e)),
                }
                continue;
            }
            let meta = map.next_value_seed(Expect::<BTreeMap<String, String>>::new())?;
            let meta = if seen_metadata {
                Err("it is given twice".to_owned())
            } else {
                meta
            };
            match meta {
                Ok(meta) => raw.metadata = meta,
                Err(problem) => {
                    let file = self.file.into();
                    return Err(self.fail(WeightsError::BadMetadata { file, problem }));
                }
            }
            seen_metadata = true;
        }
        Ok(Ok(raw))
    }
}

impl<'de> Visitor<'de> for Expect<RawEntry> {
    type Value = Found<RawEntry>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tensor entry object")
    }
    record_kinds!(bool i64 u64 f64 unit str seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entry = RawEntry {
            dtype: Field::Missing,
            shape: Field::Missing,
            offsets: Field::Missing,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "dtype" => set_once(
                    &mut entry.dtype,
                    map.next_value_seed(Expect::<String>::new())?,
                )?,
                "shape" => set_once(
                    &mut entry.shape,
                    map.next_value_seed(Expect::<Vec<u64>>::new())?,
                )?,
                "data_offsets" => set_once(
                    &mut entry.offsets,
                    map.next_value_seed(Expect::<[u64; 2]>::new())?,
                )?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(Ok(entry))
    }
}

/// Stores a field, refusing a key given twice in one entry as a JSON error.
fn set_once<T, E: de::Error>(slot: &mut Field<T>, value: Found<T>) -> Result<(), E> {
    match slot {
        Field::Missing => {
            *slot = Field::Present(value);
            Ok(())
        }
        Field::Present(_) => Err(E::custom("a tensor entry field is given twice")),
    }
}

impl<'de> Visitor<'de> for Expect<String> {
    type Value = Found<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    record_kinds!(bool i64 u64 f64 unit seq map);
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Ok(v.to_owned()))
    }
}

impl<'de> Visitor<'de> for Expect<BTreeMap<String, String>> {
    type Value = Found<BTreeMap<String, String>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }
    record_kinds!(bool i64 u64 f64 unit str seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        let mut problem = None;
        while let Some(key) = map.next_key::<String>()? {
            match map.next_value_seed(Expect::<String>::new())? {
                Ok(value) if problem.is_none() => {
                    if out.insert(key.clone(), value).is_some() {
                        problem = Some(format!("key \"{key}\" is given twice"));
                    }
                }
                Ok(_) => {}
                Err(kind) => {
                    problem.get_or_insert(format!("value of \"{key}\" is {kind}, not a string"));
                }
            }
        }
        Ok(problem.map_or(Ok(out), Err))
    }
}

impl<'de> Visitor<'de> for Expect<Vec<u64>> {
    type Value = Found<Vec<u64>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of dimensions")
    }
    record_kinds!(bool i64 u64 f64 unit str map);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        collect_u64s(seq, MAX_RANK, "it has more than the maximum rank")
    }
}

impl<'de> Visitor<'de> for Expect<[u64; 2]> {
    type Value = Found<[u64; 2]>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [start, end] pair")
    }
    record_kinds!(bool i64 u64 f64 unit str map);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(match collect_u64s(seq, 2, "it has more than 2 numbers")? {
            Ok(v) if v.len() == 2 => Ok([v[0], v[1]]),
            Ok(v) => Err(format!("it has {} numbers, not 2", v.len())),
            Err(problem) => Err(problem),
        })
    }
}

/// Collects up to `max` non-negative integers, noting the first element that is not one (or one too many)
/// and skipping the rest without storing it.
fn collect_u64s<'de, A: SeqAccess<'de>>(
    mut seq: A,
    max: usize,
    too_many: &str,
) -> Result<Found<Vec<u64>>, A::Error> {
    let mut out = Vec::new();
    let mut problem = None;
    let mut i = 0usize;
    while let Some(item) = seq.next_element_seed(Expect::<u64>::new())? {
        match item {
            _ if problem.is_some() => {}
            Ok(_) if out.len() == max => problem = Some(format!("{too_many} ({max})")),
            Ok(n) => out.push(n),
            Err(kind) => {
                problem = Some(format!("element {i} is {kind}, not a non-negative integer"))
            }
        }
        i = i.saturating_add(1);
    }
    Ok(problem.map_or(Ok(out), Err))
}

impl<'de> Visitor<'de> for Expect<u64> {
    type Value = Found<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }
    record_kinds!(bool i64 f64 unit str seq map);
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Ok(v))
    }
}
