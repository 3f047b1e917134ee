//! The decoder as a [`LayeredModel`]: layers `model.layers.{i}` then `model.norm`; the token
//! embedding (and the output projection, which Llama ties to it) stays in wasm memory.

use burn::tensor::{Device, Tensor, TensorData};

use crate::exec::{ExecError, HostTensor, LayerWeights, LayeredModel, LocalFuture};
use crate::models::llama::block::{LayerCache, Positions, decoder_block};
use crate::models::llama::config::LlamaConfig;
use crate::models::llama::rope::{angle_tables, inverse_frequencies};
use crate::models::ops::rms_norm;
use crate::models::saturating_product;

/// The final norm's layer name.
pub const NORM_LAYER: &str = "model.norm";
/// The token embedding table as the checkpoint names it.
pub const EMBED_TABLE: &str = "model.embed_tokens.weight";
/// The output projection as the checkpoint names it (absent when tied to [`EMBED_TABLE`]).
pub const OUTPUT_TABLE: &str = "lm_head.weight";

/// Keys and values of every layer for the positions seen so far: per-sequence state, owned by
/// the call (a generation), moved through the layers with the activation. Cloning shares the
/// tensors, so a retried step starts again from the same cache.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What flows between the decoder's layers: the hidden states of the new positions, their
/// rotation tables and mask, and the cache the blocks extend.
pub struct DecoderActivation {
    hidden: Tensor<3>,
    positions: Positions,
    /// The new positions, `past..past + seq`, from which `positions` is rebuilt on another device.
    new: std::ops::Range<usize>,
    cache: KvCache,
}

/// A Llama-family decoder. Holds no weights: the executor passes each layer's in.
#[derive(Clone, Debug)]
pub struct LlamaModel {
    config: LlamaConfig,
    frequencies: Vec<f64>,
    names: Vec<String>,
}

impl LlamaModel {
    /// The decoder `config` describes.
    pub fn new(config: LlamaConfig) -> Self {
        let names = (0..config.layers)
            .map(|i| format!("model.layers.{i}"))
            .chain(std::iter::once(NORM_LAYER.to_owned()))
            .collect();
        Self {
            frequencies: inverse_frequencies(&config),
            config,
            names,
        }
    }

    /// The decoder's config.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The input of layer 0 for the new tokens `ids` after the positions in `cache`: their rows
    /// of `table` ([vocab, hidden], gathered on the host), rotation tables and causal mask.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] for no tokens, an id outside the vocabulary or a context past
    /// `max_position_embeddings`; [`ExecError::BadShape`] for a table that is not [vocab, hidden].
    pub fn input(
        &self,
        ids: &[u32],
        table: &HostTensor,
        cache: KvCache,
        device: &Device,
    ) -> Result<DecoderActivation, ExecError> {
        let c = &self.config;
        check_table(table, EMBED_TABLE, [c.vocab, c.hidden])?;
        let bad = |m: String| Err(ExecError::BadInput(m));
        if ids.is_empty() {
            return bad("no tokens".into());
        }
        if let Some(id) = ids.iter().find(|&&id| id as usize >= c.vocab) {
            return bad(format!(
                "token id {id} is outside the vocabulary of {}",
                c.vocab
            ));
        }
        let (past, seq) = (cache.len, ids.len());
        if past + seq > c.max_positions {
            return bad(format!(
                "{} positions; the model has {}",
                past + seq,
                c.max_positions
            ));
        }
        let mut rows = Vec::with_capacity(seq * c.hidden);
        for &id in ids {
            let start = id as usize * c.hidden;
            table.data.extend_f32(start..start + c.hidden, &mut rows);
        }
        let hidden = Tensor::from_data(TensorData::new(rows, [1, seq, c.hidden]), device);
        let mut cache = cache;
        cache.layers.resize(c.layers, None);
        cache.len = past + seq;
        Ok(DecoderActivation {
            hidden,
            positions: self.positions(past..past + seq, device),
            new: past..past + seq,
            cache,
        })
    }

    /// The rotation tables and causal mask of the `new` positions.
    fn positions(&self, new: std::ops::Range<usize>, device: &Device) -> Positions {
        let (past, seq) = (new.start, new.len());
        Positions {
            angles: angle_tables(&self.frequencies, new, device),
            mask: (seq > 1).then(|| causal_mask(self.config.group(), past, seq, device)),
        }
    }

