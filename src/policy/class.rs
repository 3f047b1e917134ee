//! Which kind of GPU the adapter is, from the few names WebGPU reveals.

use serde::{Deserialize, Serialize};

use super::reasons::{Reason, bytes_value};
use super::units::MIB;
use crate::device::AdapterProfile;

/// A storage binding of at most this many bytes marks a low-resource device (phones, iOS): the
/// WebGPU spec's minimum is 128 MiB and only constrained hardware stays at it.
pub const LOW_RESOURCE_BINDING_BYTES: u64 = 128 * MIB;

/// Names that mark a software rasterizer in `vendor`, `architecture` or `description`.
const SOFTWARE_MARKERS: &[&str] = &[
    "swiftshader",
    "llvmpipe",
    "lavapipe",
    "softpipe",
    "basic render",
    "software rasterizer",
];

/// Vendors whose GPUs share system RAM: Apple silicon and the mobile GPU makers.
const INTEGRATED_VENDORS: &[&str] = &[
    "apple",
    "qualcomm",
    "arm",
    "imagination",
    "img-tec",
    "samsung",
    "broadcom",
    "mediatek",
    "huawei",
];

/// Descriptions of integrated parts from vendors that also make discrete cards (AMD APUs,
/// NVIDIA Tegra).
const INTEGRATED_DESCRIPTIONS: &[&str] = &[
    "radeon(tm) graphics",
    "radeon graphics",
    "integrated",
    "tegra",
    "orin",
    "xavier",
    "880m",
    "890m",
    "780m",
    "760m",
    "740m",
    "680m",
    "660m",
    "610m",
];

/// Intel architectures and descriptions that are discrete cards (Arc Alchemist/Battlemage are
/// Xe-HPG, data-centre parts Xe-HPC); every other Intel GPU is integrated.
const INTEL_DISCRETE_MARKERS: &[&str] = &["hpg", "hpc", "arc(tm) a", "arc a", "arc(tm) b", "arc b"];

/// PCI vendor ids some browsers report instead of names, mapped to the names Chrome uses.
const PCI_VENDOR_IDS: &[(&str, &str)] = &[
    ("0x10de", "nvidia"),
    ("0x1002", "amd"),
    ("0x8086", "intel"),
    ("0x106b", "apple"),
    ("0x5143", "qualcomm"),
    ("0x13b5", "arm"),
];

/// The kind of GPU, which decides where the budget comes from and whether memory is unified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceClass {
    /// No adapter at all.
    None,
    /// A software adapter (SwiftShader, llvmpipe): a slow GPU living in system RAM.
    Software,
    /// A GPU that shares system RAM (Intel/AMD integrated, Apple, phones).
    Integrated,
    /// A card with its own memory (NVIDIA, AMD Radeon RX, Intel Arc).
    Discrete,
    /// A vendor we cannot place; treated like integrated, the safe side.
    Unknown,
}

impl DeviceClass {
    /// Whether the GPU's memory is system RAM, so a wasm-memory copy of a GPU layer would hold
    /// the same bytes twice. Unknown adapters count as unified: the cautious assumption.
    pub fn unified_memory(self) -> bool {
        matches!(self, Self::Software | Self::Integrated | Self::Unknown)
    }
}

/// The class of an adapter, whether it is low-resource, and the reasons for both.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Classified {
    pub class: DeviceClass,
    pub low_resource: bool,
    pub reasons: Vec<Reason>,
}

/// Classifies the adapter from its info strings and binding limit.
pub(crate) fn classify(profile: &AdapterProfile) -> Classified {
    let mut reasons = Vec::new();
    if !profile.available {
        let why = profile
            .unavailable_reason
            .clone()
            .unwrap_or_else(|| "no adapter".into());
        reasons.push(Reason::new("adapter", why, "no GPU: compute on the CPU"));
        return Classified {
            class: DeviceClass::None,
            low_resource: false,
            reasons,
        };
    }
    let (class, reason) = class_of(profile);
    reasons.push(reason);
    let binding = profile.limit("maxStorageBufferBindingSize");
    let low_resource = binding.is_some_and(|b| b <= LOW_RESOURCE_BINDING_BYTES);
    if let (true, Some(binding)) = (low_resource, binding) {
        reasons.push(Reason::new(
            "limits.maxStorageBufferBindingSize",
            bytes_value(binding),
            "≤ 128 MiB per binding: low-resource device",
        ));
    }
    Classified {
        class,
        low_resource,
        reasons,
    }
}

