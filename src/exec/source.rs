//! Where the executor gets a layer's bytes back from when wasm memory no longer holds them.

use std::future::Future;
use std::pin::Pin;

use crate::exec::error::ExecError;
use crate::exec::host::HostLayer;
use crate::manager::ModelId;

/// A boxed future, not `Send`: browser futures (`JsFuture`) are not.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Re-reads one layer from the persistent cache or the network (the Cache and Remote tiers).
///
/// The executor never fetches on its own (fetch knows bytes and URLs, not layers); the runtime
/// implements this over the fetch layer (`runtime::LayerFiles`: a `Range` read per tensor, from
/// Cache Storage first in a browser). With a source set, the executor drops wasm copies exactly when the books say
/// a layer left wasm memory (unified memory keeps no second copy, as DESIGN §2 asks) and brings
/// them back through the source when a plan, a streamed forward call or a device-loss restore
/// needs them. Without one it keeps every layer it was given in wasm memory, so nothing is ever
/// unrecoverable; [`BooksCheck::host_retained_bytes`](crate::exec::BooksCheck::host_retained_bytes)
/// shows what that costs.
pub trait LayerSource {
    /// The layer called `layer` of `model`, converted to f32 like
    /// [`HostSink`](crate::exec::HostSink) does.
    ///
    /// # Errors
    /// [`ExecError::Source`] naming the layer when the bytes cannot be had.
    fn fetch_layer<'a>(
        &'a self,
        model: ModelId,
        layer: &'a str,
    ) -> LocalFuture<'a, Result<HostLayer, ExecError>>;
}
