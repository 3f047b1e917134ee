//! The Host tier: a layer's weights in wasm memory, ready to upload.

use burn::tensor::{Bytes, DType, TensorData};
use half::f16;

use crate::weights::{ConvertTarget, Dtype, WeightsError, convert_all};

/// A tensor's values in wasm memory, in the dtype the device will store them in.
///
/// The Host tier holds the same dtype as the GPU so that a layer has one size in the books,
/// whichever tier it is in (f16 halves wasm memory as well as VRAM).
///
/// The values sit in one reference-counted allocation: cloning them, or handing them to burn
/// ([`tensor_data`](Self::tensor_data)), shares it instead of copying. On the CPU path that is
/// what lets a forward read the weights where they lie rather than copying every layer per call.
#[derive(Clone, Debug, PartialEq)]
pub struct HostValues {
    dtype: ConvertTarget,
    /// Shared ([`Bytes::shared`]), so clones and views are reference counts; built only from
    /// typed vectors, so the bytes are aligned for their dtype.
    bytes: Bytes,
}

impl HostValues {
    fn from_elems<E: bytemuck::NoUninit + Send + Sync>(
        dtype: ConvertTarget,
        values: Vec<E>,
    ) -> Self {
        Self {
            dtype,
            bytes: Bytes::from_elems(values).shared(),
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
        if Self::stored_as(from, to) && bytes.len().is_multiple_of(to.size()) {
            // The stored bytes are the values: one copy, not a conversion and a copy.
            let mut values = HostValuesBuilder::with_capacity(to, bytes.len() / to.size());
            values.extend_le_bytes(bytes);
            return Ok(values.finish());
        }
        let out = convert_all(tensor, from, bytes, to)?;
        let mut values = HostValuesBuilder::with_capacity(to, out.len() / to.size());
        values.extend_le_bytes(&out);
        Ok(values.finish())
    }

    /// Whether a tensor stored as `from` is held as `to` byte for byte (no conversion), so its
    /// bytes can be copied straight into the values ([`filled`](Self::filled)).
    pub fn stored_as(from: Dtype, to: ConvertTarget) -> bool {
        matches!(
            (from, to),
            (Dtype::F32, ConvertTarget::F32) | (Dtype::F16, ConvertTarget::F16)
        ) && cfg!(target_endian = "little")
    }

    /// `len` values of `dtype` whose little-endian bytes `fill` writes in place: bytes read
    /// outside wasm memory (a browser's `ArrayBuffer`) land in the values with one copy.
    pub fn filled(dtype: ConvertTarget, len: usize, fill: impl FnOnce(&mut [u8])) -> Self {
        match dtype {
            ConvertTarget::F32 => {
                let mut values = vec![0f32; len];
                fill(bytemuck::cast_slice_mut(&mut values));
                values.into()
            }
            ConvertTarget::F16 => {
                let mut values = vec![f16::ZERO; len];
                fill(bytemuck::cast_slice_mut(&mut values));
                values.into()
            }
        }
    }

    /// The dtype the values are held in.
    pub fn dtype(&self) -> ConvertTarget {
        self.dtype
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `len` values (all of them when there are fewer), sharing the allocation.
    #[must_use]
    pub fn prefix(&self, len: usize) -> Self {
        self.range(0..len)
    }

    /// Values `range` (clamped to the values there are), sharing the allocation.
    #[must_use]
    pub fn range(&self, range: std::ops::Range<usize>) -> Self {
        let size = self.dtype.size();
        let end = range.end.min(self.len()) * size;
        let start = (range.start * size).min(end);
        let bytes = (self.bytes.view(start, end))
            .unwrap_or_else(|_| Bytes::from_bytes_vec(self.bytes[start..end].to_vec()).shared());
        Self {
            dtype: self.dtype,
            bytes,
        }
    }

    /// The values as f32, when held in f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        (self.dtype == ConvertTarget::F32).then(|| self.f32_slice())
    }

    /// The values as f16, when held in f16.
    pub fn as_f16(&self) -> Option<&[f16]> {
        (self.dtype == ConvertTarget::F16).then(|| self.f16_slice())
    }

    /// The bytes as f32 values (meaningful when held in f32).
    fn f32_slice(&self) -> &[f32] {
        bytemuck::cast_slice(&self.bytes)
    }

    /// The bytes as f16 values (meaningful when held in f16).
    fn f16_slice(&self) -> &[f16] {
        bytemuck::cast_slice(&self.bytes)
    }

    /// Appends values `range` widened to f32 (a host-side gather, such as a word lookup).
    ///
    /// # Panics
    /// When `range` is out of bounds, like slicing.
    pub fn extend_f32(&self, range: std::ops::Range<usize>, out: &mut Vec<f32>) {
        match self.dtype {
            ConvertTarget::F32 => out.extend_from_slice(&self.f32_slice()[range]),
            ConvertTarget::F16 => out.extend(self.f16_slice()[range].iter().map(|v| v.to_f32())),
        }
    }

    /// The values as burn data of `shape` (which must hold [`len`](Self::len) values), sharing
    /// the allocation: the CPU device computes on it in place, a GPU upload copies it once.
    pub fn tensor_data(&self, shape: impl Into<burn::tensor::Shape>) -> TensorData {
        let dtype = match self.dtype {
            ConvertTarget::F32 => DType::F32,
            ConvertTarget::F16 => DType::F16,
        };
        TensorData::from_bytes(self.bytes.clone(), shape, dtype)
    }

    /// The same values in `to`: f32 → f16 rounds to nearest-even (and may overflow to ±∞);
    /// f16 → f32 is exact. In the same dtype, the values are shared, not copied.
    #[must_use]
    pub fn to_dtype(&self, to: ConvertTarget) -> Self {
        match (self.dtype, to) {
            (ConvertTarget::F32, ConvertTarget::F16) => Self::from(
                self.f32_slice()
                    .iter()
                    .copied()
                    .map(f16::from_f32)
                    .collect::<Vec<_>>(),
            ),
            (ConvertTarget::F16, ConvertTarget::F32) => Self::from(
                self.f16_slice()
                    .iter()
                    .copied()
                    .map(f16::to_f32)
                    .collect::<Vec<_>>(),
            ),
            _ => self.clone(),
        }
    }
}

impl From<Vec<f32>> for HostValues {
    fn from(values: Vec<f32>) -> Self {
        Self::from_elems(ConvertTarget::F32, values)
    }
}

impl From<Vec<f16>> for HostValues {
    fn from(values: Vec<f16>) -> Self {
        Self::from_elems(ConvertTarget::F16, values)
    }
}

/// [`HostValues`] being assembled from a stream, before they are shared.
#[derive(Debug)]
pub enum HostValuesBuilder {
    /// f32 values so far.
    F32(Vec<f32>),
    /// f16 values so far.
    F16(Vec<f16>),
}

impl HostValuesBuilder {
    /// Room for `len` values of `dtype`.
    pub fn with_capacity(dtype: ConvertTarget, len: usize) -> Self {
        match dtype {
            ConvertTarget::F32 => Self::F32(Vec::with_capacity(len)),
            ConvertTarget::F16 => Self::F16(Vec::with_capacity(len)),
        }
    }