/// The class and the one reason that decided it.
fn class_of(profile: &AdapterProfile) -> (DeviceClass, Reason) {
    let vendor = vendor_name(&profile.vendor);
    let names = format!(
        "{} {} {}",
        vendor, profile.architecture, profile.description
    )
    .to_lowercase();
    if profile.is_fallback_adapter {
        return (
            DeviceClass::Software,
            Reason::new("adapter.isFallbackAdapter", "true", "software adapter"),
        );
    }
    if let Some(marker) = find_marker(&names, SOFTWARE_MARKERS) {
        return (
            DeviceClass::Software,
            Reason::new("adapter.info", marker, "software adapter"),
        );
    }
    let desc = format!("{} {}", profile.architecture, profile.description).to_lowercase();
    let (class, effect) = match vendor.as_str() {
        "nvidia" | "amd" | "ati" => match find_marker(&desc, INTEGRATED_DESCRIPTIONS) {
            Some(_) => (
                DeviceClass::Integrated,
                "integrated part of a discrete-GPU vendor",
            ),
            None => (DeviceClass::Discrete, "discrete GPU"),
        },
        "intel" => match find_marker(&desc, INTEL_DISCRETE_MARKERS) {
            Some(_) => (DeviceClass::Discrete, "Intel Arc: discrete GPU"),
            None => (DeviceClass::Integrated, "Intel integrated GPU"),
        },
        v if INTEGRATED_VENDORS.contains(&v) => {
            (DeviceClass::Integrated, "integrated GPU (shares RAM)")
        }
        _ => (
            DeviceClass::Unknown,
            "unknown vendor: treated as integrated",
        ),
    };
    let value = if profile.vendor.is_empty() {
        "(empty)".to_owned()
    } else {
        profile.vendor.clone()
    };
    (class, Reason::new("adapter.vendor", value, effect))
}

/// The vendor in lower case, with PCI ids mapped to names.
fn vendor_name(vendor: &str) -> String {
    let lower = vendor.trim().to_lowercase();
    PCI_VENDOR_IDS
        .iter()
        .find(|(id, _)| *id == lower)
        .map_or(lower, |(_, name)| (*name).to_owned())
}

/// The first marker contained in `text`.
fn find_marker<'m>(text: &str, markers: &[&'m str]) -> Option<&'m str> {
    markers.iter().copied().find(|marker| text.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(vendor: &str, architecture: &str, description: &str) -> AdapterProfile {
        AdapterProfile {
            available: true,
            vendor: vendor.into(),
            architecture: architecture.into(),
            description: description.into(),
            ..AdapterProfile::default()
        }
    }

    #[test]
    fn tells_discrete_from_integrated_within_a_vendor() {
        let cases = [
            (profile("nvidia", "ampere", ""), DeviceClass::Discrete),
            (
                profile("nvidia", "", "NVIDIA Tegra Orin"),
                DeviceClass::Integrated,
            ),
            (
                profile("amd", "rdna-3", "AMD Radeon RX 7900 XTX"),
                DeviceClass::Discrete,
            ),
            (
                profile("amd", "rdna-3", "AMD Radeon(TM) Graphics"),
                DeviceClass::Integrated,
            ),
            (profile("intel", "gen-12lp", ""), DeviceClass::Integrated),
            (profile("intel", "xe-hpg", ""), DeviceClass::Discrete),
            (
                profile("intel", "xe-lpg", "Intel(R) Arc(TM) Graphics"),
                DeviceClass::Integrated,
            ),
            (profile("0x10de", "", ""), DeviceClass::Discrete),
            (profile("", "", ""), DeviceClass::Unknown),
            (
                profile("mesa", "", "llvmpipe (LLVM 15.0.7, 256 bits)"),
                DeviceClass::Software,
            ),
        ];
        for (p, class) in cases {
            assert_eq!(classify(&p).class, class, "{p:?}");
        }
    }
}
