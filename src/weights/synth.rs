//! Deterministic synthetic checkpoints, sharded like real Hugging Face ones.
//!
//! Tests and benchmarks need models of hundreds of MB to several GB with many layers, which cannot be
//! downloaded here and should not be committed. A [`SynthSpec`] (layers, per-layer shapes, dtype, shard
//! size, seed) is planned into a [`SynthCheckpoint`]: shards whose bytes are computed on demand by
//! [`SynthShard::read_at`] — so a multi-GiB checkpoint never sits in memory and can be served as a fake
//! HTTP `Range` source — plus the `model.safetensors.index.json` when there is more than one shard.
//!
//! Every element is [`synth_value`]`(seed, tensor, i)`, a counter-based splitmix64 draw mapped to a
//! multiple of 1/256 in `[-1, 1)`, which F32, F16 and BF16 all store exactly: a consumer can recompute the
//! expected value of any element without the file.

mod shard;

pub use shard::SynthShard;

#[cfg(not(target_arch = "wasm32"))]
use std::{io, path::Path};

use crate::weights::dtype::Dtype;
use crate::weights::error::WeightsError;
use crate::weights::sinks::Fnv1a;

/// A tensor name with its shape.
pub(crate) type NamedShape = (String, Vec<u64>);

/// What to generate. Tensor `j` of layer `i` is named `model.layers.{i}.{layer_tensors[j].0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSpec {
    /// Number of layers.
    pub layers: u32,
    /// The tensors of every layer: name suffix and shape.
    pub layer_tensors: Vec<(String, Vec<u64>)>,
    /// Element type: F32, F16 or BF16.
    pub dtype: Dtype,
    /// Shards are filled in tensor order up to this many data bytes; a larger tensor gets a shard alone.
    pub max_shard_bytes: u64,
    /// Seed of every value.
    pub seed: u64,
}

/// A planned checkpoint: its shards and, when sharded, its index.
#[derive(Debug, Clone)]
pub struct SynthCheckpoint {
    shards: Vec<SynthShard>,
    index_json: Option<String>,
}

impl SynthSpec {
    /// A spec of `layers` layers of about `layer_bytes` each: a `[rows, cols]` `weight` and a `[cols]` `bias`
    /// with `cols` the largest power of two ≤ √elements (at most 4096).
    pub fn uniform(
        layers: u32,
        layer_bytes: u64,
        dtype: Dtype,
        max_shard_bytes: u64,
        seed: u64,
    ) -> Self {
        let elements = (layer_bytes / dtype.size()).max(2);
        let mut cols = 1u64;
        while cols < 4096 && (cols * 2).saturating_mul(cols * 2) <= elements {
            cols *= 2;
        }
        let rows = ((elements - cols) / cols).max(1);
        let layer_tensors = vec![
            ("weight".to_owned(), vec![rows, cols]),
            ("bias".to_owned(), vec![cols]),
        ];
        SynthSpec {
            layers,
            layer_tensors,
            dtype,
            max_shard_bytes,
            seed,
        }
    }

    /// Lays the tensors out into shards and writes their headers and the index.
    ///
    /// # Errors
    /// `BadSynthSpec` for a dtype other than F32/F16/BF16, no layers or tensors, a zero shard size,
    /// duplicate suffixes, or sizes that overflow.
    pub fn plan(&self) -> Result<SynthCheckpoint, WeightsError> {
        let bad = |problem: &str| WeightsError::BadSynthSpec {
            problem: problem.to_owned(),
        };
        if !matches!(self.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(bad("dtype must be F32, F16 or BF16"));
        }
        if self.layers == 0 || self.layer_tensors.is_empty() || self.max_shard_bytes == 0 {
            return Err(bad(
                "layers, layer tensors and shard size must all be non-zero",
            ));
        }
        let mut suffixes: Vec<&str> = self.layer_tensors.iter().map(|(s, _)| s.as_str()).collect();
        suffixes.sort_unstable();
        if suffixes.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("layer tensor suffixes must be unique"));
        }
        let groups = self
            .group_into_shards()
            .ok_or_else(|| bad("tensor sizes overflow 64 bits"))?;
        let count = groups.len();
        let shards: Vec<SynthShard> = groups
            .into_iter()
            .enumerate()
            .map(|(i, tensors)| SynthShard::new(shard_name(i, count), self, tensors))
            .collect();
        let index_json = (count > 1).then(|| index_json(&shards));
        Ok(SynthCheckpoint { shards, index_json })
    }

    /// Every tensor (name, shape, bytes) grouped greedily into shards of at most `max_shard_bytes`.
    fn group_into_shards(&self) -> Option<Vec<Vec<NamedShape>>> {
        let mut groups: Vec<Vec<NamedShape>> = vec![Vec::new()];
        let mut filled = 0u64;
        for layer in 0..self.layers {
            for (suffix, shape) in &self.layer_tensors {
                let bytes = shape
                    .iter()
                    .try_fold(self.dtype.size(), |a, &d| a.checked_mul(d))?;
                let current = groups.last_mut()?;
                if !current.is_empty() && filled.checked_add(bytes)? > self.max_shard_bytes {
                    groups.push(Vec::new());
                    filled = 0;
                }
                filled = filled.checked_add(bytes)?;
                groups
                    .last_mut()?
                    .push((format!("model.layers.{layer}.{suffix}"), shape.clone()));
            }
        }
        Some(groups)
    }

    /// Parses CLI arguments `--out DIR --layers 32 --layer-mib 16 --dtype f32 --shard-mib 200 --seed 1`
    /// (all but `--out` optional; MiB values may be fractional), or `--width N` instead of
    /// `--layer-mib` for square `[N, N]` weights (the synthetic MLP's checkpoint). Returns the
    /// output folder and the spec.
    ///
    /// # Errors
    /// A message naming the bad or missing argument.
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
    ) -> Result<(String, SynthSpec), String> {
        let (mut out, mut layers, mut layer_mib, mut dtype, mut shard_mib, mut seed) =
            (None, 4u32, 1.0f64, Dtype::F32, 64.0f64, 1u64);
        let mut width: Option<u64> = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
            let bad = || format!("bad value {value:?} for {flag}");
            match flag.as_str() {
                "--out" => out = Some(value.clone()),
                "--layers" => layers = value.parse().map_err(|_| bad())?,
                "--layer-mib" => layer_mib = num(&value).ok_or_else(bad)?,
                "--shard-mib" => shard_mib = num(&value).ok_or_else(bad)?,
                "--seed" => seed = value.parse().map_err(|_| bad())?,
                "--width" => width = Some(value.parse().ok().filter(|w| *w > 0).ok_or_else(bad)?),
                "--dtype" => {
                    dtype = Dtype::parse(&value.to_ascii_uppercase()).map_err(|_| bad())?
                }
                _ => {
                    return Err(format!(
                        "unknown argument {flag}; expected --out --layers --layer-mib --width --dtype --shard-mib --seed"
                    ));
                }
            }
        }
        let out = out.ok_or("--out DIR is required")?;
        let mib = |x: f64| (x * 1_048_576.0) as u64;
        let shard_bytes = mib(shard_mib).max(1);
        let mut spec = SynthSpec::uniform(layers, mib(layer_mib), dtype, shard_bytes, seed);
        if let Some(width) = width {
            spec.layer_tensors = vec![
                ("weight".to_owned(), vec![width, width]),
                ("bias".to_owned(), vec![width]),
            ];
        }
        Ok((out, spec))
    }
}

