//! One wgpu device, opened with everything the adapter offers and shared with burn.

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuSetup;

use crate::Error;

/// The device webvram and burn share: our wgpu handles and burn's view of the same device.
///
/// We open the device ourselves (instead of letting burn do it) so that the requested limits are
/// the adapter's own — WebGPU's defaults would cap buffers at 256 MiB — and so that device-lost
/// and out-of-memory hooks live on handles we hold.
#[derive(Clone, Debug)]
pub struct GpuContext {
    setup: WgpuSetup,
    device: Device,
}

impl GpuContext {
    /// Request a device with the adapter's own limits and features and register it with burn.
    /// `max_binding_bytes` lowers `maxStorageBufferBindingSize` below the adapter's (a phone's
    /// 128 MiB on a desktop; a browser raises what is asked to WebGPU's default, 128 MiB).
    ///
    /// # Errors
    ///
    /// [`Error::RequestDevice`] when the adapter refuses, [`Error::Backend`] when burn does.
    pub async fn open(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        max_binding_bytes: Option<u64>,
    ) -> Result<Self, Error> {
        // burn's kernels need the registry the constructors fill.
        super::run_static_constructors();
        let (device, queue) = adapter
            .request_device(&device_descriptor(&adapter, max_binding_bytes))
            .await
            .map_err(|err| Error::RequestDevice {
                message: err.to_string(),
            })?;
        let backend = adapter.get_info().backend;
        let setup = WgpuSetup {
            instance,
            adapter,
            device,
            queue,
            backend,
        };
        let device = Device::wgpu_options()
            .setup(setup.clone())
            .init()
            .map_err(|err| Error::Backend {
                message: err.to_string(),
            })?;
        Ok(Self { setup, device })
    }

    /// burn's handle on the shared device.
    pub fn burn_device(&self) -> &Device {
        &self.device
    }

    /// The raw wgpu device, for work burn does not do (buffer uploads, error scopes).
    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.setup.device
    }

    /// The queue burn submits to; ours too, so ordering between the two is preserved.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.setup.queue
    }

    /// Whether the device can store and read f16 (WebGPU's `shader-f16`).
    pub fn has_shader_f16(&self) -> bool {
        self.setup
            .device
            .features()
            .contains(wgpu::Features::SHADER_F16)
    }

    /// Limits the device was actually created with.
    pub fn limits(&self) -> wgpu::Limits {
        self.setup.device.limits()
    }
}

/// Ask for everything the adapter has. Mirrors burn's own WGSL request (which drops
/// `MAPPABLE_PRIMARY_BUFFERS`, a native-only feature that slows other buffers down).
fn device_descriptor(
    adapter: &wgpu::Adapter,
    max_binding_bytes: Option<u64>,
) -> wgpu::DeviceDescriptor<'static> {
    let mut limits = adapter.limits();
    if let Some(cap) = max_binding_bytes {
        limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(cap);
    }
    wgpu::DeviceDescriptor {
        label: Some("webvram"),
        required_features: adapter
            .features()
            .difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
        required_limits: limits,
        memory_hints: wgpu::MemoryHints::MemoryUsage,
        trace: wgpu::Trace::Off,
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
    }
}
