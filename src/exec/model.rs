//! The contract between the executor and a model.

use crate::exec::error::ExecError;
use crate::exec::layer::LayerWeights;

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
}