impl SynthCheckpoint {
    /// The shards, in order.
    pub fn shards(&self) -> &[SynthShard] {
        &self.shards
    }

    /// `model.safetensors.index.json`'s content, present when there are two or more shards.
    pub fn index_json(&self) -> Option<&str> {
        self.index_json.as_deref()
    }

    /// Sum of all shards' file lengths.
    pub fn total_file_len(&self) -> u64 {
        self.shards.iter().map(SynthShard::len).sum()
    }
}

/// The value of element `index` (row-major) of `tensor` in a checkpoint generated with `seed`: a multiple
/// of 1/256 in `[-1, 1)`, exact in F32, F16 and BF16.
pub fn synth_value(seed: u64, tensor: &str, index: u64) -> f32 {
    value_at(tensor_seed(seed, tensor), index)
}

/// The per-tensor stream seed: the name's FNV-1a hash mixed with the checkpoint seed.
pub(crate) fn tensor_seed(seed: u64, tensor: &str) -> u64 {
    splitmix64(seed ^ Fnv1a::hash(tensor.as_bytes()))
}

/// Element `index` of the stream seeded `tensor_seed`: splitmix64's `index`-th output, mapped to k/256.
pub(crate) fn value_at(tensor_seed: u64, index: u64) -> f32 {
    let r = splitmix64(tensor_seed.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let k = (r >> 55) as i32 - 256;
    k as f32 / 256.0
}

/// One splitmix64 step's output for state `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `model.safetensors` alone, else Hugging Face's `model-00001-of-00003.safetensors`.
fn shard_name(i: usize, count: usize) -> String {
    match count {
        1 => "model.safetensors".to_owned(),
        _ => format!("model-{:05}-of-{count:05}.safetensors", i + 1),
    }
}

/// The index JSON for `shards`.
fn index_json(shards: &[SynthShard]) -> String {
    let weight_map: serde_json::Map<String, serde_json::Value> = shards
        .iter()
        .flat_map(|s| {
            s.tensors()
                .map(move |t| (t.to_owned(), serde_json::Value::from(s.name())))
        })
        .collect();
    let total: u64 = shards.iter().map(SynthShard::data_len).sum();
    serde_json::json!({ "metadata": { "total_size": total }, "weight_map": weight_map }).to_string()
}

/// Writes every shard (streamed through a 1 MiB buffer) and the index into `dir`, creating it.
///
/// # Errors
/// `InvalidInput` for a bad spec, and any I/O error.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_checkpoint(dir: &Path, spec: &SynthSpec) -> io::Result<SynthCheckpoint> {
    use std::io::Write;
    let checkpoint = spec
        .plan()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    std::fs::create_dir_all(dir)?;
    let mut buf = vec![0u8; 1 << 20];
    for shard in checkpoint.shards() {
        let mut file = io::BufWriter::new(std::fs::File::create(dir.join(shard.name()))?);
        let mut offset = 0u64;
        while offset < shard.len() {
            let n = shard.read_at(offset, &mut buf);
            file.write_all(&buf[..n])?;
            offset += n as u64;
        }
        file.flush()?;
    }
    if let Some(index) = checkpoint.index_json() {
        std::fs::write(dir.join("model.safetensors.index.json"), index)?;
    }
    Ok(checkpoint)
}
