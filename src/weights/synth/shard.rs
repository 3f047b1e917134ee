//! One synthetic shard: a virtual safetensors file whose bytes are computed on demand.

use half::{bf16, f16};

use crate::weights::PREFIX_LEN;
use crate::weights::dtype::Dtype;
use crate::weights::synth::{SynthSpec, tensor_seed, value_at};

/// A synthetic safetensors file: its header is built eagerly (it is small), its data is computed by
/// [`SynthShard::read_at`] for any byte range, so it can stand in for a file on disk or an HTTP server.
#[derive(Debug, Clone)]
pub struct SynthShard {
    name: String,
    dtype: Dtype,
    /// Prefix + JSON header, padded with spaces to a multiple of 8 bytes as the safetensors writer does.
    head: Vec<u8>,
    tensors: Vec<Planned>,
}

/// A tensor's place in the data region and its value stream.
#[derive(Debug, Clone)]
struct Planned {
    name: String,
    start: u64,
    end: u64,
    seed: u64,
}

impl SynthShard {
    /// Lays out `tensors` (name, shape) contiguously and writes the header.
    pub(crate) fn new(name: String, spec: &SynthSpec, tensors: Vec<(String, Vec<u64>)>) -> Self {
        let mut entries = serde_json::Map::new();
        let meta = serde_json::json!({"format": "pt", "generator": "webvram synth", "seed": spec.seed.to_string()});
        entries.insert("__metadata__".into(), meta);
        let mut planned = Vec::with_capacity(tensors.len());
        let mut offset = 0u64;
        for (tensor, shape) in tensors {
            let end = offset + shape.iter().product::<u64>() * spec.dtype.size();
            let entry = serde_json::json!({"dtype": spec.dtype.name(), "shape": shape, "data_offsets": [offset, end]});
            entries.insert(tensor.clone(), entry);
            planned.push(Planned {
                seed: tensor_seed(spec.seed, &tensor),
                name: tensor,
                start: offset,
                end,
            });
            offset = end;
        }
        let mut json = serde_json::Value::Object(entries).to_string().into_bytes();
        json.resize(json.len().div_ceil(8) * 8, b' ');
        let mut head = (json.len() as u64).to_le_bytes().to_vec();
        head.extend_from_slice(&json);
        SynthShard {
            name,
            dtype: spec.dtype,
            head,
            tensors: planned,
        }
    }

    /// File name, e.g. `model-00002-of-00004.safetensors`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names of the tensors in this shard, in data order.
    pub fn tensors(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }

    /// Length of the data region.
    pub fn data_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.end)
    }

    /// Total file length.
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.data_len()
    }

    /// Whether the file is empty; never, as it always has a prefix and a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Length of the JSON header (the `N` of the prefix).
    pub fn header_len(&self) -> u64 {
        self.head.len() as u64 - PREFIX_LEN
    }

    /// Fills `buf` with the file's bytes from `offset`; returns how many were written (less than
    /// `buf.len()` only at the end of the file, 0 past it).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset.saturating_add(done as u64);
            let n = match usize::try_from(pos).ok().filter(|&p| p < self.head.len()) {
                Some(p) => copy_from(&self.head[p..], &mut buf[done..]),
                None => self.fill_data(pos - self.head.len() as u64, &mut buf[done..]),
            };
            if n == 0 {
                break;
            }
            done += n;
        }
        done
    }

    /// The whole file in memory, for small shards in tests.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; usize::try_from(self.len()).unwrap_or(usize::MAX)];
        let n = self.read_at(0, &mut bytes);
        bytes.truncate(n);
        bytes
    }

    /// Fills `buf` from data-region offset `pos` up to the end of the tensor holding it.
    fn fill_data(&self, pos: u64, buf: &mut [u8]) -> usize {
        let i = self.tensors.partition_point(|t| t.end <= pos);
        let Some(t) = self.tensors.get(i) else {
            return 0;
        };
        let size = self.dtype.size();
        let (mut element, mut skip) = ((pos - t.start) / size, ((pos - t.start) % size) as usize);
        let mut done = 0;
        let mut bytes = [0u8; 4];
        while done < buf.len() && element < (t.end - t.start) / size {
            let width = self.encode(value_at(t.seed, element), &mut bytes);
            done += copy_from(&bytes[skip..width], &mut buf[done..]);
            skip = 0;
            element += 1;
        }
        done
    }

    /// Writes `value` in the shard's dtype into `out`; returns its width.
    fn encode(&self, value: f32, out: &mut [u8; 4]) -> usize {
        match self.dtype {
            Dtype::F16 => out[..2].copy_from_slice(&f16::from_f32(value).to_le_bytes()),
            Dtype::BF16 => out[..2].copy_from_slice(&bf16::from_f32(value).to_le_bytes()),
            _ => out.copy_from_slice(&value.to_le_bytes()),
        }
        self.dtype.size() as usize
    }
}

/// Copies as much of `from` as fits into `to`.
fn copy_from(from: &[u8], to: &mut [u8]) -> usize {
    let n = from.len().min(to.len());
    to[..n].copy_from_slice(&from[..n]);
    n
}