    /// Appends little-endian values of this dtype (what a [`Converter`] to it writes); a
    /// trailing partial value is ignored (converters only write whole ones).
    ///
    /// [`Converter`]: crate::weights::Converter
    pub fn extend_le_bytes(&mut self, bytes: &[u8]) {
        match self {
            Self::F32(values) => extend_from_le(values, bytes, f32::from_le_bytes),
            Self::F16(values) => extend_from_le(values, bytes, f16::from_le_bytes),
        }
    }

    /// The values, ready to share.
    pub fn finish(self) -> HostValues {
        match self {
            Self::F32(values) => values.into(),
            Self::F16(values) => values.into(),
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
            data: data.into(),
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

    /// The same layer with every tensor in `to` (see [`HostValues::to_dtype`]).
    #[must_use]
    pub fn into_dtype(mut self, to: ConvertTarget) -> Self {
        for tensor in self.tensors.values_mut() {
            tensor.data = tensor.data.to_dtype(to);
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
        assert_eq!(back.tensors["w"].data, HostValues::from(values));
    }

    #[test]
    fn clones_prefixes_and_burn_data_share_the_allocation() {
        let values = HostValues::from(vec![1.0f32, 2.0, 3.0, 4.0]);
        let clone = values.clone();
        let ptr = |v: &HostValues| v.as_f32().unwrap().as_ptr();
        assert_eq!(ptr(&clone), ptr(&values));
        let prefix = values.prefix(3);
        assert_eq!(prefix.as_f32(), Some(&[1.0, 2.0, 3.0][..]));
        assert_eq!(ptr(&prefix), ptr(&values));
        let middle = values.range(1..3);
        assert_eq!(middle.as_f32(), Some(&[2.0, 3.0][..]));
        assert_eq!(
            middle.as_f32().unwrap().as_ptr(),
            ptr(&values).wrapping_add(1)
        );
        assert_eq!(values.range(3..9).as_f32(), Some(&[4.0][..]));
        let data = values.tensor_data([2, 2]);
        assert_eq!(data.as_bytes().as_ptr(), ptr(&values).cast::<u8>());
        assert_eq!(data.try_to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(values.to_dtype(ConvertTarget::F32), values);
    }

    #[test]
    fn converting_stored_bytes_matches_the_streaming_converter() {
        let bf16_bytes = [0x80, 0x3f, 0x00, 0xc0]; // bf16 1.0, -2.0
        let f16 = HostValues::convert("t", Dtype::BF16, &bf16_bytes, ConvertTarget::F16).unwrap();
        assert_eq!(
            f16,
            HostValues::from(vec![f16::from_f32(1.0), f16::from_f32(-2.0)])
        );
        let f32 = HostValues::convert("t", Dtype::BF16, &bf16_bytes, ConvertTarget::F32).unwrap();
        assert_eq!(f32.as_f32(), Some(&[1.0, -2.0][..]));
        let err = HostValues::convert("t", Dtype::BF16, &bf16_bytes[..3], ConvertTarget::F16);
        assert!(
            matches!(err, Err(WeightsError::PartialElement { .. })),
            "{err:?}"
        );
    }
}
