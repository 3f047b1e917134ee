//! One layer as the executor holds it: its wasm copy and its device copy.

use crate::exec::compute::Compute;
use crate::exec::error::ExecError;
use crate::exec::host::HostLayer;
use crate::exec::layer::LayerWeights;
use crate::exec::source::LayerSource;
use crate::exec::upload::upload;
use crate::manager::ModelId;

/// A layer's two possible copies. Which of them exist follows the manager's books: `gpu` is
/// `Some` exactly when the books say [`Tier::Gpu`]; `host` is `Some` when the books count the
/// layer in wasm memory — or, without a [`LayerSource`], whenever the executor was given the
/// bytes, because dropping them would make the layer unrecoverable.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The layer's name, as the manager and the model know it.
    pub name: String,
    /// The layer's bytes as the manager books them.
    pub bytes: u64,
    /// The wasm-memory copy.
    pub host: Option<HostLayer>,
    /// The device copy.
    pub gpu: Option<LayerWeights>,
}

impl Slot {
    /// Bytes of the device copy (0 when not resident).
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.as_ref().map_or(0, LayerWeights::bytes)
    }

    /// Bytes of the wasm copy (0 when absent).
    pub fn host_bytes(&self) -> u64 {
        self.host.as_ref().map_or(0, HostLayer::bytes)
    }
}

/// The layer's bytes in wasm memory: the copy the slot has, or one fetched through `source`.
/// The second value says whether it was fetched (the caller decides whether to keep it).
///
/// # Errors
/// [`ExecError::NotInMemory`] without a source, or the source's error.
pub(crate) async fn host_bytes_of<'s>(
    slot: &'s Slot,
    model: ModelId,
    source: Option<&dyn LayerSource>,
) -> Result<HostCopy<'s>, ExecError> {
    if let Some(host) = &slot.host {
        return Ok(HostCopy::Held(host));
    }
    match source {
        Some(source) => Ok(HostCopy::Fetched(
            source.fetch_layer(model, &slot.name).await?,
        )),
        None => Err(ExecError::NotInMemory {
            layer: slot.name.clone(),
        }),
    }
}

/// A layer's wasm bytes, borrowed from its slot or freshly fetched.
pub(crate) enum HostCopy<'s> {
    /// The slot's own copy.
    Held(&'s HostLayer),
    /// Fetched for this use.
    Fetched(HostLayer),
}

impl HostCopy<'_> {
    /// The layer.
    pub fn layer(&self) -> &HostLayer {
        match self {
            Self::Held(layer) => layer,
            Self::Fetched(layer) => layer,
        }
    }

    /// Uploads the layer (a fetched copy is dropped afterwards). Returns the weights and the
    /// bytes fetched.
    ///
    /// # Errors
    /// As [`upload`](crate::exec::upload::upload).
    pub async fn upload(
        self,
        compute: &Compute,
        simulated_capacity: Option<u64>,
    ) -> Result<(LayerWeights, u64), ExecError> {
        let fetched = self.fetched_bytes();
        Ok((
            upload(compute, self.layer(), simulated_capacity).await?,
            fetched,
        ))
    }

    /// Bytes fetched for this use (0 for the slot's own copy).
    pub fn fetched_bytes(&self) -> u64 {
        match self {
            Self::Held(_) => 0,
            Self::Fetched(layer) => layer.bytes(),
        }
    }

    /// The fetched layer, if it was fetched.
    pub fn into_fetched(self) -> Option<HostLayer> {
        match self {
            Self::Held(_) => None,
            Self::Fetched(layer) => Some(layer),
        }
    }
}
