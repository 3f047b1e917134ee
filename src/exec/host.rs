//! The Host tier: a layer's weights in wasm memory, ready to upload.

use half::f16;

use crate::weights::{ConvertTarget, Dtype, WeightsError, convert_all};

/// A tensor's values in wasm memory, in the dtype the device will store them in.
///
/// The Host tier holds the same dtype as the GPU so that a layer has one size in the books,
/// whichever tier it is in (f16 halves wasm memory as well as VRAM).
#[derive(Clone, Debug, PartialEq)]
pub enum HostValues {
    /// f32, what every adapter computes in.
    F32(Vec<f32>),
    /// f16, stored on adapters with `shader-f16` and widened to f32 where a layer uses it.
    F16(Vec<f16>),
}

impl HostValues {
    /// Room for `len` values of `dtype`.
    pub fn with_capacity(dtype: ConvertTarget, len: usize) -> Self {
        match dtype {
            ConvertTarget::F32 => Self::F32(Vec::with_capacity(len)),
            ConvertTarget::F16 => Self::F16(Vec::with_capacity(len)),
        }
    }

    /// Converts a whole stored tensor's bytes (`tensor` names it in errors).
    ///
    /// # Errors
    /// `NotAFloat` for integer dtypes, `PartialElement` when `bytes` ends inside an element.
    pub fn convert(
        tensor: &str,
        from: Dtype,
        bytes: &[u8],
        to: ConvertTarget,
    ) -> Result<Self, WeightsError> {
        let out = convert_all(tensor, from, bytes, to)?;
        let mut values = Self::with_capacity(to, out.len() / to.size());
        values.extend_le_bytes(&out);
        Ok(values)
    }

    /// Appends little-endian values of this dtype (what a [`Converter`] to it writes); a
    /// trailing partial value is ignored (converters only write whole ones).
    pub fn extend_le_bytes(&mut self, bytes: &[u8]) {
        match self {
            Self::F32(values) => extend_from_le(values, bytes, f32::from_le_bytes),
            Self::F16(values) => extend_from_le(values, bytes, f16::from_le_bytes),
        }
    }

    /// The dtype the values are held in.
    pub fn dtype(&self) -> ConvertTarget {
        match self {
            Self::F32(_) => ConvertTarget::F32,
            Self::F16(_) => ConvertTarget::F16,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(values) => values.len(),
            Self::F16(values) => values.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` values.
    pub fn truncate(&mut self, len: usize) {
        match self {
            Self::F32(values) => values.truncate(len),
            Self::F16(values) => values.truncate(len),
        }
    }

    /// Appends values `range` widened to f32 (a host-side gather, such as a word lookup).
    ///
    /// # Panics
    /// When `range` is out of bounds, like slicing.
    pub fn extend_f32(&self, range: std::ops::Range<usize>, out: &mut Vec<f32>) {
        match self {
            Self::F32(values) => out.extend_from_slice(&values[range]),
            Self::F16(values) => out.extend(values[range].iter().map(|v| v.to_f32())),
        }
    }

    /// The same values in `to`: f32 → f16 rounds to nearest-even (and may overflow to ±∞);
    /// f16 → f32 is exact.
    #[must_use]
    pub fn into_dtype(self, to: ConvertTarget) -> Self {
        match (self, to) {
            (Self::F32(values), ConvertTarget::F16) => {
                Self::F16(values.into_iter().map(f16::from_f32).collect())
            }
            (Self::F16(values), ConvertTarget::F32) => {
                Self::F32(values.into_iter().map(f16::to_f32).collect())
            }
            (same, _) => same,
        }
    }
}

/// Appends the whole `N`-byte elements of `bytes`, decoded by `decode`. Sized first and filled in
/// place: a loop without capacity checks, which compiles to plain loads even in wasm (pushing
/// element by element was the slowest step of a load).
fn extend_from_le<T: Copy + Default, const N: usize>(
    values: &mut Vec<T>,
    bytes: &[u8],
    decode: fn([u8; N]) -> T,
) {
    let start = values.len();
    let chunks = bytes.chunks_exact(N);
    values.resize(start + chunks.len(), T::default());
    for (value, chunk) in values[start..].iter_mut().zip(chunks) {
        let mut raw = [0u8; N];
        raw.copy_from_slice(chunk);
        *value = decode(raw);
    }
}

impl From<Vec<f32>> for HostValues {
    fn from(values: Vec<f32>) -> Self {
        Self::F32(values)
    }
}

/// One tensor in wasm memory, in the dtype the device stores it in.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Shape, outermost dimension first (safetensors order).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` is the product of `shape`.
    pub data: HostValues,
}

impl HostTensor {
    /// An f32 tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self {
            shape,
            data: HostValues::F32(data),
        }
    }

    /// Bytes the values take (in wasm memory, and once uploaded, on the device).
    pub fn bytes(&self) -> u64 {
        (self.data.len() * self.data.dtype().size()) as u64
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

    /// Whether any tensor is held in f16 (and so needs `shader-f16` on the device).
    pub fn has_f16(&self) -> bool {
        (self.tensors.values()).any(|t| t.data.dtype() == ConvertTarget::F16)
    }

    /// The same layer with every tensor in `to` (see [`HostValues::into_dtype`]).
    #[must_use]
    pub fn into_dtype(mut self, to: ConvertTarget) -> Self {
        for tensor in self.tensors.values_mut() {
            let values = std::mem::replace(&mut tensor.data, HostValues::F32(Vec::new()));
            tensor.data = values.into_dtype(to);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_halves_the_bytes_and_widens_back_exactly() {
        let values = vec![0.5, -1.0, 3.25, 65504.0];
        let tensor = HostTensor::f32(vec![2, 2], values.clone());
        assert_eq!(tensor.bytes(), 16);
        let mut layer = HostLayer::new("l");
        layer.tensors.insert("w".into(), tensor);
        let half = layer.into_dtype(ConvertTarget::F16);
        assert!(half.has_f16());
        assert_eq!(half.bytes(), 8);
        let mut widened = Vec::new();
        half.tensors["w"].data.extend_f32(1..4, &mut widened);
        assert_eq!(widened, values[1..]);
        let back = half.into_dtype(ConvertTarget::F32);
        assert!(!back.has_f16());
        assert_eq!(back.tensors["w"].data, HostValues::F32(values));
    }

    #[test]
    fn converting_stored_bytes_matches_the_streaming_converter() {
        let bf16_bytes = [0x80, 0x3f, 0x00, 0xc0]; // bf16 1.0, -2.0
        let f16 = HostValues::convert("t", Dtype::BF16, &bf16_bytes, ConvertTarget::F16).unwrap();
        assert_eq!(
            f16,
            HostValues::F16(vec![f16::from_f32(1.0), f16::from_f32(-2.0)])
        );
        let f32 = HostValues::convert("t", Dtype::BF16, &bf16_bytes, ConvertTarget::F32).unwrap();
        assert_eq!(f32, HostValues::F32(vec![1.0, -2.0]));
        let err = HostValues::convert("t", Dtype::BF16, &bf16_bytes[..3], ConvertTarget::F16);
        assert!(
            matches!(err, Err(WeightsError::PartialElement { .. })),
            "{err:?}"
        );
    }
}
