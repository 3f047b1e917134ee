//! Where a layer's weights live: the four tiers, fastest first.

use serde::{Deserialize, Serialize};

/// A storage tier, fastest first. Serialized in camelCase (`"gpu"`, `"host"`, …).
///
/// ComfyUI has two tiers (GPU and CPU RAM). A page has four: the GPU, wasm memory, the
/// persistent browser cache (Cache Storage / OPFS) and the network, because wasm32 memory stops at
/// 4 GiB and models larger than that must be streamed from storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// A GPU buffer: ready for compute.
    Gpu,
    /// Wasm memory (ComfyUI's CPU RAM): one upload away from the GPU.
    Host,
    /// Persistent browser storage: a read and an upload away.
    Cache,
    /// Only at its URL: a download away.
    Remote,
}

impl Tier {
    /// Whether moving a layer from `self` to `to` releases memory (goes to a slower tier).
    /// Releases only drop buffers and cannot fail for lack of memory.
    pub fn is_release_to(self, to: Tier) -> bool {
        to > self
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Gpu => "GPU memory",
            Self::Host => "wasm memory",
            Self::Cache => "the browser cache",
            Self::Remote => "the network",
        })
    }
}

/// Where one layer is: its fastest tier, plus the copies that tier alone does not say.
///
/// Each layer has exactly one `tier` and is counted there; a GPU layer may also keep a deliberate
/// wasm-memory copy (`host_copy`), the only case where a layer is counted twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerState {
    /// The fastest tier holding the layer.
    pub tier: Tier,
    /// A GPU layer also has its bytes in wasm memory, so dropping the GPU buffer needs no re-read.
    pub host_copy: bool,
    /// The layer is in the persistent cache, so releasing it from memory needs no download.
    pub cached: bool,
}

impl LayerState {
    /// A layer that is not in memory: in the cache if `cached`, else only at its URL.
    pub fn stored(cached: bool) -> Self {
        let tier = if cached { Tier::Cache } else { Tier::Remote };
        Self {
            tier,
            host_copy: false,
            cached,
        }
    }

    /// Where the layer goes when its memory is released: the cache if it is there, else the
    /// network.
    pub fn backing(&self) -> Tier {
        if self.cached {
            Tier::Cache
        } else {
            Tier::Remote
        }
    }

    /// Where the layer goes when its GPU buffer is dropped: its wasm copy if it has one, else its
    /// backing store. webvram never reads a GPU buffer back to wasm memory to evict it.
    pub fn gpu_home(&self) -> Tier {
        if self.host_copy {
            Tier::Host
        } else {
            self.backing()
        }
    }

    /// Whether the layer occupies wasm memory (as its tier or as a copy).
    pub fn in_host(&self) -> bool {
        self.tier == Tier::Host || (self.tier == Tier::Gpu && self.host_copy)
    }
}
