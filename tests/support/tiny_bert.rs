//! A tiny BERT sentence encoder for tests that run many operations: all-MiniLM-L6-v2's
//! tokenizer and head files with deterministic pseudo-random weights of a small width, so a load
//! takes milliseconds and an embedding less, in every VRAM state. Used by the native property
//! test of `Runtime` and (through `examples/tiny_bert.rs`) by the browser chaos test.
#![allow(
    dead_code,
    reason = "each test binary that includes this uses a part of it"
)]

use std::fs;
use std::io::Write;
use std::path::Path;

/// The shape of a tiny model.
#[derive(Clone, Copy, Debug)]
pub struct TinyBert {
    /// Hidden width (divisible by `heads`).
    pub hidden: usize,
    /// Encoder blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Seed of every weight.
    pub seed: u64,
}

/// MiniLM's vocabulary size: the tokenizer is all-MiniLM-L6-v2's.
const VOCAB: usize = 30522;
const POSITIONS: usize = 512;
const MAX_SEQ_LENGTH: usize = 256;

impl TinyBert {
    /// Writes the model folder into `dir` (created), copying `tokenizer.json` from `minilm`.
    ///
    /// # Panics
    /// When a file cannot be read or written (a test set-up failure).
    pub fn write(&self, minilm: &Path, dir: &Path) {
        self.write_skipping(minilm, dir, &[]);
    }

    /// [`write`](Self::write), leaving the checkpoint tensors named in `skip` out: a broken
    /// checkpoint for error tests.
    ///
    /// # Panics
    /// As [`write`](Self::write).
    pub fn write_skipping(&self, minilm: &Path, dir: &Path, skip: &[&str]) {
        self.write_files(minilm, dir, skip, None);
    }

    /// [`write`](Self::write) as a sharded checkpoint (`model.safetensors.index.json` and
    /// `model-0000k-of-0000n.safetensors` files of at most `shard_bytes` of data each, or one
    /// tensor where a tensor is larger), as big models are published. Values are drawn per
    /// tensor as they are written, so a checkpoint of gigabytes needs one tensor's memory.
    ///
    /// # Panics
    /// As [`write`](Self::write).
    pub fn write_sharded(&self, minilm: &Path, dir: &Path, shard_bytes: u64) {
        self.write_files(minilm, dir, &[], Some(shard_bytes));
    }

