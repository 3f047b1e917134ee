//! The contract between the executor and a model.

use burn::tensor::Device;

use crate::exec::error::ExecError;
use crate::exec::layer::LayerWeights;
use crate::exec::source::LocalFuture;

/// A model the executor can run layer by layer.
///
/// The executor owns placement: before calling [`run_layer`](Self::run_layer) for layer `i` it makes
/// layer `i`'s weights resident (already on the device, or uploaded for this call and dropped after),
/// so a model runs identically in every VRAM state. Layers run in index order, each consuming the
/// previous layer's activation.
pub trait LayeredModel {
    /// What flows between layers (hidden states, plus whatever the model carries along, e.g. a mask).
    type Activation;

    /// The layers' names, in execution order; the manager registers one entry per name.
    fn layer_names(&self) -> Vec<String>;

    /// Runs layer `index` with its `weights` on `input`.
    ///
    /// # Errors
    /// [`ExecError`] when the weights are missing or misshapen, or the input is invalid.
    fn run_layer(
        &self,
        index: usize,
        weights: &LayerWeights,
        input: Self::Activation,
    ) -> Result<Self::Activation, ExecError>;

    /// Whether [`move_to`](Self::move_to) can move this model's activations between devices,
    /// so that layers held in wasm memory may run on the CPU while the rest run on the GPU
    /// ([`NonResident::OnCpu`], llama.cpp's `-ngl` split). Without it every layer runs on the
    /// executor's device.
    ///
    /// [`NonResident::OnCpu`]: crate::exec::NonResident::OnCpu
    fn can_move(&self) -> bool {
        false
    }

    /// Moves what layer `index` reads onto `device` (the activation, and whatever the model
    /// keeps for that layer, such as its KV cache), leaving what is already there. Called before
    /// every layer of a model that [`can_move`](Self::can_move); reading a GPU tensor back is
    /// asynchronous in a browser, hence the future. The default leaves everything in place.
    ///
    /// # Errors
    /// [`ExecError::Backend`] (or [`ExecError::DeviceLost`]) when a read back fails.
    fn move_to<'a>(
        &'a self,
        index: usize,
        input: Self::Activation,
        device: &'a Device,
    ) -> LocalFuture<'a, Result<Self::Activation, ExecError>>
    where
        Self::Activation: 'a,
    {
        let _ = (index, device);
        Box::pin(async { Ok(input) })
    }
}
