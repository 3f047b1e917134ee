//! What the adapter offers, read once and passed down immutably.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything webvram learned about the GPU adapter and the host, read once at start-up.
///
/// Field names follow WebGPU (`maxBufferSize`, `shader-f16`) so the same profile reads the same
/// in the browser and natively. Policy decisions are pure functions of this value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterProfile {
    /// Whether a WebGPU (or native wgpu) adapter was found at all.
    pub available: bool,
    /// Why no adapter is in use, when `available` is false.
    pub unavailable_reason: Option<String>,
    /// `GPUAdapterInfo.vendor`, lower case (`"nvidia"`, `"google"`, …); empty when unknown.
    pub vendor: String,
    /// `GPUAdapterInfo.architecture` (`"swiftshader"`, `"ampere"`, …); empty when unknown.
    pub architecture: String,
    /// `GPUAdapterInfo.description`, a free-form name; may be empty.
    pub description: String,
    /// `GPUAdapterInfo.isFallbackAdapter`: a software or otherwise slow adapter.
    pub is_fallback_adapter: bool,
    /// Graphics API behind the adapter (`"webgpu"`, `"vulkan"`, …).
    pub backend: String,
    /// WebGPU feature names the adapter offers, sorted (`"shader-f16"`, `"timestamp-query"`, …).
    pub features: Vec<String>,
    /// Every WebGPU limit the adapter reports, by its spec name (`maxBufferSize`, …).
    pub limits: BTreeMap<String, u64>,
    /// `navigator.deviceMemory` in GiB (coarse and capped by the browser), natively the RAM size.
    pub device_memory_gib: Option<f64>,
    /// `navigator.hardwareConcurrency`, natively the number of logical cores.
    pub hardware_concurrency: Option<u32>,
    /// `navigator.userAgent`, natively a description of the OS.
    pub user_agent: Option<String>,
}

impl AdapterProfile {
    /// A profile for a host with no usable adapter, saying why.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self {
            available: false,
            unavailable_reason: Some(reason.into()),
            ..Self::default()
        }
    }

    /// The named limit, if the adapter reported it.
    pub fn limit(&self, name: &str) -> Option<u64> {
        self.limits.get(name).copied()
    }

    /// A human name: the description, or vendor and architecture when the browser gives none
    /// (Chrome leaves `description` empty unless unmasked).
    pub fn display_name(&self) -> String {
        if !self.description.is_empty() {
            return self.description.clone();
        }
        let parts = [self.vendor.as_str(), self.architecture.as_str()];
        let name = parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            "unknown adapter".into()
        } else {
            name
        }
    }

    /// Whether the adapter offers the named WebGPU feature.
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.iter().any(|f| f == name)
    }
}
