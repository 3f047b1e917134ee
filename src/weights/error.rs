//! The one error type of the weights layer.
//!
//! Every way a header, an index, a data stream or a conversion can be wrong has its own variant, carrying the
//! caller's label for the file (a URL or a path), the tensor and the numbers involved (asked vs limit), so the
//! JS layer can map [`WeightsError::code`] to an `Error.code` and show a message that says what to do next.

use crate::weights::dtype::Dtype;
use crate::weights::url::ShardNameProblem;

/// Everything that can go wrong while reading safetensors weights.
///
/// Fields use one vocabulary: `file` is the label the caller gave (usually the URL) of the file at fault,
/// `index` that of an index file; `tensor` is a tensor's name and `shard` a shard name as written in the
/// index; `expected` / `got` / `found` are byte counts (what the header implies vs what is there), `len` /
/// `limit` a size vs the limit it broke; `problem` / `found` (as text) describe what was seen instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "the fields share the vocabulary documented above instead of repeating it 90 times"
)]
#[non_exhaustive]
pub enum WeightsError {
    /// The stream ended inside the 8-byte header-length prefix.
    #[error(
        "{file}: ends after {got} bytes, inside the 8-byte safetensors length prefix; the download was cut short or this is not a safetensors file"
    )]
    TruncatedLength { file: String, got: u64 },
    /// The header length prefix is larger than [`MAX_HEADER_LEN`](crate::weights::MAX_HEADER_LEN).
    #[error(
        "{file}: header length {len} is over the {limit}-byte limit; this is not a safetensors file, or it is corrupt"
    )]
    HeaderTooLarge { file: String, len: u64, limit: u64 },
    /// The stream (or the known file size) ends inside the JSON header.
    #[error(
        "{file}: header is {expected} bytes but only {got} arrived; the download was cut short, fetch it again"
    )]
    TruncatedHeader {
        file: String,
        expected: u64,
        got: u64,
    },
    /// The JSON header is not valid UTF-8.
    #[error(
        "{file}: header is not UTF-8 (first bad byte at {valid_up_to}); the file is corrupt, fetch or export it again"
    )]
    HeaderNotUtf8 { file: String, valid_up_to: u64 },
    /// The header is not well-formed JSON.
    #[error(
        "{file}: header is not valid JSON at line {line}, column {column} ({message}); the file is corrupt"
    )]
    InvalidJson {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// The header JSON is valid but not an object.
    #[error(
        "{file}: header JSON is {found}, not an object of tensors; the file is not a safetensors file"
    )]
    HeaderNotObject { file: String, found: String },
    /// A tensor's entry in the header is not an object.
    #[error(
        "{file}: entry for tensor `{tensor}` is {found}, not an object with dtype/shape/data_offsets"
    )]
    EntryNotObject {
        file: String,
        tensor: String,
        found: String,
    },
    /// The same tensor name appears twice in one header or in one index's weight map.
    #[error("{file}: tensor `{tensor}` is listed twice; re-export the file so each name is unique")]
    DuplicateTensor { file: String, tensor: String },
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    #[error("{file}: tensor `{tensor}` has no `{field}`; the header is incomplete")]
    MissingField {
        file: String,
        tensor: String,
        field: &'static str,
    },
    /// A tensor's `dtype` is not a string.
    #[error("{file}: tensor `{tensor}` has a dtype that is {found}, not a string such as \"F32\"")]
    BadDtype {
        file: String,
        tensor: String,
        found: String,
    },
    /// A tensor's `dtype` names no safetensors dtype.
    #[error(
        "{file}: tensor `{tensor}` has unknown dtype \"{dtype}\"; expected one of F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL"
    )]
    UnknownDtype {
        file: String,
        tensor: String,
        dtype: String,
    },
    /// A tensor's `dtype` is a real safetensors dtype that webvram does not load.
    #[error(
        "{file}: tensor `{tensor}` has dtype {dtype}, which webvram cannot load; convert the checkpoint to F32, F16, BF16 or F8"
    )]
    UnsupportedDtype {
        file: String,
        tensor: String,
        dtype: String,
    },
    /// A tensor's `shape` is not an array of at most [`MAX_RANK`](crate::weights::MAX_RANK) non-negative integers.
    #[error("{file}: tensor `{tensor}` has a bad shape: {problem}")]
    BadShape {
        file: String,
        tensor: String,
        problem: String,
    },
    /// The element count or byte length of a tensor overflows 64 bits.
    #[error(
        "{file}: tensor `{tensor}` with shape {shape:?} and dtype {dtype} has more bytes than fit in 64 bits; the header is corrupt"
    )]
    ShapeOverflow {
        file: String,
        tensor: String,
        shape: Vec<u64>,
        dtype: Dtype,
    },
    /// A tensor's `data_offsets` is not a pair of non-negative integers.
    #[error("{file}: tensor `{tensor}` has bad data_offsets: {problem}")]
    BadOffsets {
        file: String,
        tensor: String,
        problem: String,
    },
    /// A tensor's end offset is before its start offset.
    #[error(
        "{file}: tensor `{tensor}` ends at byte {end}, before its start {start}; the header is corrupt"
    )]
    OffsetsReversed {
        file: String,
        tensor: String,
        start: u64,
        end: u64,
    },
    /// A tensor's byte span does not equal its shape × dtype size.
    #[error(
        "{file}: tensor `{tensor}` needs {expected} bytes for its shape and dtype but its offsets span {found}"
    )]
    LengthMismatch {
        file: String,
        tensor: String,
        expected: u64,
        found: u64,
    },
    /// Sorted by offset, a tensor starts after the previous one ends (or the first starts after 0).
    #[error(
        "{file}: tensor `{tensor}` starts at data byte {start} but the previous tensor ends at {expected}; safetensors data must be contiguous"
    )]
    OffsetGap {
        file: String,
        tensor: String,
        expected: u64,
        start: u64,
    },
    /// Sorted by offset, a tensor starts before the previous one ends.
    #[error(
        "{file}: tensor `{tensor}` starts at data byte {start}, inside `{other}` which ends at {other_end}; tensors must not overlap"
    )]
    OffsetOverlap {
        file: String,
        tensor: String,
        other: String,
        start: u64,
        other_end: u64,
    },
    /// `__metadata__` is not an object of string → string.
    #[error("{file}: __metadata__ is malformed ({problem}); it must map strings to strings")]
    BadMetadata { file: String, problem: String },
    /// The file (known size, or the stream at its end) stops before the data the header describes.
    #[error(
        "{file}: header describes {expected} bytes but the file has {got}; tensor `{tensor}` is cut short — fetch the file again"
    )]
    TruncatedData {
        file: String,
        tensor: String,
        expected: u64,
        got: u64,
    },
    /// The file has bytes past the end of the data the header describes.
    #[error(
        "{file}: header describes {expected} bytes but the file has {found} or more; it is not the file the header belongs to"
    )]
    TrailingData {
        file: String,
        expected: u64,
        found: u64,
    },
    /// A buffering sink was asked to hold a tensor larger than its limit.
    #[error(
        "{file}: tensor `{tensor}` is {len} bytes, over the {limit}-byte limit of whole-tensor buffering; consume it in chunks instead"
    )]
    TensorTooLarge {
        file: String,
        tensor: String,
        len: u64,
        limit: u64,
    },
    /// An index file is larger than [`MAX_INDEX_LEN`](crate::weights::MAX_INDEX_LEN).
    #[error(
        "{file}: index is {len} bytes, over the {limit}-byte limit; this is not a safetensors index"
    )]
    IndexTooLarge { file: String, len: u64, limit: u64 },
    /// An index file is not JSON of the form `{"metadata": {…}, "weight_map": {tensor: shard}}`.
    #[error("{file}: index is malformed: {problem}")]
    IndexMalformed { file: String, problem: String },
    /// An index maps a tensor to a shard name that is not a plain sibling file name.
    #[error("{file}: tensor `{tensor}` maps to shard \"{shard}\", refused: {problem}")]
    BadShardName {
        file: String,
        tensor: String,
        shard: String,
        problem: ShardNameProblem,
    },
    /// [`Index::cross_check`](crate::weights::Index::cross_check) was not given the header of a shard the index uses.
    #[error(
        "{index}: no header was given for shard \"{shard}\"; parse every shard's header before cross-checking"
    )]
    ShardHeaderMissing { index: String, shard: String },
    /// The index maps a tensor to a shard whose header does not have it.
    #[error(
        "{index}: maps tensor `{tensor}` to \"{shard}\", but that shard's header has no such tensor; the index is stale"
    )]
    TensorMissingFromShard {
        index: String,
        tensor: String,
        shard: String,
    },
    /// Two shards' headers both contain the same tensor.
    #[error(
        "{index}: tensor `{tensor}` is in both \"{first}\" and \"{second}\"; the checkpoint is inconsistent"
    )]
    TensorInTwoShards {
        index: String,
        tensor: String,
        first: String,
        second: String,
    },
    /// A shard's header has a tensor the index does not map to that shard.
    #[error(
        "{index}: shard \"{shard}\" has tensor `{tensor}` that the index does not map to it; the index is stale"
    )]
    TensorNotInIndex {
        index: String,
        tensor: String,
        shard: String,
    },
    /// Conversion to f32/f16 was asked of an integer or boolean tensor.
    #[error(
        "tensor `{tensor}` has dtype {dtype}, which is not a float; only float tensors convert to f32/f16"
    )]
    NotAFloat { tensor: String, dtype: Dtype },
    /// A conversion ended with bytes left over that do not make a whole element.
    #[error(
        "tensor `{tensor}` ({dtype}) ended with {leftover} bytes, less than one element; the data was cut short"
    )]
    PartialElement {
        tensor: String,
        dtype: Dtype,
        leftover: u64,
    },
    /// A synthetic-checkpoint spec cannot be built.
    #[error("synthetic checkpoint spec is invalid: {problem}")]
    BadSynthSpec { problem: String },
}