    /// The last position's normed hidden state [1, hidden] (still on the device) and the
    /// extended cache.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] when `output` has not been through the final norm.
    pub fn finish(&self, output: DecoderActivation) -> Result<(Tensor<2>, KvCache), ExecError> {
        let [batch, seq, hidden] = output.hidden.dims();
        if seq != 1 {
            return Err(ExecError::BadInput("the layers have not all run".into()));
        }
        Ok((output.hidden.reshape([batch, hidden]), output.cache))
    }

    /// Bytes of the KV cache for `positions` (f32 keys and values of every layer).
    pub fn cache_bytes(&self, positions: u64) -> u64 {
        let c = &self.config;
        let dims = [c.layers, c.kv_heads, c.head_dim, 2, 4].map(|n| n as u64);
        saturating_product(&dims).saturating_mul(positions)
    }
}

impl LayeredModel for LlamaModel {
    type Activation = DecoderActivation;

    fn layer_names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn can_move(&self) -> bool {
        true
    }

    /// Moves the hidden states and layer `index`'s cache (read back from a GPU) and rebuilds
    /// the position tables on `device`. A cache moves once, when its layer changes device
    /// (after a GPU prefill, for a layer the decode steps run on the CPU).
    fn move_to<'a>(
        &'a self,
        index: usize,
        mut input: DecoderActivation,
        device: &'a Device,
    ) -> LocalFuture<'a, Result<DecoderActivation, ExecError>>
    where
        DecoderActivation: 'a,
    {
        Box::pin(async move {
            if input.hidden.device() != *device {
                input.hidden = moved(input.hidden, device).await?;
            }
            if input.positions.angles[0].device() != *device {
                input.positions = self.positions(input.new.clone(), device);
            }
            let cached = input.cache.layers.get_mut(index).and_then(Option::take);
            if let Some((k, v)) = cached {
                let on = match k.device() == *device {
                    true => (k, v),
                    false => (moved(k, device).await?, moved(v, device).await?),
                };
                input.cache.layers[index] = Some(on);
            }
            Ok(input)
        })
    }

    fn run_layer(
        &self,
        index: usize,
        weights: &LayerWeights,
        mut input: DecoderActivation,
    ) -> Result<DecoderActivation, ExecError> {
        let c = &self.config;
        if index < c.layers {
            let past = input.cache.layers[index].take();
            let (hidden, cache) = decoder_block(c, weights, input.hidden, &input.positions, past)?;
            input.hidden = hidden;
            input.cache.layers[index] = Some(cache);
        } else {
            // Only the last position is read: the final norm (and the logits) skip the rest.
            let [batch, seq, hidden] = input.hidden.dims();
            let last = input.hidden.slice([0..batch, seq - 1..seq, 0..hidden]);
            input.hidden = rms_norm(last, weights, "weight", hidden, c.rms_eps)?;
        }
        Ok(input)
    }
}

/// `tensor`'s values on `device`, read back without blocking (a browser cannot).
async fn moved<const D: usize>(tensor: Tensor<D>, device: &Device) -> Result<Tensor<D>, ExecError> {
    let data = (tensor.into_data_async().await).map_err(|err| ExecError::Backend {
        message: err.to_string(),
    })?;
    Ok(Tensor::from_data(data, device))
}

/// Checks that a host table has the `expected` shape.
pub fn check_table(table: &HostTensor, name: &str, expected: [usize; 2]) -> Result<(), ExecError> {
    if table.shape == expected && table.data.len() == expected[0] * expected[1] {
        return Ok(());
    }
    Err(ExecError::BadShape {
        layer: "@pinned".into(),
        tensor: name.into(),
        actual: table.shape.clone(),
        expected: format!("{expected:?}"),
    })
}

/// The additive causal mask for `seq` new positions after `past` cached ones, with `group`
/// query heads stacked per KV head: row `g·seq + p` (position `past + p`) sees keys `0..=past + p`.
fn causal_mask(group: usize, past: usize, seq: usize, device: &Device) -> Tensor<2> {
    let keys = past + seq;
    let mut values = Vec::with_capacity(group * seq * keys);
    for _ in 0..group {
        for p in 0..seq {
            values.extend((0..keys).map(|k| if k <= past + p { 0.0 } else { -1e30f32 }));
        }
    }
    Tensor::from_data(TensorData::new(values, [group * seq, keys]), device)
}
