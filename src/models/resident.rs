//! Running a model with every layer already resident: the simplest executor, for tests and tools.

use crate::exec::{ExecError, LayerWeights, LayeredModel};

/// Runs every layer of `model` in order over `input`, with `weights[i]` as layer `i`'s weights.
///
/// This is what the real executor does when every layer fits on the device; it exists so a model
/// can be checked end to end without the manager. The runtime uses the executor instead, which
/// also streams layers that are not resident.
///
/// # Errors
/// [`ExecError::BadInput`] when `weights` does not hold one entry per layer, and whatever
/// [`LayeredModel::run_layer`] returns.
pub fn run_resident<M: LayeredModel>(
    model: &M,
    weights: &[LayerWeights],
    input: M::Activation,
) -> Result<M::Activation, ExecError> {
    let layers = model.layer_names().len();
    if weights.len() != layers {
        return Err(ExecError::BadInput(format!(
            "{} layer weights given for a model of {layers} layers",
            weights.len()
        )));
    }
    weights
        .iter()
        .enumerate()
        .try_fold(input, |activation, (index, w)| {
            model.run_layer(index, w, activation)
        })
}
