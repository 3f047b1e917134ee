//! The GPU adapter: probe it once into an [`AdapterProfile`], then open one device that burn and
//! webvram share.

#[cfg(any(feature = "gpu", target_arch = "wasm32"))]
mod ctors;
#[cfg(feature = "gpu")]
mod describe;
#[cfg(feature = "gpu")]
mod gpu;
#[cfg(not(feature = "gpu"))]
#[path = "gpu_absent.rs"]
mod gpu;
#[cfg(not(target_arch = "wasm32"))]
mod native;
mod profile;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(any(feature = "gpu", target_arch = "wasm32"))]
pub(crate) use ctors::run_static_constructors;
pub use gpu::GpuContext;
pub use profile::AdapterProfile;

/// A found adapter, with the instance it came from (wgpu needs both alive).
#[cfg(feature = "gpu")]
pub(crate) type FoundAdapter = (wgpu::Instance, wgpu::Adapter);

/// Probe the adapter and open a device on it; `None` (with the reason in the profile) when the
/// host has no usable adapter, and always in the CPU-only build, which does not probe.
/// `max_binding_bytes` caps the device's storage bindings (see `GpuContext::open`).
///
/// # Errors
///
/// Only for browser faults worth surfacing. A missing adapter, or a device the adapter refuses,
/// is reported through the profile instead, so the runtime can still run on the CPU.
pub async fn open(
    power: wgpu::PowerPreference,
    max_binding_bytes: Option<u64>,
) -> Result<(AdapterProfile, Option<GpuContext>), crate::Error> {
    #[cfg(not(feature = "gpu"))]
    {
        let _ = (power, max_binding_bytes);
        Ok((without_adapter(gpu::CPU_ONLY), None))
    }
    #[cfg(feature = "gpu")]
    open_gpu(power, max_binding_bytes).await
}

#[cfg(feature = "gpu")]
async fn open_gpu(
    power: wgpu::PowerPreference,
    max_binding_bytes: Option<u64>,
) -> Result<(AdapterProfile, Option<GpuContext>), crate::Error> {
    #[cfg(target_arch = "wasm32")]
    let (mut profile, found) = web::probe(power).await?;
    #[cfg(not(target_arch = "wasm32"))]
    let (mut profile, found) = native::probe(power).await;
    let Some((instance, adapter)) = found else {
        return Ok((profile, None));
    };
    match GpuContext::open(instance, adapter, max_binding_bytes).await {
        Ok(gpu) => Ok((profile, Some(gpu))),
        Err(err) => {
            profile.available = false;
            profile.unavailable_reason = Some(err.to_string());
            Ok((profile, None))
        }
    }
}

/// A profile for a host without an adapter (the caller asked for the CPU, or this build has no
/// GPU), saying why, with the host's RAM and cores as the probe would have read them.
pub fn without_adapter(reason: impl Into<String>) -> AdapterProfile {
    #[cfg(target_arch = "wasm32")]
    {
        web::without_adapter(reason)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        native::without_adapter(reason)
    }
}

/// Bytes of this module's wasm memory (the `WebAssembly.Memory`'s byte length): what the page
/// holds, which only grows. 0 natively, where there is no wasm memory.
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        web::wasm_memory_bytes()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// Total and free host RAM in bytes, as well as this host lets us know.
pub fn host_ram(profile: &AdapterProfile) -> (u64, u64) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = profile;
        (
            native::total_ram_bytes().unwrap_or(0),
            native::free_ram_bytes().unwrap_or(0),
        )
    }
    #[cfg(target_arch = "wasm32")]
    {
        let total = profile
            .device_memory_gib
            .map_or(0, |gib| (gib * (1u64 << 30) as f64) as u64);
        (total, total.saturating_sub(web::wasm_memory_bytes()))
    }
}
