//! Streaming tensors from the loader into [`HostLayer`]s, converted on the way to the dtype the
//! device stores them in.

use std::collections::BTreeMap;

use crate::exec::arrivals::ArrivalSender;
use crate::exec::host::{HostLayer, HostTensor, HostValuesBuilder};
use crate::weights::{ConvertTarget, Converter, Header, TensorInfo, TensorSink, WeightsError};

/// Where a checkpoint tensor belongs: `Some((layer, name within the layer))`, or `None` to skip it
/// (tensors the model does not use, such as BERT's pooler or its integer `position_ids`).
pub type LayerOf = dyn Fn(&str) -> Option<(String, String)>;

/// A [`TensorSink`] that converts every tensor it keeps to f32 (or, with
/// [`storing`](Self::storing), f16) and groups them into layers.
///
/// Conversion is chunk-wise: the only temporary is one piece of converted bytes, so the memory of a
/// load is the converted weights plus one chunk.
pub struct HostSink<'a> {
    layer_of: &'a (dyn Fn(&str) -> Option<(String, String)> + 'a),
    layers: BTreeMap<String, HostLayer>,
    current: Option<Current>,
    scratch: Vec<u8>,
    dtype: ConvertTarget,
    /// Layers handed over once complete: tensors expected per layer, and where to send them.
    hand_over: Option<(BTreeMap<String, usize>, ArrivalSender)>,
}

struct Current {
    layer: String,
    name: String,
    shape: Vec<usize>,
    data: HostValuesBuilder,
    converter: Converter,
}

impl<'a> HostSink<'a> {
    /// A sink that places tensors with `layer_of` (a [`LayerOf`], or a closure borrowing local
    /// state, such as a filter for one layer).
    pub fn new(layer_of: &'a (dyn Fn(&str) -> Option<(String, String)> + 'a)) -> Self {
        Self {
            layer_of,
            layers: BTreeMap::new(),
            current: None,
            scratch: Vec::new(),
            dtype: ConvertTarget::F32,
            hand_over: None,
        }
    }

    /// Sends each layer to `sender` as soon as its last tensor is in, instead of keeping it:
    /// `expected` says how many tensors each layer has (count them from the headers with the
    /// same `layer_of`). Layers not in `expected` are kept as usual.
    #[must_use]
    pub fn handing_over(
        mut self,
        expected: BTreeMap<String, usize>,
        sender: ArrivalSender,
    ) -> Self {
        self.hand_over = Some((expected, sender));
        self
    }

    /// Keeps the tensors in `dtype` instead of f32.
    #[must_use]
    pub fn storing(mut self, dtype: ConvertTarget) -> Self {
        self.dtype = dtype;
        self
    }

    /// The layers received so far, by name.
    pub fn into_layers(self) -> BTreeMap<String, HostLayer> {
        self.layers
    }
}

/// How many tensors each layer has in a model's headers, as `layer_of` places them: what
/// [`HostSink::handing_over`] needs to know when a layer is complete.
pub fn expected_tensors<'h>(
    headers: impl IntoIterator<Item = &'h Header>,
    layer_of: &dyn Fn(&str) -> Option<(String, String)>,
) -> BTreeMap<String, usize> {
    let mut expected = BTreeMap::new();
    for header in headers {
        for tensor in header.tensors() {
            if let Some((layer, _)) = layer_of(tensor.name()) {
                *expected.entry(layer).or_insert(0) += 1;
            }
        }
    }
    expected
}

impl TensorSink for HostSink<'_> {
    type Error = WeightsError;

    fn begin(&mut self, tensor: &TensorInfo) -> Result<(), WeightsError> {
        self.current = match (self.layer_of)(tensor.name()) {
            None => None,
            Some((layer, name)) => {
                let converter = Converter::for_tensor(tensor, self.dtype)?;
                let shape = tensor.shape().iter().map(|&d| d as usize).collect();
                Some(Current {
                    layer,
                    name,
                    shape,
                    data: HostValuesBuilder::with_capacity(self.dtype, tensor.numel() as usize),
                    converter,
                })
            }
        };
        Ok(())
    }

    fn chunk(&mut self, _tensor: &TensorInfo, bytes: &[u8]) -> Result<(), WeightsError> {
        if let Some(current) = &mut self.current {
            self.scratch.clear();
            current.converter.push(bytes, &mut self.scratch);
            current.data.extend_le_bytes(&self.scratch);
        }
        Ok(())
    }

    fn end(&mut self, _tensor: &TensorInfo) -> Result<(), WeightsError> {
        if let Some(current) = self.current.take() {
            current.converter.finish()?;
            let name = current.layer.clone();
            let layer = self
                .layers
                .entry(current.layer.clone())
                .or_insert_with(|| HostLayer::new(current.layer));
            let tensor = HostTensor {
                shape: current.shape,
                data: current.data.finish(),
            };
            layer.tensors.insert(current.name, tensor);
            if let Some((expected, sender)) = &self.hand_over
                && expected.get(&name) == Some(&layer.tensors.len())
                && let Some(layer) = self.layers.remove(&name)
            {
                sender.send(layer);
            }
        }
        Ok(())
    }
}
