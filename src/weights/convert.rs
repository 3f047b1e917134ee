//! Converting float tensors to f32 (or f16) as their bytes stream in.
//!
//! WebGPU computes in f32, and in f16 only with `shader-f16`; there is no bf16 or fp8 compute, so BF16 and
//! F8 weights are widened on load. [`Converter`] takes a tensor's bytes in chunks cut anywhere — including
//! in the middle of an element, whose bytes it carries over to the next chunk — and appends little-endian
//! f32 (or f16) bytes ready for a GPU buffer. F16 → F16 and F32 → F32 are byte copies. F8 follows the OCP 8-bit floating
//! point spec (OFP8) as PyTorch's `float8_e4m3fn` and `float8_e5m2` do.

use half::{bf16, f16};

use crate::weights::dtype::Dtype;
use crate::weights::error::WeightsError;
use crate::weights::tensor::TensorInfo;

/// The element type a [`Converter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertTarget {
    /// Little-endian f32, 4 bytes per element: what every WebGPU adapter computes in.
    F32,
    /// Little-endian f16, 2 bytes per element, for adapters with `shader-f16`. F16 input is passed through
    /// byte for byte; wider input is rounded to nearest-even and may overflow to infinity.
    F16,
}

impl ConvertTarget {
    /// Bytes per output element.
    pub const fn size(self) -> usize {
        match self {
            ConvertTarget::F32 => 4,
            ConvertTarget::F16 => 2,
        }
    }
}

/// Chunk-wise float conversion for one tensor; see the module documentation.
#[derive(Debug, Clone)]
pub struct Converter {
    tensor: String,
    from: Dtype,
    to: ConvertTarget,
    /// Bytes of an element split across chunks.
    pending: [u8; 8],
    pending_len: usize,
}

impl Converter {
    /// A converter for `tensor` (named in errors) from `from` to `to`.
    ///
    /// # Errors
    /// `NotAFloat` when `from` is an integer or boolean dtype.
    pub fn new(tensor: &str, from: Dtype, to: ConvertTarget) -> Result<Self, WeightsError> {
        if !from.is_float() {
            return Err(WeightsError::NotAFloat {
                tensor: tensor.into(),
                dtype: from,
            });
        }
        Ok(Converter {
            tensor: tensor.into(),
            from,
            to,
            pending: [0; 8],
            pending_len: 0,
        })
    }

    /// A converter for a tensor from a validated header.
    ///
    /// # Errors
    /// `NotAFloat` when the tensor is not a float tensor.
    pub fn for_tensor(info: &TensorInfo, to: ConvertTarget) -> Result<Self, WeightsError> {
        Converter::new(info.name(), info.dtype(), to)
    }

    /// Converts the next chunk of input, appending every element it completes to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        let size = self.from.size() as usize;
        if self.pending_len > 0 {
            let take = (size - self.pending_len).min(input.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&input[..take]);
            self.pending_len += take;
            input = &input[take..];
            if self.pending_len < size {
                return;
            }
            convert_whole(self.from, self.to, &self.pending[..size], out);
            self.pending_len = 0;
        }
        let whole = input.len() / size * size;
        convert_whole(self.from, self.to, &input[..whole], out);
        let tail = &input[whole..];
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
    }

    /// Ends the tensor.
    ///
    /// # Errors
    /// `PartialElement` when the input ended inside an element.
    pub fn finish(self) -> Result<(), WeightsError> {
        match self.pending_len {
            0 => Ok(()),
            n => Err(WeightsError::PartialElement {
                tensor: self.tensor,
                dtype: self.from,
                leftover: n as u64,
            }),
        }
    }
}

/// Converts a whole float tensor's bytes (`tensor` names it in errors) to little-endian `to`
/// bytes in one go.
///
/// # Errors
/// `NotAFloat` for integer dtypes, `PartialElement` when `bytes` is not a whole number of elements.
pub fn convert_all(
    tensor: &str,
    from: Dtype,
    bytes: &[u8],
    to: ConvertTarget,
) -> Result<Vec<u8>, WeightsError> {
    let mut converter = Converter::new(tensor, from, to)?;
    let mut out = Vec::with_capacity(bytes.len() / from.size() as usize * to.size());
    converter.push(bytes, &mut out);
    converter.finish()?;
    Ok(out)
}

