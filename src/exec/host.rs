//! The Host tier: a layer's weights in wasm memory, ready to upload.

/// One tensor in wasm memory, already converted to the compute dtype (f32).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Shape, outermost dimension first (safetensors order).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl HostTensor {
    /// Bytes the values take (in wasm memory, and once uploaded, on the device).
    pub fn bytes(&self) -> u64 {
        (self.data.len() * size_of::<f32>()) as u64
    }
}

/// A layer's weights in wasm memory: tensor name (relative to the layer) → values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostLayer {
    /// The layer's name as the manager knows it (`"encoder.layer.3"`, `"embeddings"`).
    pub name: String,
    /// Tensors by name relative to the layer (`"attention.self.query.weight"`), sorted.
    pub tensors: std::collections::BTreeMap<String, HostTensor>,
}

impl HostLayer {
    /// An empty layer called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tensors: Default::default(),
        }
    }

    /// Total bytes of all tensors: what the manager books for this layer.
    pub fn bytes(&self) -> u64 {
        self.tensors.values().map(HostTensor::bytes).sum()
    }
}
