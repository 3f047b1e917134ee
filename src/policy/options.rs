//! What the user may ask for: ComfyUI's command-line flags as one options object.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::PolicyError;
use super::state::VramState;

/// The `vram` option: `auto` or one of ComfyUI's flags.
///
/// Serialized in lower case (`"auto"`, `"high"`, …), the spelling the JS API takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VramMode {
    /// Choose from the adapter's signals (ComfyUI has no automatic mode; see `policy::select`).
    #[default]
    Auto,
    /// `--highvram`: load whole models and keep them.
    High,
    /// `--normalvram`.
    Normal,
    /// `--lowvram`.
    Low,
    /// `--novram`: keep no weights on the GPU between calls.
    None,
    /// `--cpu`: do not use the GPU at all.
    Cpu,
    /// The unified-memory state ([`VramState::Shared`]), which `auto` picks for integrated GPUs:
    /// forces the GPU where `auto` would compute on the CPU (a software adapter).
    Shared,
}

impl VramMode {
    /// The state an explicit mode forces, or `None` for `Auto`.
    pub fn forced_state(self) -> Option<VramState> {
        match self {
            Self::Auto => None,
            Self::High => Some(VramState::HighVram),
            Self::Normal => Some(VramState::NormalVram),
            Self::Low => Some(VramState::LowVram),
            Self::None => Some(VramState::NoVram),
            Self::Cpu => Some(VramState::Disabled),
            Self::Shared => Some(VramState::Shared),
        }
    }

    /// The option's spelling, as the JS API and the reasons write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
            Self::None => "none",
            Self::Cpu => "cpu",
            Self::Shared => "shared",
        }
    }
}

impl FromStr for VramMode {
    type Err = PolicyError;

    /// Parses the JS spelling (`"auto"`, `"high"`, `"normal"`, `"low"`, `"none"`, `"cpu"`,
    /// `"shared"`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let modes = [
            Self::Auto,
            Self::High,
            Self::Normal,
            Self::Low,
            Self::None,
            Self::Cpu,
            Self::Shared,
        ];
        modes
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| PolicyError::UnknownVramMode {
                given: text.to_owned(),
            })
    }
}

/// The `weightDtype` option: what weights are held in, on the device and in wasm memory.
///
/// Serialized in lower case (`"auto"`, `"f32"`, `"f16"`). Compute is f32 whatever is stored:
/// f16 weights are widened where a layer reads them, so f16 halves the memory weights take
/// and rounds each weight once (outputs move by about 1e-3 relative; see the README).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    /// f16 when the adapter has `shader-f16` and compute runs on it, else f32.
    #[default]
    Auto,
    /// Always f32: outputs exactly as the checkpoint's f32 weights give them.
    F32,
    /// f16 where the adapter has `shader-f16`; elsewhere f32, with a reason saying so.
    F16,
}

impl WeightDtype {
    /// The option's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }
}

/// Every knob of the policy and the manager, as the page passes them.
///
/// Serialized in camelCase like [`AdapterProfile`](crate::device::AdapterProfile);
/// every field may be left out of the JSON and takes its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Options {
    /// `auto` or one of ComfyUI's VRAM flags.
    pub vram: VramMode,
    /// Bytes to keep free inside the budget (`--reserve-vram`, which ComfyUI takes in GiB).
    /// `None` picks the default for the device class (see `policy::budget`).
    pub reserve_vram: Option<u64>,
    /// An explicit GPU budget in bytes that replaces the estimate. It is honoured as given, even
    /// above the page caps: the user knows their card, webvram only guesses.
    pub vram_budget: Option<u64>,
    /// Bytes of wasm memory weights may use; `None` picks the default (see `policy::budget`).
    pub host_budget: Option<u64>,
    /// `false` is `--disable-smart-memory`: unload whole models, no early stop, and unload
    /// everything after each run.
    pub smart_memory: bool,
    /// Unload a model after it has been idle this many milliseconds; `None` never does.
    /// ComfyUI has no such timer (users ask for one, ComfyUI issue #3192).
    pub idle_unload_ms: Option<u64>,
    /// Keep a wasm-memory copy of GPU-resident layers. `None` keeps one on discrete GPUs and
    /// none on unified memory, where the copy would sit in the same RAM twice.
    pub keep_host_copy: Option<bool>,
    /// What weights are held in (`auto`: f16 with `shader-f16`, else f32).
    pub weight_dtype: WeightDtype,
}

impl Options {
    /// Every key the options object takes, in its JS spelling.
    pub const KEYS: [&'static str; 8] = [
        "vram",
        "reserveVram",
        "vramBudget",
        "hostBudget",
        "smartMemory",
        "idleUnloadMs",
        "keepHostCopy",
        "weightDtype",
    ];
}

impl Default for Options {
    fn default() -> Self {
        Self {
            vram: VramMode::Auto,
            reserve_vram: None,
            vram_budget: None,
            host_budget: None,
            smart_memory: true,
            idle_unload_ms: None,
            keep_host_copy: None,
            weight_dtype: WeightDtype::Auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_mode_and_rejects_others() {
        for mode in ["auto", "high", "normal", "low", "none", "cpu"] {
            assert_eq!(mode.parse::<VramMode>().unwrap().name(), mode);
        }
        let err = "turbo".parse::<VramMode>().unwrap_err();
        assert!(matches!(err, PolicyError::UnknownVramMode { given } if given == "turbo"));
    }

    #[test]
    fn keys_list_every_field() {
        let json = serde_json::to_value(Options::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = Options::KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn missing_json_fields_take_defaults() {
        let options: Options =
            serde_json::from_str(r#"{"vram":"low","reserveVram":1024}"#).unwrap();
        assert_eq!(options.vram, VramMode::Low);
        assert_eq!(options.reserve_vram, Some(1024));
        assert!(options.smart_memory);
        assert_eq!(options.idle_unload_ms, None);
        assert_eq!(options.weight_dtype, WeightDtype::Auto);
        let options: Options = serde_json::from_str(r#"{"weightDtype":"f16"}"#).unwrap();
        assert_eq!(options.weight_dtype, WeightDtype::F16);
        assert!(serde_json::from_str::<Options>(r#"{"weightDtype":"bf16"}"#).is_err());
    }
}