impl WeightsError {
    /// A stable machine-readable code, e.g. `"header_too_large"`, for the JS layer's `Error.code`.
    pub fn code(&self) -> &'static str {
        use WeightsError as E;
        match self {
            E::TruncatedLength { .. } => "truncated_length",
            E::HeaderTooLarge { .. } => "header_too_large",
            E::TruncatedHeader { .. } => "truncated_header",
            E::HeaderNotUtf8 { .. } => "header_not_utf8",
            E::InvalidJson { .. } => "invalid_json",
            E::HeaderNotObject { .. } => "header_not_object",
            E::EntryNotObject { .. } => "entry_not_object",
            E::DuplicateTensor { .. } => "duplicate_tensor",
            E::MissingField { .. } => "missing_field",
            E::BadDtype { .. } => "bad_dtype",
            E::UnknownDtype { .. } => "unknown_dtype",
            E::UnsupportedDtype { .. } => "unsupported_dtype",
            E::BadShape { .. } => "bad_shape",
            E::ShapeOverflow { .. } => "shape_overflow",
            E::BadOffsets { .. } => "bad_offsets",
            E::OffsetsReversed { .. } => "offsets_reversed",
            E::LengthMismatch { .. } => "length_mismatch",
            E::OffsetGap { .. } => "offset_gap",
            E::OffsetOverlap { .. } => "offset_overlap",
            E::BadMetadata { .. } => "bad_metadata",
            E::TruncatedData { .. } => "truncated_data",
            E::TrailingData { .. } => "trailing_data",
            E::TensorTooLarge { .. } => "tensor_too_large",
            E::IndexTooLarge { .. } => "index_too_large",
            E::IndexMalformed { .. } => "index_malformed",
            E::BadShardName { .. } => "bad_shard_name",
            E::ShardHeaderMissing { .. } => "shard_header_missing",
            E::TensorMissingFromShard { .. } => "tensor_missing_from_shard",
            E::TensorInTwoShards { .. } => "tensor_in_two_shards",
            E::TensorNotInIndex { .. } => "tensor_not_in_index",
            E::NotAFloat { .. } => "not_a_float",
            E::PartialElement { .. } => "partial_element",
            E::BadSynthSpec { .. } => "bad_synth_spec",
        }
    }
}