/// Converts a whole float tensor's bytes to f32 values in one go (for small tensors and tests).
///
/// # Errors
/// `NotAFloat` for integer dtypes, `PartialElement` when `bytes` is not a whole number of elements.
pub fn to_f32_vec(tensor: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, WeightsError> {
    Ok(convert_all(tensor, dtype, bytes, ConvertTarget::F32)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Decodes one OFP8 E4M3FN byte (PyTorch `float8_e4m3fn`): bias 7, no infinities, `S.1111.111` is NaN,
/// largest finite ±448, smallest subnormal 2⁻⁹.
pub const fn e4m3fn_to_f32(byte: u8) -> f32 {
    let sign = ((byte & 0x80) as u32) << 24;
    let exp = ((byte >> 3) & 0x0f) as u32;
    let man = (byte & 0x07) as u32;
    let bits = if exp == 0x0f && man == 0x07 {
        0x7fc0_0000
    } else if exp != 0 {
        ((exp + 127 - 7) << 23) | (man << 20)
    } else if man == 0 {
        0
    } else {
        // Subnormal man × 2⁻⁹: normalise so the top set bit becomes the implicit one.
        let top = 31 - man.leading_zeros();
        ((top + 127 - 9) << 23) | ((man - (1 << top)) << (23 - top))
    };
    f32::from_bits(sign | bits)
}

/// Decodes one OFP8 E5M2 byte (PyTorch `float8_e5m2`): bias 15, IEEE-style infinities and NaNs, largest
/// finite ±57344, smallest subnormal 2⁻¹⁶. E5M2 is exactly the high byte of an IEEE f16.
pub fn e5m2_to_f32(byte: u8) -> f32 {
    f16::from_bits(u16::from(byte) << 8).to_f32()
}

/// Every E4M3FN value, computed at compile time.
static E4M3FN_TABLE: [f32; 256] = {
    let mut table = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = e4m3fn_to_f32(i as u8);
        i += 1;
    }
    table
};

/// Converts whole elements (`input.len()` is a multiple of the element size), one tight loop per dtype.
fn convert_whole(from: Dtype, to: ConvertTarget, input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() / from.size() as usize * to.size());
    match (from, to) {
        // Same dtype: a copy (element by element would be several times slower in wasm).
        (Dtype::F16, ConvertTarget::F16) | (Dtype::F32, ConvertTarget::F32) => {
            out.extend_from_slice(input)
        }
        (Dtype::F64, ConvertTarget::F16) => each::<8>(input, out, |b| {
            f16::from_f64(f64::from_le_bytes(b)).to_le_bytes()
        }),
        (_, ConvertTarget::F16) => each_f32(from, input, &mut |x| {
            out.extend_from_slice(&f16::from_f32(x).to_le_bytes())
        }),
        (_, ConvertTarget::F32) => each_f32(from, input, &mut |x| {
            out.extend_from_slice(&x.to_le_bytes())
        }),
    }
}

/// Decodes each element of a float dtype to f32 and hands it to `emit`.
fn each_f32(from: Dtype, input: &[u8], emit: &mut impl FnMut(f32)) {
    match from {
        Dtype::F64 => input
            .chunks_exact(8)
            .for_each(|b| emit(f64::from_le_bytes(arr(b)) as f32)),
        Dtype::F32 => input
            .chunks_exact(4)
            .for_each(|b| emit(f32::from_le_bytes(arr(b)))),
        Dtype::F16 => input
            .chunks_exact(2)
            .for_each(|b| emit(f16::from_le_bytes(arr(b)).to_f32())),
        Dtype::BF16 => input
            .chunks_exact(2)
            .for_each(|b| emit(bf16::from_le_bytes(arr(b)).to_f32())),
        Dtype::F8_E4M3 => input
            .iter()
            .for_each(|&b| emit(E4M3FN_TABLE[usize::from(b)])),
        Dtype::F8_E5M2 => input.iter().for_each(|&b| emit(e5m2_to_f32(b))),
        // Converter::new refused every other dtype.
        Dtype::I64 | Dtype::I32 | Dtype::I16 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => {}
    }
}

/// Maps each `N`-byte element to two output bytes.
fn each<const N: usize>(input: &[u8], out: &mut Vec<u8>, f: impl Fn([u8; N]) -> [u8; 2]) {
    input
        .chunks_exact(N)
        .for_each(|b| out.extend_from_slice(&f(arr(b))));
}

/// A chunk from `chunks_exact(N)` as an array; the length always matches.
fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}
