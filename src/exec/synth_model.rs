//! A synthetic model for testing residency apart from any real architecture: a stack of square
//! linear layers with bias and tanh, whose weights come from the checkpoint generator.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::exec::error::ExecError;
use crate::exec::host::{HostLayer, HostTensor};
use crate::exec::layer::LayerWeights;
use crate::exec::model::LayeredModel;
use crate::exec::source::LocalFuture;
use crate::manager::{Dtype, InferenceEstimate, LayerSpec, ModelSpec};
use crate::weights::ConvertTarget;
use crate::weights::Dtype as StoredDtype;
use crate::weights::synth::{SynthSpec, synth_value};

/// `layers` × (`weight [width, width]`, `bias [width]`), layer `i` named `model.layers.{i}`:
///
/// `h ← tanh(h · Wᵢᵀ · scale + bᵢ)`, with `scale = 1/√width`
///
/// so activations stay in (−1, 1) and do not saturate however deep the stack (weights are
/// uniform multiples of 1/256 in [−1, 1), exact in f16 as well as f32, so one reference serves
/// both). Its checkpoint is [`checkpoint`](Self::checkpoint);
/// [`reference`](Self::reference) computes the same function in f64 on the CPU, from the
/// generator's formula rather than from the file.
///
/// # Shapes
/// input and output `[batch, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthMlp {
    /// Number of layers.
    pub layers: usize,
    /// Input, hidden and output width.
    pub width: usize,
    /// The checkpoint's seed.
    pub seed: u64,
}

impl SynthMlp {
    /// The layer names, in order.
    pub fn names(&self) -> Vec<String> {
        (0..self.layers)
            .map(|i| format!("model.layers.{i}"))
            .collect()
    }

    /// Bytes of one layer in f32.
    pub fn layer_bytes(&self) -> u64 {
        self.layer_bytes_in(ConvertTarget::F32)
    }

    /// Bytes of one layer held in `dtype`.
    pub fn layer_bytes_in(&self, dtype: ConvertTarget) -> u64 {
        ((self.width * self.width + self.width) * dtype.size()) as u64
    }

    /// Bytes of the whole model in f32.
    pub fn bytes(&self) -> u64 {
        self.layer_bytes() * self.layers as u64
    }

    /// The checkpoint to generate, in `dtype`, sharded at `max_shard_bytes`.
    pub fn checkpoint(&self, dtype: StoredDtype, max_shard_bytes: u64) -> SynthSpec {
        let width = self.width as u64;
        SynthSpec {
            layers: self.layers as u32,
            layer_tensors: vec![
                ("weight".into(), vec![width, width]),
                ("bias".into(), vec![width]),
            ],
            dtype,
            max_shard_bytes,
            seed: self.seed,
        }
    }

    /// The manager's view: one f32 layer per name, activations estimated as `inference`.
    pub fn model_spec(&self, name: &str, inference: InferenceEstimate) -> ModelSpec {
        self.model_spec_in(name, inference, ConvertTarget::F32)
    }

    /// The manager's view with the layers held in `dtype`.
    pub fn model_spec_in(
        &self,
        name: &str,
        inference: InferenceEstimate,
        dtype: ConvertTarget,
    ) -> ModelSpec {
        let bytes = self.layer_bytes_in(dtype);
        let dtype = Dtype::from(dtype);
        let layers = (self.names().into_iter().enumerate())
            .map(|(i, n)| LayerSpec::new(n, i as u32, dtype, bytes))
            .collect();
        ModelSpec {
            name: name.into(),
            dtype,
            layers,
            inference,
            cached: true,
        }
    }

