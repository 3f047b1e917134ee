//! The one error type of the models layer: bad model files, a failing tokenizer, or a failed run.

use crate::exec::ExecError;

/// Everything that can go wrong while reading a model's files or computing its output.
///
/// `file` is the model-folder path of the file at fault (`config.json`, `1_Pooling/config.json`, …),
/// `field` the JSON field within it, so a message points at the line to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "the fields share the vocabulary documented above instead of repeating it per variant"
)]
#[non_exhaustive]
pub enum ModelError {
    /// The file is not JSON, or a field has the wrong type.
    #[error(
        "{file}: not valid JSON of the expected shape ({message}); fetch the file again or fix it"
    )]
    InvalidJson { file: String, message: String },
    /// A field the model cannot do without is absent.
    #[error(
        "{file}: field `{field}` is missing; the model folder is incomplete or not this kind of model"
    )]
    MissingField { file: String, field: String },
    /// The file asks for something webvram does not implement.
    #[error(
        "{file}: `{field}` = {value} is not supported (supported: {supported}); use a model without it"
    )]
    Unsupported {
        file: String,
        field: String,
        value: String,
        supported: String,
    },
    /// A field has a value that cannot be right (zero sizes, sizes that do not divide, …).
    #[error(
        "{file}: `{field}` = {value} is invalid: {reason}; the file is corrupt or edited by hand"
    )]
    InvalidValue {
        file: String,
        field: String,
        value: String,
        reason: String,
    },
    /// The `tokenizers` crate refused the file or the input (its message is kept).
    #[error("{file}: tokenizer error: {message}")]
    Tokenizer { file: String, message: String },
    /// Running a layer failed (missing or misshapen weights, bad input).
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// Reading the result back from the device failed (device lost, out of memory).
    #[error(
        "reading the embeddings back from the device failed: {message}; try again or reload the page"
    )]
    Readback { message: String },
}

impl ModelError {
    /// The stable code the JS layer attaches to the `Error` it throws.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::InvalidJson { .. }
            | ModelError::MissingField { .. }
            | ModelError::InvalidValue { .. }
            | ModelError::Tokenizer { .. } => "FORMAT",
            ModelError::Unsupported { .. } => "UNSUPPORTED",
            ModelError::Exec(e) => e.code(),
            ModelError::Readback { .. } => "EXECUTION",
        }
    }
}
