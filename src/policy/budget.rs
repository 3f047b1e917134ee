//! Estimating a GPU budget from signals that never state one, plus the reserve and the floors.
//!
//! WebGPU reports no VRAM size. Every number here is a documented guess drawn from
//! `navigator.deviceMemory` and `adapter.limits`, capped at what one page can hold, and corrected
//! later by the out-of-memory step-down (`policy::adapt`).

use super::class::{Classified, DeviceClass};
use super::reasons::{Reason, bytes_value};
use super::units::{GIB, MIB, format_bytes, scale};
use crate::device::AdapterProfile;

/// Most GPU memory one page is ever estimated to get: Chrome caps `deviceMemory` at 8 GiB, so half
/// of the largest RAM it admits is 4 GiB, and a larger estimate could not be checked against
/// anything. An explicit `vramBudget` may go above it.
pub const PAGE_BUDGET_CAP: u64 = 4 * GIB;

/// Cap for low-resource devices (≤ 128 MiB per binding): phones kill a tab's GPU process long
/// before it uses half their RAM.
pub const LOW_RESOURCE_BUDGET_CAP: u64 = GIB;

/// Percent of RAM a unified-memory GPU may use. ComfyUI on Apple takes all of it because it is the
/// only big process; a tab shares RAM with the OS, the browser and other tabs, so it takes half.
pub const SHARED_RAM_PERCENT: u64 = 50;

/// RAM assumed when `navigator.deviceMemory` is absent (Safari, Firefox): the common 4 GiB of
/// phones and low-end laptops, so the guess errs low.
pub const ASSUMED_RAM: u64 = 4 * GIB;

/// Chrome rounds `deviceMemory` and reports at most this many GiB; more RAM reads as 8.
pub const DEVICE_MEMORY_REPORT_CAP_GIB: f64 = 8.0;

/// A discrete GPU is estimated to hold this many of its largest buffers. Browsers set
/// `maxBufferSize` to a fraction of the card's memory (Chrome: 2–4 GiB on 4–24 GiB cards), so
/// twice it is a conservative floor of what the card has, before the page cap.
pub const DISCRETE_BUFFER_MULTIPLIER: u64 = 2;

/// `maxBufferSize` assumed when the adapter does not report it: the WebGPU spec's default.
pub const DEFAULT_MAX_BUFFER_SIZE: u64 = 256 * MIB;

/// In `auto`, a discrete budget at or below this picks `LOW_VRAM`, above it `NORMAL_VRAM`.
/// ComfyUI switches to low-VRAM at 4 GiB of real VRAM; a page's budget is a share of the card, so
/// the browser threshold is half that.
pub const LOW_VRAM_THRESHOLD: u64 = 2 * GIB;

/// ComfyUI's default reserve (`EXTRA_RESERVED_VRAM`), kept for discrete GPUs: the desktop
/// compositor and other tabs use the same card.
pub const RESERVE_DISCRETE: u64 = 400 * MIB;

/// ComfyUI's reserve on Windows, where the desktop compositor holds more VRAM.
pub const RESERVE_DISCRETE_WINDOWS: u64 = 600 * MIB;

/// Reserve on unified memory: the budget is already half the RAM, this keeps room for the
/// browser's own GPU allocations (compositor, canvas) inside it.
pub const RESERVE_SHARED: u64 = 256 * MIB;

/// Reserve on low-resource devices, whose whole budget is at most 1 GiB.
pub const RESERVE_LOW_RESOURCE: u64 = 128 * MIB;

/// ComfyUI's minimum inference memory before the reserve is added: 0.8 GiB.
pub const COMFY_MIN_INFERENCE: u64 = 858_993_459;

/// The browser's minimum inference memory is at most this fraction (1/8) of the budget. ComfyUI's
/// 0.8 GiB is sized for diffusion models on 8–24 GiB cards; on a 1 GiB page budget it would
/// leave nothing for weights. Models state their own inference memory per workload, so the
/// floor only guards estimates that are too low.
pub const MIN_INFERENCE_BUDGET_DIVISOR: u64 = 8;

/// ComfyUI's `MIN_WEIGHT_MEMORY_RATIO` (0.4) in thousandths.
pub const MIN_WEIGHT_RATIO_PERMILLE: u64 = 400;

/// ComfyUI's ratio on NVIDIA (0.0), where it relies on the driver not spilling into system RAM.
pub const MIN_WEIGHT_RATIO_PERMILLE_NVIDIA: u64 = 0;

/// Most wasm memory weights may use: wasm32 memory tops out at 4 GiB and one `ArrayBuffer` near
/// 2 GiB; the other half is for activations, staging buffers, the tokenizer and fragmentation.
pub const WASM_WEIGHT_CAP: u64 = 2 * GIB;

/// Percent of RAM weights in wasm memory may use, before [`WASM_WEIGHT_CAP`].
pub const HOST_RAM_PERCENT: u64 = 25;

