//! A validated safetensors header: parse, don't validate.
//!
//! [`Header::parse`] takes the JSON bytes of a header (never the data) and checks everything the format
//! promises — UTF-8, an object of tensor entries, supported dtypes, `shape × dtype size` equal to the byte
//! span with checked arithmetic, offsets that tile the data region from 0 with no gap or overlap, and, when
//! the file size is known, a data region that ends exactly at the end of the file. A [`Header`] that exists
//! therefore makes every later range computation infallible. Offsets are `u64` throughout, so a 10 GiB shard
//! streamed into a wasm32 page is described correctly even though it could never be held in memory.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::weights::error::WeightsError;
use crate::weights::raw;
use crate::weights::tensor::TensorInfo;
use crate::weights::{MAX_HEADER_LEN, PREFIX_LEN};

/// A safetensors header whose every promise has been checked; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    file: String,
    header_len: u64,
    metadata: BTreeMap<String, String>,
    /// Sorted by data offset, so streaming visits them in file order.
    tensors: Vec<TensorInfo>,
    /// Indices into `tensors`, sorted by name, for lookup without a second copy of every name.
    by_name: Vec<usize>,
}

impl Header {
    /// Validates the JSON bytes of a header. `file` labels errors (a URL or path); `file_len`, when known
    /// (e.g. from `Content-Length`), must be exactly prefix + header + data.
    ///
    /// # Errors
    /// One [`WeightsError`] variant per violated rule: `HeaderTooLarge`, `HeaderNotUtf8`, `InvalidJson`,
    /// `HeaderNotObject`, `BadMetadata`, `EntryNotObject`, `MissingField`, `BadDtype`, `UnknownDtype`,
    /// `UnsupportedDtype`, `BadShape`, `BadOffsets`, `ShapeOverflow`, `OffsetsReversed`, `LengthMismatch`,
    /// `DuplicateTensor`, `OffsetGap`, `OffsetOverlap`, `TruncatedHeader`, `TruncatedData`, `TrailingData`.
    pub fn parse(file: &str, json: &[u8], file_len: Option<u64>) -> Result<Header, WeightsError> {
        let header_len = json.len() as u64;
        if header_len > MAX_HEADER_LEN {
            let limit = MAX_HEADER_LEN;
            return Err(WeightsError::HeaderTooLarge {
                file: file.into(),
                len: header_len,
                limit,
            });
        }
        let text = std::str::from_utf8(json).map_err(|e| WeightsError::HeaderNotUtf8 {
            file: file.into(),
            valid_up_to: e.valid_up_to() as u64,
        })?;
        let raw::RawHeader {
            mut tensors,
            metadata,
        } = raw::parse_raw(file, text)?;
        tensors.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
        let by_name = name_order(file, &tensors)?;
        let header = Header {
            file: file.into(),
            header_len,
            metadata,
            tensors,
            by_name,
        };
        header.check_layout(file_len)?;
        Ok(header)
    }

    /// The caller's label for the file, as used in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Length of the JSON header in bytes (the `N` of the 8-byte prefix).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// File offset of the first data byte: 8 + `N`.
    pub fn data_start(&self) -> u64 {
        PREFIX_LEN + self.header_len
    }

    /// Length of the data region: the end of the last tensor.
    pub fn data_len(&self) -> u64 {
        self.tensors.last().map_or(0, |t| t.end)
    }

    /// Total file length the header implies; the constructor checked it fits in a `u64`.
    pub fn file_len(&self) -> u64 {
        self.data_start() + self.data_len()
    }

    /// The `__metadata__` map (empty when absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// All tensors, in data-offset order (the order a sequential download delivers them).
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor of this name, if the header has it.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        let i = self
            .by_name
            .binary_search_by(|&i| self.tensors[i].name.as_str().cmp(name))
            .ok()?;
        Some(&self.tensors[self.by_name[i]])
    }

    /// Byte range of a tensor within the whole file, ready for an HTTP `Range` request.
    pub fn file_range(&self, name: &str) -> Option<Range<u64>> {
        let t = self.tensor(name)?;
        Some(self.data_start() + t.start..self.data_start() + t.end)
    }

    /// Checks that the sorted tensors tile `0..data_len` and that the file length adds up.
    fn check_layout(&self, file_len: Option<u64>) -> Result<(), WeightsError> {
        let mut expected = 0u64;
        let mut previous: Option<&TensorInfo> = None;
        for t in &self.tensors {
            if t.start > expected {
                let (file, tensor) = (self.file.clone(), t.name.clone());
                return Err(WeightsError::OffsetGap {
                    file,
                    tensor,
                    expected,
                    start: t.start,
                });
            }
            if t.start < expected {
                let other = previous.map_or_else(String::new, |p| p.name.clone());
                let (file, tensor) = (self.file.clone(), t.name.clone());
                return Err(WeightsError::OffsetOverlap {
                    file,
                    tensor,
                    other,
                    start: t.start,
                    other_end: expected,
                });
            }
            expected = t.end;
            previous = Some(t);
        }
        if self.data_start().checked_add(expected).is_none() {
            let tensor = previous.map_or_else(String::new, |p| p.name.clone());
            let problem = "the data would end past 2^64 bytes".to_owned();
            return Err(WeightsError::BadOffsets {
                file: self.file.clone(),
                tensor,
                problem,
            });
        }
        file_len.map_or(Ok(()), |len| self.check_file_len(len))
    }

    /// Compares the implied file length with the known one.
    fn check_file_len(&self, got: u64) -> Result<(), WeightsError> {
        let file = self.file.clone();
        if got < self.data_start() {
            let got = got.saturating_sub(PREFIX_LEN);
            return Err(WeightsError::TruncatedHeader {
                file,
                expected: self.header_len,
                got,
            });
        }
        let expected = self.file_len();
        if got > expected {
            return Err(WeightsError::TrailingData {
                file,
                expected,
                found: got,
            });
        }
        match self
            .tensors
            .iter()
            .find(|t| self.data_start() + t.end > got)
        {
            Some(t) => Err(WeightsError::TruncatedData {
                file,
                tensor: t.name.clone(),
                expected,
                got,
            }),
            None => Ok(()),
        }
    }
}

/// Sorts indices by tensor name and refuses a name that appears twice.
fn name_order(file: &str, tensors: &[TensorInfo]) -> Result<Vec<usize>, WeightsError> {
    let mut by_name: Vec<usize> = (0..tensors.len()).collect();
    by_name.sort_by(|&a, &b| tensors[a].name.cmp(&tensors[b].name));
    for pair in by_name.windows(2) {
        if tensors[pair[0]].name == tensors[pair[1]].name {
            let tensor = tensors[pair[0]].name.clone();
            return Err(WeightsError::DuplicateTensor {
                file: file.into(),
                tensor,
            });
        }
    }
    Ok(by_name)
}
