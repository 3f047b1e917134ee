//! Reading one layer further ahead: while layer i computes and layer i+1's read and upload are
//! in flight, the streamed layer after i+1 is read from the layer source too, so that the
//! browser's reader (Cache Storage, the network: its own threads) always has a read queued and
//! never waits for the wasm thread to finish a conversion or a compute. In a browser the bytes
//! wait in the read's `ArrayBuffer`, outside wasm memory, until the layer's prefetch copies them
//! into its tensors; natively they are read into memory at once.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::exec::error::ExecError;
use crate::exec::executor::Executor;
use crate::exec::host::HostLayer;
use crate::exec::slot::Slot;
use crate::exec::source::LocalFuture;
use crate::manager::ModelId;

/// A started read of one streamed layer's bytes.
pub(crate) struct ReadAhead<'a> {
    /// The layer's index in its model.
    layer: usize,
    bytes: u64,
    read: LocalFuture<'a, Result<HostLayer, ExecError>>,
}

impl<'a> ReadAhead<'a> {
    /// Takes the read out of `ahead` when it is of `layer` (a read of another layer stays).
    pub fn take_for(ahead: &mut Option<Self>, layer: usize) -> Option<Self> {
        ahead.take_if(|read| read.layer == layer)
    }

    /// The layer's bytes (as booked).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The layer, once its read ends.
    ///
    /// # Errors
    /// What the layer source reports.
    pub async fn finish(self) -> Result<HostLayer, ExecError> {
        self.read.await
    }
}

impl Executor {
    /// Starts reading layer `index` (`slot`) of model `id` ahead of its prefetch, when there is
    /// something to read (no wasm copy, a layer source set) and its bytes fit the read-ahead
    /// room ([`set_read_ahead_room`](Self::set_read_ahead_room)).
    pub(crate) async fn read_ahead<'a>(
        &'a self,
        id: ModelId,
        index: usize,
        slot: &'a Slot,
    ) -> Option<ReadAhead<'a>> {
        let source = self.source()?;
        if slot.host.is_some() || slot.bytes > self.read_ahead_room {
            return None;
        }
        let mut read = source.fetch_layer(id, &slot.name);
        if let Some(done) = poll_once(&mut read).await {
            read = Box::pin(std::future::ready(done));
        }
        Some(ReadAhead {
            layer: index,
            bytes: slot.bytes,
            read,
        })
    }

    /// Lets each forward pass read one streamed layer ahead (see [`ReadAhead`]) when that
    /// layer's bytes are at most `bytes`. [`load_and_run`](Self::load_and_run) passes the
    /// manager's host budget: in a browser the bytes wait outside wasm memory, so the budget's
    /// cap on wasm memory holds, and a page that keeps weights in memory below one layer's size
    /// reads none ahead. 0, the default, reads none ahead.
    pub fn set_read_ahead_room(&mut self, bytes: u64) {
        self.read_ahead_room = bytes;
    }
}

/// Polls `future` once: `None` while it waits, so that work it started (a read) goes on while
/// the caller does something else before awaiting it.
pub(crate) async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}