/// The RAM the page believes it has, and why.
pub(crate) fn ram(profile: &AdapterProfile) -> (u64, Reason) {
    const SIGNAL: &str = "navigator.deviceMemory";
    match profile
        .device_memory_gib
        .filter(|gib| gib.is_finite() && *gib > 0.0)
    {
        Some(gib) => {
            let bytes = (gib * GIB as f64) as u64;
            let effect = if gib >= DEVICE_MEMORY_REPORT_CAP_GIB {
                "RAM (the browser caps this signal at 8 GiB; there may be more)".to_owned()
            } else {
                "RAM".to_owned()
            };
            (bytes, Reason::new(SIGNAL, format!("{gib} GiB"), effect))
        }
        None => (
            ASSUMED_RAM,
            Reason::new(
                SIGNAL,
                "absent",
                format!("RAM assumed {}", format_bytes(ASSUMED_RAM)),
            ),
        ),
    }
}

/// The estimated GPU budget for the adapter's class, before options and learning.
pub(crate) fn estimate(
    profile: &AdapterProfile,
    classified: &Classified,
    ram_bytes: u64,
) -> (u64, Vec<Reason>) {
    let mut reasons = Vec::new();
    let raw = match classified.class {
        DeviceClass::None => {
            reasons.push(Reason::new("adapter", "none", "GPU budget 0"));
            return (0, reasons);
        }
        DeviceClass::Discrete => {
            let max_buffer = profile
                .limit("maxBufferSize")
                .unwrap_or(DEFAULT_MAX_BUFFER_SIZE);
            let bytes = max_buffer.saturating_mul(DISCRETE_BUFFER_MULTIPLIER);
            let effect = format!(
                "estimate = {DISCRETE_BUFFER_MULTIPLIER} × maxBufferSize = {}",
                format_bytes(bytes)
            );
            reasons.push(Reason::new(
                "limits.maxBufferSize",
                bytes_value(max_buffer),
                effect,
            ));
            bytes
        }
        DeviceClass::Software | DeviceClass::Integrated | DeviceClass::Unknown => {
            let bytes = scale(ram_bytes, SHARED_RAM_PERCENT, 100);
            let effect = format!(
                "unified memory: estimate = {SHARED_RAM_PERCENT}% of RAM = {}",
                format_bytes(bytes)
            );
            reasons.push(Reason::new("ram", bytes_value(ram_bytes), effect));
            bytes
        }
    };
    let (cap, cap_name) = if classified.low_resource {
        (LOW_RESOURCE_BUDGET_CAP, "low-resource cap")
    } else {
        (PAGE_BUDGET_CAP, "page cap")
    };
    if raw > cap {
        reasons.push(Reason::new(cap_name, bytes_value(cap), "estimate capped"));
    }
    (raw.min(cap), reasons)
}

/// The default reserve for the device class, and why.
pub(crate) fn default_reserve(profile: &AdapterProfile, classified: &Classified) -> (u64, Reason) {
    let windows = profile
        .user_agent
        .as_deref()
        .is_some_and(|ua| ua.contains("Windows"));
    let (bytes, why) = match classified.class {
        DeviceClass::None => (0, "no GPU: nothing to reserve"),
        _ if classified.low_resource => (RESERVE_LOW_RESOURCE, "low-resource default"),
        DeviceClass::Discrete if windows => (RESERVE_DISCRETE_WINDOWS, "ComfyUI's Windows default"),
        DeviceClass::Discrete => (RESERVE_DISCRETE, "ComfyUI's default"),
        _ => (RESERVE_SHARED, "unified-memory default"),
    };
    (
        bytes,
        Reason::new("reserve (default)", bytes_value(bytes), why),
    )
}

/// The wasm-memory budget for weights: a quarter of RAM, at most [`WASM_WEIGHT_CAP`].
pub(crate) fn default_host_budget(ram_bytes: u64) -> u64 {
    scale(ram_bytes, HOST_RAM_PERCENT, 100).min(WASM_WEIGHT_CAP)
}

/// The minimum inference memory before the reserve: ComfyUI's 0.8 GiB, at most 1/8 of the budget.
pub(crate) fn min_inference(budget: u64) -> u64 {
    COMFY_MIN_INFERENCE.min(budget / MIN_INFERENCE_BUDGET_DIVISOR)
}

/// ComfyUI's `MIN_WEIGHT_MEMORY_RATIO` for the adapter's vendor, in thousandths.
pub(crate) fn min_weight_ratio_permille(profile: &AdapterProfile) -> u64 {
    let vendor = profile.vendor.to_lowercase();
    if vendor == "nvidia" || vendor == "0x10de" {
        MIN_WEIGHT_RATIO_PERMILLE_NVIDIA
    } else {
        MIN_WEIGHT_RATIO_PERMILLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_inference_is_comfyui_on_big_budgets_and_an_eighth_on_small_ones() {
        assert_eq!(min_inference(16 * GIB), COMFY_MIN_INFERENCE);
        assert_eq!(min_inference(GIB), 128 * MIB);
        assert_eq!(min_inference(0), 0);
    }

    #[test]
    fn host_budget_is_a_quarter_of_ram_up_to_the_wasm_cap() {
        assert_eq!(default_host_budget(4 * GIB), GIB);
        assert_eq!(default_host_budget(16 * GIB), WASM_WEIGHT_CAP);
    }

    #[test]
    fn absent_or_bogus_device_memory_assumes_four_gib() {
        let mut profile = AdapterProfile::default();
        assert_eq!(ram(&profile).0, ASSUMED_RAM);
        profile.device_memory_gib = Some(f64::NAN);
        assert_eq!(ram(&profile).0, ASSUMED_RAM);
        profile.device_memory_gib = Some(0.5);
        assert_eq!(ram(&profile).0, 512 * MIB);
    }
}
