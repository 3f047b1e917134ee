//! The CPU-only build (`--no-default-features`, the package's `webvram/cpu`): burn's GPU backend
//! is not linked, so there is never a device. [`GpuContext`] has no values; the code that would
//! drive one still type-checks and is unreachable.

use burn::tensor::Device;

/// Why a runtime of this build has no GPU: the policy's `adapter` reason.
pub(crate) const CPU_ONLY: &str =
    "this is a CPU-only build of webvram (webvram/cpu[-relaxed]): import \"webvram\" for WebGPU";

/// No device can exist in this build: an empty enum, so every method is `match *self {}`.
#[derive(Clone, Debug)]
pub enum GpuContext {}

impl GpuContext {
    /// burn's handle on the shared device.
    pub fn burn_device(&self) -> &Device {
        match *self {}
    }

    /// The raw wgpu device.
    pub fn wgpu_device(&self) -> &wgpu::Device {
        match *self {}
    }

    /// The queue burn submits to.
    pub fn queue(&self) -> &wgpu::Queue {
        match *self {}
    }

    /// Whether the device can store and read f16.
    pub fn has_shader_f16(&self) -> bool {
        match *self {}
    }

    /// Limits the device was created with.
    pub fn limits(&self) -> wgpu::Limits {
        match *self {}
    }
}
