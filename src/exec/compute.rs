//! Where an executor computes: the shared GPU device, or burn's CPU backend.

use burn::tensor::Device;

use crate::device::GpuContext;

/// The compute device of an [`Executor`](crate::exec::Executor).
///
/// On the CPU (ComfyUI's DISABLED) there is no device memory to manage: "uploads" are copies into
/// CPU tensors, error scopes and device loss do not exist, and the same plans and forward calls run
/// unchanged — so every VRAM state shares one code path.
#[derive(Clone, Debug)]
pub enum Compute {
    /// The WebGPU (natively: Vulkan/Metal/DX12) device shared with burn.
    Gpu(GpuContext),
    /// burn's CPU backend.
    Cpu(Device),
}

impl Compute {
    /// burn's handle on the device: create tensors here.
    pub fn device(&self) -> &Device {
        match self {
            Compute::Gpu(gpu) => gpu.burn_device(),
            Compute::Cpu(device) => device,
        }
    }

    /// The GPU, when computing on one.
    pub fn gpu(&self) -> Option<&GpuContext> {
        match self {
            Compute::Gpu(gpu) => Some(gpu),
            Compute::Cpu(_) => None,
        }
    }

    /// Whether f16 tensors can live here: a GPU device with `shader-f16` (never the CPU backend).
    pub fn has_shader_f16(&self) -> bool {
        self.gpu().is_some_and(GpuContext::has_shader_f16)
    }
}

impl From<GpuContext> for Compute {
    fn from(gpu: GpuContext) -> Self {
        Compute::Gpu(gpu)
    }
}
