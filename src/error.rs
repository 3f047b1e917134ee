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
    /// Fetching a model's files failed (network, server, format of the weights, checksum, abort).
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// A model's configs or tokenizer are invalid or unsupported.
    #[error(transparent)]
    Model(#[from] crate::models::ModelError),
    /// Placing weights or running a model failed (out of memory, device lost, …).
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// The manager refused a request (a model that cannot fit, an unknown model).
    #[error(transparent)]
    Manager(#[from] crate::manager::ManagerError),
    /// A handle names a model this runtime no longer has.
    #[error(
        "model {0} is not loaded in this runtime (it was unloaded, or belongs to another runtime)"
    )]
    UnknownModel(u32),
    /// The call does not fit the model's kind (`generate` on a sentence encoder, `embed` on a
    /// causal LM).
    #[error("model {model} is a {kind} model: it has no `{call}`")]
    WrongKind {
        /// The model's handle.
        model: u32,
        /// What it is (`sentence-embedding`, `causal-lm`).
        kind: &'static str,
        /// The call that was made.
        call: &'static str,
    },
    /// A generation's context (prompt + new tokens) needs more inference memory (its KV cache)
    /// than the GPU budget leaves beside the largest layer, even with every weight streamed.
    #[error(
        "a context of {requested} tokens does not fit the GPU budget (its KV cache and activations \
         need {needed_bytes} bytes beside the largest layer); at most {fits} tokens fit: shorten \
         the prompt or maxNewTokens, or raise vramBudget"
    )]
    ContextDoesNotFit {
        /// Prompt tokens + `maxNewTokens`.
        requested: u64,
        /// Inference bytes that context needs.
        needed_bytes: u64,
        /// The longest context that fits.
        fits: u64,
    },
    /// The runtime was destroyed (`destroy()`); create a new one.
    #[error("the runtime was destroyed; create a new one")]
    Destroyed,
    /// An argument of a call cannot be used (a wrong type, a text over the cap, a text longer
    /// than the model takes when truncation is refused).
    #[error("invalid argument `{argument}`: {message}")]
    InvalidInput {
        /// The argument as the caller sees it (`texts[3]`, `url`, `models[0]`).
        argument: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The caller cancelled the call (its `AbortSignal` fired) before it finished.
    #[error("the call was aborted: its AbortSignal fired")]
    Aborted,
    /// Rust panicked earlier in this page: webvram's state can no longer be trusted, so every
    /// call is refused until the page is reloaded.
    #[error("webvram hit an internal error (a Rust panic) earlier in this page: reload the page")]
    Panicked,
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
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::Panicked => "PANIC",
            Error::Aborted => "ABORTED",
            Error::Fetch(e) => e.code(),
            Error::Model(e) => e.code(),
            Error::Exec(e) => e.code(),
            Error::Manager(crate::manager::ManagerError::DoesNotFit { .. })
            | Error::ContextDoesNotFit { .. } => "OOM",
            Error::WrongKind { .. } => "INVALID_STATE",
            Error::Manager(_) | Error::UnknownModel(_) | Error::Destroyed => "INVALID_STATE",
        }
    }
}
