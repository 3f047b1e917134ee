//! Shared helpers for reading model-folder JSON files into typed, validated configs.

use serde::de::DeserializeOwned;

use crate::models::error::ModelError;

/// Parses `bytes` as the raw (all-optional) shape `T` of `file`.
pub(crate) fn parse<T: DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, ModelError> {
    serde_json::from_slice(bytes).map_err(|e| ModelError::InvalidJson {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

/// The value of a required `field`, or [`ModelError::MissingField`].
pub(crate) fn require<T>(file: &str, field: &str, value: Option<T>) -> Result<T, ModelError> {
    value.ok_or_else(|| ModelError::MissingField {
        file: file.to_owned(),
        field: field.to_owned(),
    })
}

/// A required size that must be at least 1.
pub(crate) fn positive(file: &str, field: &str, value: Option<usize>) -> Result<usize, ModelError> {
    match require(file, field, value)? {
        0 => Err(invalid(file, field, 0, "must be at least 1")),
        n => Ok(n),
    }
}

/// A [`ModelError::InvalidValue`] for `field` = `value`.
pub(crate) fn invalid(file: &str, field: &str, value: impl ToString, reason: &str) -> ModelError {
    ModelError::InvalidValue {
        file: file.to_owned(),
        field: field.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

/// A [`ModelError::Unsupported`] for `field` = `value`.
pub(crate) fn unsupported(
    file: &str,
    field: &str,
    value: impl ToString,
    supported: &str,
) -> ModelError {
    ModelError::Unsupported {
        file: file.to_owned(),
        field: field.to_owned(),
        value: value.to_string(),
        supported: supported.to_owned(),
    }
}