    fn write_files(&self, minilm: &Path, dir: &Path, skip: &[&str], shard_bytes: Option<u64>) {
        fs::create_dir_all(dir.join("1_Pooling")).expect("model folder");
        fs::copy(minilm.join("tokenizer.json"), dir.join("tokenizer.json")).expect("tokenizer");
        fs::copy(minilm.join("modules.json"), dir.join("modules.json")).expect("modules");
        let config = format!(
            r#"{{"architectures":["BertModel"],"model_type":"bert","hidden_act":"gelu","hidden_size":{},"intermediate_size":{},"layer_norm_eps":1e-12,"max_position_embeddings":{POSITIONS},"num_attention_heads":{},"num_hidden_layers":{},"type_vocab_size":2,"vocab_size":{VOCAB},"pad_token_id":0}}"#,
            self.hidden, self.intermediate, self.heads, self.layers
        );
        fs::write(dir.join("config.json"), config).expect("config");
        let pooling = format!(
            r#"{{"word_embedding_dimension":{},"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":false,"pooling_mode_mean_sqrt_len_tokens":false}}"#,
            self.hidden
        );
        fs::write(dir.join("1_Pooling/config.json"), pooling).expect("pooling");
        let sentence = format!(r#"{{"max_seq_length":{MAX_SEQ_LENGTH},"do_lower_case":false}}"#);
        fs::write(dir.join("sentence_bert_config.json"), sentence).expect("sentence config");
        let mut tensors = self.tensors();
        tensors.retain(|t| !skip.contains(&t.name.as_str()));
        let Some(limit) = shard_bytes else {
            write_safetensors(&dir.join("model.safetensors"), &tensors, self.seed);
            return;
        };
        let mut shards: Vec<Vec<Tensor>> = vec![Vec::new()];
        let mut filled = 0u64;
        for tensor in tensors {
            let bytes = tensor.bytes() as u64;
            let last = shards.last_mut().expect("one shard");
            if !last.is_empty() && filled + bytes > limit {
                shards.push(Vec::new());
                filled = 0;
            }
            filled += bytes;
            shards.last_mut().expect("one shard").push(tensor);
        }
        let count = shards.len();
        let mut map = Vec::new();
        for (k, shard) in shards.iter().enumerate() {
            let file = format!("model-{:05}-of-{count:05}.safetensors", k + 1);
            map.extend((shard.iter()).map(|t| format!(r#""{}":"{file}""#, t.name)));
            write_safetensors(&dir.join(&file), shard, self.seed);
        }
        let index = format!(r#"{{"metadata":{{}},"weight_map":{{{}}}}}"#, map.join(","));
        fs::write(dir.join("model.safetensors.index.json"), index).expect("index");
    }

    /// Every tensor, in file order; values are drawn when written.
    fn tensors(&self) -> Vec<Tensor> {
        let (h, i) = (self.hidden, self.intermediate);
        let mut out = Vec::new();
        let mut add = |name: String, shape: Vec<usize>, kind: Kind| {
            let salt = out.len() as u64;
            out.push(Tensor {
                name,
                shape,
                kind,
                salt,
            });
        };
        add(
            "embeddings.word_embeddings.weight".into(),
            vec![VOCAB, h],
            Kind::Embedding,
        );
        add(
            "embeddings.position_embeddings.weight".into(),
            vec![POSITIONS, h],
            Kind::Embedding,
        );
        add(
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
            Kind::Embedding,
        );
        add("embeddings.LayerNorm.weight".into(), vec![h], Kind::Gain);
        add("embeddings.LayerNorm.bias".into(), vec![h], Kind::Bias);
        for layer in 0..self.layers {
            let p = format!("encoder.layer.{layer}");
            for dense in [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
            ] {
                add(format!("{p}.{dense}.weight"), vec![h, h], Kind::Dense(h));
                add(format!("{p}.{dense}.bias"), vec![h], Kind::Bias);
            }
            add(
                format!("{p}.attention.output.dense.weight"),
                vec![h, h],
                Kind::Dense(h),
            );
            add(
                format!("{p}.attention.output.dense.bias"),
                vec![h],
                Kind::Bias,
            );
            add(
                format!("{p}.attention.output.LayerNorm.weight"),
                vec![h],
                Kind::Gain,
            );
            add(
                format!("{p}.attention.output.LayerNorm.bias"),
                vec![h],
                Kind::Bias,
            );
            add(
                format!("{p}.intermediate.dense.weight"),
                vec![i, h],
                Kind::Dense(h),
            );
            add(format!("{p}.intermediate.dense.bias"), vec![i], Kind::Bias);
            add(
                format!("{p}.output.dense.weight"),
                vec![h, i],
                Kind::Dense(i),
            );
            add(format!("{p}.output.dense.bias"), vec![h], Kind::Bias);
            add(format!("{p}.output.LayerNorm.weight"), vec![h], Kind::Gain);
            add(format!("{p}.output.LayerNorm.bias"), vec![h], Kind::Bias);
        }
        out
    }
}

/// One tensor of the checkpoint: its values are `kind.values(seed, salt, len)`.
struct Tensor {
    name: String,
    shape: Vec<usize>,
    kind: Kind,
    salt: u64,
}

impl Tensor {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    fn bytes(&self) -> usize {
        self.len() * 4
    }
}

/// How a tensor's values are drawn.
#[derive(Clone, Copy)]
enum Kind {
    Embedding,
    /// A dense weight with this many inputs (scaled by 1/√inputs).
    Dense(usize),
    Gain,
    Bias,
}

impl Kind {
    fn values(self, seed: u64, salt: u64, len: usize) -> Vec<f32> {
        let (offset, scale) = match self {
            Kind::Embedding => (0.0, 1.0),
            Kind::Dense(inputs) => (0.0, 1.7 / (inputs as f32).sqrt()),
            Kind::Gain => (1.0, 0.2),
            Kind::Bias => (0.0, 0.1),
        };
        let mut state = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (0..len)
            .map(|_| offset + scale * uniform(&mut state))
            .collect()
    }
}

/// splitmix64 mapped to [-1, 1).
fn uniform(state: &mut u64) -> f32 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// A safetensors file of f32 tensors, in the given order.
fn write_safetensors(path: &Path, tensors: &[Tensor], seed: u64) {
    let mut header = String::from("{");
    let mut offset = 0usize;
    for (index, tensor) in tensors.iter().enumerate() {
        let end = offset + tensor.bytes();
        let comma = if index == 0 { "" } else { "," };
        let shape: Vec<String> = tensor.shape.iter().map(usize::to_string).collect();
        header.push_str(&format!(
            r#"{comma}"{}":{{"dtype":"F32","shape":[{}],"data_offsets":[{offset},{end}]}}"#,
            tensor.name,
            shape.join(",")
        ));
        offset = end;
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let file = fs::File::create(path).expect("safetensors file");
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    file.write_all(&(header.len() as u64).to_le_bytes())
        .expect("write");
    file.write_all(header.as_bytes()).expect("write");
    for tensor in tensors {
        let values = tensor.kind.values(seed, tensor.salt, tensor.len());
        for v in values {
            file.write_all(&v.to_le_bytes()).expect("write");
        }
    }
    file.flush().expect("write");
}