    /// The layers as loading [`checkpoint`](Self::checkpoint) would give them, generated in
    /// memory: for tests where no file system or server is at hand (the browser's).
    pub fn host_layers(&self) -> BTreeMap<String, HostLayer> {
        let w = self.width;
        let tensor = |name: &str, shape: Vec<usize>| {
            let n = shape.iter().product::<usize>() as u64;
            let data = (0..n).map(|i| synth_value(self.seed, name, i)).collect();
            HostTensor::f32(shape, data)
        };
        (self.names().into_iter())
            .map(|name| {
                let mut layer = HostLayer::new(name.clone());
                let weight = tensor(&format!("{name}.weight"), vec![w, w]);
                layer.tensors.insert("weight".into(), weight);
                layer
                    .tensors
                    .insert("bias".into(), tensor(&format!("{name}.bias"), vec![w]));
                (name, layer)
            })
            .collect()
    }

    /// Where a checkpoint tensor goes, for a [`HostSink`](crate::exec::HostSink):
    /// `model.layers.3.weight` → (`model.layers.3`, `weight`).
    pub fn layer_of(tensor: &str) -> Option<(String, String)> {
        let (layer, name) = tensor.rsplit_once('.')?;
        Some((layer.to_owned(), name.to_owned()))
    }

    /// A deterministic input of `batch` rows, values in [−1, 1).
    pub fn input_values(&self, batch: usize) -> Vec<f32> {
        let n = (batch * self.width) as u64;
        (0..n).map(|i| synth_value(self.seed, "input", i)).collect()
    }

    /// [`input_values`](Self::input_values) as a tensor on `device`.
    pub fn input(&self, batch: usize, device: &Device) -> Tensor<2> {
        let data = TensorData::new(self.input_values(batch), [batch, self.width]);
        Tensor::from_data(data, device)
    }

    /// The model's output for `input` (`batch` rows), in f64 on the CPU.
    pub fn reference(&self, input: &[f32], batch: usize) -> Vec<f64> {
        let width = self.width;
        let scale = 1.0 / (width as f64).sqrt();
        let mut h: Vec<f64> = input.iter().map(|&x| f64::from(x)).collect();
        for name in self.names() {
            let (w, b) = (format!("{name}.weight"), format!("{name}.bias"));
            let weight: Vec<f64> = (0..(width * width) as u64)
                .map(|i| f64::from(synth_value(self.seed, &w, i)))
                .collect();
            let mut next = vec![0.0; batch * width];
            for (row, out) in next.chunks_mut(width).enumerate() {
                let x = &h[row * width..(row + 1) * width];
                for (o, value) in out.iter_mut().enumerate() {
                    let w_row = &weight[o * width..(o + 1) * width];
                    let dot: f64 = x.iter().zip(w_row).map(|(a, b)| a * b).sum();
                    let bias = f64::from(synth_value(self.seed, &b, o as u64));
                    *value = (dot * scale + bias).tanh();
                }
            }
            h = next;
        }
        h
    }
}

impl LayeredModel for SynthMlp {
    type Activation = Tensor<2>;

    fn layer_names(&self) -> Vec<String> {
        self.names()
    }

    fn can_move(&self) -> bool {
        true
    }

    /// The activation is all the model carries: read back and recreated on `device`.
    fn move_to<'a>(
        &'a self,
        _index: usize,
        input: Tensor<2>,
        device: &'a Device,
    ) -> LocalFuture<'a, Result<Tensor<2>, ExecError>>
    where
        Tensor<2>: 'a,
    {
        Box::pin(async move {
            if input.device() == *device {
                return Ok(input);
            }
            let data = (input.into_data_async().await).map_err(|err| ExecError::Backend {
                message: err.to_string(),
            })?;
            Ok(Tensor::from_data(data, device))
        })
    }

    fn run_layer(
        &self,
        _index: usize,
        weights: &LayerWeights,
        input: Tensor<2>,
    ) -> Result<Tensor<2>, ExecError> {
        let [_, width] = input.dims();
        if width != self.width {
            return Err(ExecError::BadInput(format!(
                "input width {width}, the model is {} wide",
                self.width
            )));
        }
        let weight = weights.get::<2>("weight")?;
        let bias = weights.get::<1>("bias")?.reshape([1, self.width]);
        let scale = 1.0 / (self.width as f64).sqrt();
        Ok((input.matmul(weight.transpose()).mul_scalar(scale) + bias).tanh())
    }
}
