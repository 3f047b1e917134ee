//! webvram: run ML models in any web page on whatever GPU the visitor has.
//!
//! The crate builds for `wasm32-unknown-unknown` (the npm package) and natively (wgpu on Vulkan),
//! so the same GPU code paths are tested both in a browser and on lavapipe. Data flows top to
//! bottom: [`runtime`] owns the [`device`] and reports [`stats`] in ComfyUI's shape.
#![warn(missing_docs)]

pub mod bench;
pub mod device;
pub mod error;
pub mod exec;
pub mod fetch;
pub mod heap;
pub mod manager;
pub mod models;
pub mod policy;
pub mod runtime;
pub mod stats;
pub mod weights;

#[cfg(target_arch = "wasm32")]
mod js;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

pub use device::AdapterProfile;
pub use error::Error;
pub use runtime::{Runtime, RuntimeOptions};
pub use stats::SystemStats;

/// The crate version, reported as `webvram_version` in [`SystemStats`].
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which build this is, reported as `webvram_build` in [`SystemStats`]: `"gpu"` (WebGPU and the
/// CPU, the package's `webvram`), `"cpu"` (the CPU-only `webvram/cpu`, no GPU backend linked) or
/// `"cpu-relaxed"` (`webvram/cpu-relaxed`: the same with the `relaxed-simd` kernels).
pub const BUILD: &str = if cfg!(feature = "gpu") {
    "gpu"
} else if cfg!(all(target_arch = "wasm32", feature = "relaxed-simd")) {
    "cpu-relaxed"
} else {
    "cpu"
};
