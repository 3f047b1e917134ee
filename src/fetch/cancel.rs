//! Cancelling a load from outside it.

use std::cell::Cell;
use std::rc::Rc;

/// A shared flag that cancels a load: the loader checks it before every request, between chunks and after
/// every backoff wait, and stops with [`FetchError::Aborted`](crate::fetch::FetchError::Aborted).
///
/// Clones share the flag. The browser layer sets it from the `AbortSignal`'s `abort` event (and passes the
/// same signal to `fetch`, so a read in flight ends too). It is an `Rc<Cell<bool>>` because everything runs
/// on one thread: a wasm page, or a native test driving the future with `block_on`.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Rc<Cell<bool>>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Cancels every load holding a clone of this token. Cannot be undone.
    pub fn cancel(&self) {
        self.0.set(true);
    }

    /// Whether [`CancelToken::cancel`] was called on this token or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.0.get()
    }
}
