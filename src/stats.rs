//! `systemStats()`: ComfyUI's `GET /system_stats` shape, so tools written for ComfyUI read ours.

use serde::{Deserialize, Serialize};

use crate::exec::BooksCheck;
use crate::manager::MemoryMap;
use crate::policy::Decision;

/// The whole report. Field names are ComfyUI's (snake_case) on purpose; sizes are bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemStats {
    /// The host.
    pub system: SystemInfo,
    /// One entry per compute device (webvram uses one).
    pub devices: Vec<DeviceStats>,
    /// The VRAM state in ComfyUI's spelling (`"SHARED"`, `"LOW_VRAM"`, …).
    pub vram_state: String,
    /// webvram's addition: the budget, reserve and the reasons behind the state (camelCase).
    pub policy: Decision,
    /// webvram's addition: the manager's GPU bytes next to burn's allocator pool, and whether they
    /// agree within the documented slack (camelCase).
    pub books: BooksCheck,
    /// webvram's addition: every layer of every loaded model with its bytes and tier (camelCase).
    pub memory_map: MemoryMap,
}

/// ComfyUI's `system` block, plus the user agent a browser adds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Operating system, from the user agent in a browser (`"Linux"`, `"Windows"`, …).
    pub os: String,
    /// RAM in bytes: `navigator.deviceMemory` in a browser (coarse, capped by the browser).
    pub ram_total: u64,
    /// RAM believed free: natively the kernel's figure; in a browser `ram_total` less the wasm
    /// memory this page holds, since browsers report nothing better.
    pub ram_free: u64,
    /// Bytes of the module's wasm memory (`WebAssembly.Memory` byte length; 0 natively): what
    /// the host tier's cap keeps bounded, next to `books.heldHostBytes`.
    pub wasm_memory_bytes: u64,
    /// This crate's version.
    pub webvram_version: String,
    /// `"gpu"`, `"cpu"` or `"cpu-relaxed"`: which of the package's modules this is ([`crate::BUILD`]).
    pub webvram_build: String,
    /// `navigator.userAgent`, or a native description.
    pub user_agent: String,
}

/// ComfyUI's per-device block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceStats {
    /// `"webgpu:0 <adapter description>"`, like ComfyUI's `"cuda:0 <name>"`.
    pub name: String,
    /// `"webgpu"`, `"vulkan"`, … or `"cpu"` when running without a GPU.
    #[serde(rename = "type")]
    pub kind: String,
    /// Device index; always 0 today.
    pub index: u32,
    /// The GPU memory budget webvram allows itself (WebGPU reports no VRAM size): the policy's
    /// `budgetBytes`.
    pub vram_total: u64,
    /// Budget not used by live tensors or by layers the manager has placed on the GPU.
    pub vram_free: u64,
    /// Bytes burn's allocator has reserved on the device (ComfyUI: torch reserved).
    pub torch_vram_total: u64,
    /// Reserved bytes not in use by a live tensor (ComfyUI: reserved − active).
    pub torch_vram_free: u64,
}

/// The operating system a user agent string names, in the words ComfyUI users would expect.
pub fn os_from_user_agent(user_agent: &str) -> &'static str {
    // Order matters: Android UAs also say "Linux", iOS UAs also say "like Mac OS X".
    const RULES: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    RULES
        .iter()
        .find(|(needle, _)| user_agent.contains(needle))
        .map_or("unknown", |(_, os)| os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_name_their_os() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0",
                "Linux",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/156.0 Mobile",
                "Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1",
                "iOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Chrome/156.0",
                "macOS",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/156.0",
                "Windows",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/156.0",
                "ChromeOS",
            ),
            ("curl/8.0", "unknown"),
        ];
        for (ua, os) in cases {
            assert_eq!(os_from_user_agent(ua), os, "{ua}");
        }
    }
}
