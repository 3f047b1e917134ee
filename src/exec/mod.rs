//! Execution: run a model layer by layer, making each layer's weights resident on the device.
//!
//! The manager decides *where* each layer lives; this module makes it so and runs models over it:
//!
//! - [`HostLayer`] holds a layer's weights in wasm memory (the Host tier), in the dtype the
//!   device stores them in (f32, or f16 with `shader-f16`).
//! - [`LayerWeights`] is the same layer as burn tensors on the compute device; dropping it frees them.
//! - [`LayeredModel`] is what a model implements: one call per layer, weights passed in, so the model
//!   never knows whether a layer was resident or streamed in for this call.
//! - [`Executor`] holds every model's layers and executes the manager's plans
//!   ([`Executor::apply`]), runs models with the off-device layers streamed in
//!   ([`Executor::forward`]), checks the books against burn's allocator ([`Executor::books`]),
//!   and recovers from out-of-memory ([`Executor::recover_from_oom`],
//!   [`Executor::load_and_run`]) and from a lost device ([`Executor::replace_device`]).
//! - [`LayerSource`] is how layers come back from the cache or the network; the runtime
//!   implements it over the fetch layer.
//! - [`SynthMlp`] is a synthetic model with a CPU reference, for testing all of the above apart
//!   from any real architecture.
//!
//! ```no_run
//! # async fn demo(gpu: webvram::device::GpuContext, layers: std::collections::BTreeMap<String, webvram::exec::HostLayer>) -> Result<(), webvram::exec::ExecError> {
//! use webvram::exec::{Executor, SynthMlp};
//! use webvram::manager::{InferenceEstimate, LoadRequest, Manager};
//! use webvram::policy::{Decision, Options, VramState};
//!
//! let model = SynthMlp { layers: 8, width: 512, seed: 1 };
//! // A budget of half the weights: four layers resident, four streamed per call.
//! let decision = Decision::fixed(VramState::LowVram, model.bytes() / 2, 0);
//! let mut manager = Manager::new(decision, &Options::default());
//! let id = manager.register(model.model_spec("mlp", InferenceEstimate::Fixed(0)))?;
//! let mut exec = Executor::new(gpu);
//! exec.insert_model(&manager, id, layers)?; // e.g. from a HostSink
//! let input = |device: &_| Ok(model.input(4, device));
//! let run = exec.load_and_run(&mut manager, id, &model, &LoadRequest::new([id]), input, 0).await?;
//! let values = exec.read(run.output).await?;
//! assert_eq!(run.stats.streamed_layers, 4);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod apply;
mod arrivals;
mod books;
mod compute;
mod error;
mod executor;
mod forward;
mod host;
mod host_sink;
mod layer;
mod model;
mod read_ahead;
mod recovery;
mod restore;
mod slot;
mod source;
mod synth_model;
mod upload;
mod watch;

pub use apply::ApplyReport;
pub use arrivals::{ArrivalSender, Arrivals, arrivals};
pub use books::{BOOKS_SLACK_BYTES, BOOKS_SLACK_DIVISOR, BooksCheck};
pub use compute::Compute;
pub use error::ExecError;
pub use executor::Executor;
pub use forward::{ForwardStats, NonResident};
pub use host::{HostLayer, HostTensor, HostValues, HostValuesBuilder};
pub use host_sink::{HostSink, LayerOf, expected_tensors};
pub use layer::LayerWeights;
pub use model::LayeredModel;
pub use recovery::Run;
pub use restore::RestoreReport;
pub use source::{LayerSource, LocalFuture};
pub use synth_model::SynthMlp;
