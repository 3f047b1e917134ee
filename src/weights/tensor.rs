//! One tensor of a validated header.

use std::ops::Range;

use crate::weights::dtype::{Dtype, DtypeProblem};
use crate::weights::error::WeightsError;
use crate::weights::raw::{Field, Found, RawEntry};

/// One tensor of a validated header: name, dtype, shape and its byte span in the data region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub(crate) name: String,
    dtype: Dtype,
    shape: Vec<u64>,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl TensorInfo {
    /// The tensor's name as written in the header, e.g. `"encoder.layer.0.attention.self.query.weight"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The dimensions, outermost first (row-major, as safetensors stores them).
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Number of elements; cannot overflow, the header's constructor checked it.
    pub fn numel(&self) -> u64 {
        (self.end - self.start) / self.dtype.size()
    }

    /// Number of bytes of the tensor's data.
    pub fn byte_len(&self) -> u64 {
        self.end - self.start
    }

    /// The tensor's bytes as a range of the data region (what `data_offsets` says).
    pub fn data_range(&self) -> Range<u64> {
        self.start..self.end
    }
}

impl TensorInfo {
    /// Validates one raw header entry: dtype, shape, offsets and that the byte span matches.
    pub(crate) fn from_raw(
        file: &str,
        name: String,
        entry: Found<RawEntry>,
    ) -> Result<TensorInfo, WeightsError> {
        let (f, t) = (|| file.to_owned(), || name.clone());
        let entry = entry.map_err(|found| WeightsError::EntryNotObject {
            file: f(),
            tensor: t(),
            found,
        })?;
        let dtype = take(entry.dtype, "dtype", file, &name, |found| {
            WeightsError::BadDtype {
                file: f(),
                tensor: t(),
                found,
            }
        })?;
        let dtype = Dtype::parse(&dtype).map_err(|problem| match problem {
            DtypeProblem::Unknown => WeightsError::UnknownDtype {
                file: f(),
                tensor: t(),
                dtype: dtype.clone(),
            },
            DtypeProblem::Unsupported => WeightsError::UnsupportedDtype {
                file: f(),
                tensor: t(),
                dtype: dtype.clone(),
            },
        })?;
        let shape = take(entry.shape, "shape", file, &name, |problem| {
            WeightsError::BadShape {
                file: f(),
                tensor: t(),
                problem,
            }
        })?;
        let [start, end] = take(entry.offsets, "data_offsets", file, &name, |problem| {
            WeightsError::BadOffsets {
                file: f(),
                tensor: t(),
                problem,
            }
        })?;
        let bytes = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()));
        let Some(expected) = bytes else {
            return Err(WeightsError::ShapeOverflow {
                file: f(),
                tensor: name,
                shape,
                dtype,
            });
        };
        if end < start {
            return Err(WeightsError::OffsetsReversed {
                file: f(),
                tensor: name,
                start,
                end,
            });
        }
        if end - start != expected {
            return Err(WeightsError::LengthMismatch {
                file: f(),
                tensor: name,
                expected,
                found: end - start,
            });
        }
        Ok(TensorInfo {
            name,
            dtype,
            shape,
            start,
            end,
        })
    }
}

/// Unwraps a present, well-typed field, or builds the missing-field or wrong-type error.
fn take<T>(
    field: Field<T>,
    field_name: &'static str,
    file: &str,
    tensor: &str,
    bad: impl FnOnce(String) -> WeightsError,
) -> Result<T, WeightsError> {
    match field {
        Field::Missing => Err(WeightsError::MissingField {
            file: file.into(),
            tensor: tensor.into(),
            field: field_name,
        }),
        Field::Present(found) => found.map_err(bad),
    }
}
