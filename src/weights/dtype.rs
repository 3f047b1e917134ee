//! Element types webvram accepts in a safetensors header.
//!
//! The safetensors format knows more dtypes (F4, F6, U16, C64, …) than the runtime can use. This enum is the
//! closed subset webvram loads; [`Dtype::parse`] tells an unknown name from a known-but-unsupported one (using
//! the `safetensors` crate's own list) so the error can say which it is.

use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

/// An element type of a tensor in a safetensors file, as named in its header (`"dtype": "BF16"`).
///
/// Every variant is a whole number of bytes wide, so byte lengths are `numel × size()` with no rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    non_camel_case_types,
    reason = "variant names mirror the safetensors header strings"
)]
pub enum Dtype {
    /// IEEE 754 binary64.
    F64,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16: the top 16 bits of an f32.
    BF16,
    /// OFP8 E4M3FN (PyTorch `float8_e4m3fn`): no infinities, NaN only at `S.1111.111`, max 448.
    F8_E4M3,
    /// OFP8 E5M2 (PyTorch `float8_e5m2`): IEEE-like with infinities, max normal 57344.
    F8_E5M2,
    /// Signed 64-bit integer.
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Signed 16-bit integer.
    I16,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 8-bit integer.
    U8,
    /// One byte per boolean, 0 or 1.
    BOOL,
}

/// Why a header's dtype string was refused by [`Dtype::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtypeProblem {
    /// The safetensors format has no dtype of this name.
    Unknown,
    /// The safetensors format knows this dtype, but webvram cannot load it.
    Unsupported,
}

impl Dtype {
    /// Every supported dtype, in declaration order (handy for table tests and generators).
    pub const ALL: [Dtype; 12] = [
        Dtype::F64,
        Dtype::F32,
        Dtype::F16,
        Dtype::BF16,
        Dtype::F8_E4M3,
        Dtype::F8_E5M2,
        Dtype::I64,
        Dtype::I32,
        Dtype::I16,
        Dtype::I8,
        Dtype::U8,
        Dtype::BOOL,
    ];

    /// Bytes per element; a `u64` so byte-length arithmetic stays in `u64` on wasm32 too.
    pub const fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::I8 | Dtype::U8 | Dtype::BOOL => 1,
        }
    }

    /// The name used in safetensors headers, e.g. `"F8_E4M3"`.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F8_E4M3 => "F8_E4M3",
            Dtype::F8_E5M2 => "F8_E5M2",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::BOOL => "BOOL",
        }
    }

    /// Whether the dtype holds floating-point values (and so can be converted to f32 as a weight).
    pub const fn is_float(self) -> bool {
        matches!(
            self,
            Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F8_E4M3 | Dtype::F8_E5M2
        )
    }

    /// Reads a header dtype string.
    ///
    /// # Errors
    /// [`DtypeProblem::Unsupported`] when the safetensors crate knows the name (e.g. `"U16"`, `"F4"`) but
    /// webvram does not load it; [`DtypeProblem::Unknown`] otherwise.
    pub fn parse(name: &str) -> Result<Dtype, DtypeProblem> {
        if let Some(dtype) = Dtype::ALL.into_iter().find(|d| d.name() == name) {
            return Ok(dtype);
        }
        let de: StrDeserializer<'_, ValueError> = name.into_deserializer();
        match safetensors::Dtype::deserialize(de) {
            Ok(_) => Err(DtypeProblem::Unsupported),
            Err(_) => Err(DtypeProblem::Unknown),
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Dtype> for safetensors::Dtype {
    fn from(dtype: Dtype) -> Self {
        match dtype {
            Dtype::F64 => safetensors::Dtype::F64,
            Dtype::F32 => safetensors::Dtype::F32,
            Dtype::F16 => safetensors::Dtype::F16,
            Dtype::BF16 => safetensors::Dtype::BF16,
            Dtype::F8_E4M3 => safetensors::Dtype::F8_E4M3,
            Dtype::F8_E5M2 => safetensors::Dtype::F8_E5M2,
            Dtype::I64 => safetensors::Dtype::I64,
            Dtype::I32 => safetensors::Dtype::I32,
            Dtype::I16 => safetensors::Dtype::I16,
            Dtype::I8 => safetensors::Dtype::I8,
            Dtype::U8 => safetensors::Dtype::U8,
            Dtype::BOOL => safetensors::Dtype::BOOL,
        }
    }
}

impl TryFrom<safetensors::Dtype> for Dtype {
    type Error = DtypeProblem;

    /// Maps the safetensors crate's dtype onto webvram's subset, so code holding a `safetensors::Dtype`
    /// (e.g. from burn's loader) can ask whether webvram streams it.
    fn try_from(dtype: safetensors::Dtype) -> Result<Self, Self::Error> {
        Dtype::ALL
            .into_iter()
            .find(|d| safetensors::Dtype::from(*d) == dtype)
            .ok_or(DtypeProblem::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_safetensors() {
        for dtype in Dtype::ALL {
            assert_eq!(Dtype::parse(dtype.name()), Ok(dtype));
            let theirs = safetensors::Dtype::from(dtype);
            assert_eq!(theirs.to_string(), dtype.name());
            assert_eq!(theirs.bitsize() as u64, dtype.size() * 8);
            assert_eq!(Dtype::try_from(theirs), Ok(dtype));
        }
    }

    #[test]
    fn unknown_and_unsupported_are_told_apart() {
        assert_eq!(Dtype::parse("F4"), Err(DtypeProblem::Unsupported));
        assert_eq!(Dtype::parse("U16"), Err(DtypeProblem::Unsupported));
        assert_eq!(Dtype::parse("F33"), Err(DtypeProblem::Unknown));
        assert_eq!(Dtype::parse("f32"), Err(DtypeProblem::Unknown));
        assert_eq!(
            Dtype::try_from(safetensors::Dtype::C64),
            Err(DtypeProblem::Unsupported)
        );
    }
}
