//! The native probe: wgpu on Vulkan (lavapipe in tests) described in WebGPU's own terms.

use super::AdapterProfile;
#[cfg(feature = "gpu")]
use super::{FoundAdapter, describe::describe};

/// Find the adapter wgpu would use natively and describe it as a browser would.
#[cfg(feature = "gpu")]
pub(crate) async fn probe(power: wgpu::PowerPreference) -> (AdapterProfile, Option<FoundAdapter>) {
    // Primary APIs only: a GL adapter would describe the same GPU worse.
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let request = wgpu::RequestAdapterOptions {
        power_preference: power,
        ..Default::default()
    };
    match instance.request_adapter(&request).await {
        Ok(adapter) => (profile_of(&adapter), Some((instance, adapter))),
        Err(err) => (without_adapter(format!("no wgpu adapter: {err}")), None),
    }
}

/// A profile with no adapter, saying why, with the host's RAM, cores and OS.
pub(crate) fn without_adapter(reason: impl Into<String>) -> AdapterProfile {
    with_host(AdapterProfile::unavailable(reason))
}

#[cfg(feature = "gpu")]
fn profile_of(adapter: &wgpu::Adapter) -> AdapterProfile {
    with_host(describe(adapter))
}

fn with_host(profile: AdapterProfile) -> AdapterProfile {
    AdapterProfile {
        device_memory_gib: total_ram_bytes().map(|b| b as f64 / GIB),
        hardware_concurrency: std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u32),
        user_agent: Some(native_user_agent()),
        ..profile
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// A user-agent-like line naming the OS the way browsers do, so stats parse it the same way.
fn native_user_agent() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        other => other,
    };
    format!(
        "webvram/{} ({os}; {})",
        crate::VERSION,
        std::env::consts::ARCH
    )
}

/// Total RAM from `/proc/meminfo` (Linux); `None` elsewhere.
pub(crate) fn total_ram_bytes() -> Option<u64> {
    meminfo_field("MemTotal:")
}

/// Available RAM from `/proc/meminfo` (Linux); `None` elsewhere.
pub(crate) fn free_ram_bytes() -> Option<u64> {
    meminfo_field("MemAvailable:")
}

fn meminfo_field(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}
