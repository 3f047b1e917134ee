//! The runtime's error type: what failed, in words a user can act on.

/// Everything that can go wrong while starting or driving the runtime.
///
/// Each variant names the step that failed; [`Error::code`] gives the stable string the JS
/// layer puts on its `Error` objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A browser API call failed (the message is the browser's own).
    #[error("{api} failed: {message}")]
    Browser {
        /// The Web API that was called, e.g. `navigator.gpu.requestAdapter()`.
        api: &'static str,
        /// What the browser said.
        message: String,
    },
    /// The adapter refused to create a device with the limits and features it advertised.
    #[error("requesting a WebGPU device failed: {message}")]
    RequestDevice {
        /// The wgpu / browser error text.
        message: String,
    },
    /// burn would not take the device we created.
    #[error("registering the GPU device with burn failed: {message}")]
    Backend {
        /// burn's error text.
        message: String,
    },
    /// A computation or a read-back failed on the device.
    #[error("GPU computation failed: {message}")]
    Execution {
        /// burn's error text.
        message: String,
    },
    /// The caller passed options the runtime cannot use.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption {
        /// The option's name as the caller spelled it (JS spelling).
        option: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

impl Error {
    /// The stable code the JS layer attaches to the `Error` it throws.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Browser { .. } => "BROWSER",
            Error::RequestDevice { .. } | Error::Backend { .. } => "UNSUPPORTED",
            Error::Execution { .. } => "EXECUTION",
            Error::InvalidOption { .. } => "INVALID_OPTION",
        }
    }
}
