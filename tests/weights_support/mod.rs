//! Shared helpers for the weights tests: hand-made safetensors bytes and the malformed-file corpus.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

pub mod corpus;

use std::collections::BTreeMap;

use webvram::weights::{
    ChecksumSink, FileStream, Header, Index, ShardPolicy, WeightsError, read_header,
};

/// A safetensors file from header JSON text and data bytes.
pub fn st_file(json: &str, data: &[u8]) -> Vec<u8> {
    raw_file(json.as_bytes(), data)
}

/// A safetensors file from raw header bytes (possibly not UTF-8) and data bytes.
pub fn raw_file(json: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json);
    out.extend_from_slice(data);
    out
}

/// One tensor entry's JSON.
pub fn entry(name: &str, dtype: &str, shape: &[u64], start: u64, end: u64) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{end}]}}"#)
}

/// A small valid file: `a` F32 [2] then `b` BF16 [3], data 0..14.
pub fn valid_file() -> Vec<u8> {
    let json = format!(
        r#"{{"__metadata__":{{"format":"pt"}},{},{}}}"#,
        entry("a", "F32", &[2], 0, 8),
        entry("b", "BF16", &[3], 8, 14)
    );
    st_file(&json, &(0u8..14).collect::<Vec<_>>())
}

/// Streams `bytes` through a [`FileStream`] in chunks of `chunk` bytes.
pub fn stream_file(
    label: &str,
    bytes: &[u8],
    file_len: Option<u64>,
    chunk: usize,
) -> Result<(Header, ChecksumSink), WeightsError> {
    let mut sink = ChecksumSink::default();
    let mut stream = FileStream::new(label, file_len);
    for piece in bytes.chunks(chunk.max(1)) {
        stream.feed(piece, &mut sink)?;
    }
    let header = stream.finish(&mut sink)?;
    Ok((header, sink))
}

/// What a corpus case feeds to the parser.
pub enum Input {
    /// A safetensors file, streamed; `file_len` is the declared length, if any.
    File {
        bytes: Vec<u8>,
        file_len: Option<u64>,
    },
    /// An index JSON at `location`.
    Index {
        location: &'static str,
        json: String,
    },
    /// An index plus its shards (name, bytes), all valid alone, checked against each other.
    Checkpoint {
        json: String,
        shards: Vec<(&'static str, Vec<u8>)>,
    },
}

/// One defective input and the error code it must produce.
pub struct Case {
    pub name: &'static str,
    pub input: Input,
    pub code: &'static str,
}

/// Runs a case's input through the parser it targets.
pub fn run(input: &Input, chunk: usize) -> Result<(), WeightsError> {
    match input {
        Input::File { bytes, file_len } => {
            stream_file("corpus.safetensors", bytes, *file_len, chunk).map(drop)
        }
        Input::Index { location, json } => {
            Index::parse(location, json.as_bytes(), ShardPolicy::default()).map(drop)
        }
        Input::Checkpoint { json, shards } => {
            let index = Index::parse(
                "https://h/m/model.safetensors.index.json",
                json.as_bytes(),
                ShardPolicy::default(),
            )?;
            let mut headers = BTreeMap::new();
            for (name, bytes) in shards {
                let (header, _) = read_header(name, bytes, Some(bytes.len() as u64))?;
                headers.insert(name.to_string(), header);
            }
            index.cross_check(|shard| headers.get(shard.name()))
        }
    }
}
