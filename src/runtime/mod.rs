//! The runtime: owns the device, the policy decision, the manager and the executor. The only
//! place device, policy, bookkeeping, loading and models meet.

mod batches;
mod decoder;
mod embed;
mod events;
mod generate;
mod generated_text;
mod layer_files;
mod lifecycle;
mod models;
mod placement;
mod sampling;
mod sentence;
mod split;

use std::collections::BTreeMap;

use burn::tensor::Device;

use crate::Error;
use crate::device::{self, AdapterProfile, GpuContext};
use crate::exec::{Compute, Executor};
use crate::manager::{Manager, MemoryMap, ModelId};
use crate::policy::{self, Decision, LearnedBudget, VramMode};
use crate::stats::{DeviceStats, SystemInfo, SystemStats, os_from_user_agent};
use crate::weights::ConvertTarget;

pub use batches::MAX_BATCH_TEXTS;
pub use decoder::CausalLm;
pub use embed::{EmbedOptions, EmbedProgress, EmbedReport, MAX_CALL_CHARS, MAX_TEXT_CHARS};
pub use events::{RuntimeEvent, layer_moves};
pub use generate::{
    FinishReason, GenerateOptions, GenerateStats, Generation, MAX_PROMPT_CHARS, Prompt,
};
pub use layer_files::{LayerFiles, RangeReader, Staged};
pub use models::{ModelInfo, ModelKind};
pub use sampling::{Sampler, SamplingOptions};
pub use sentence::SentenceModel;
pub use split::{DecodeSplit, PrefillSplit};

/// Options for [`Runtime::create`]: the policy's knobs plus how to pick the adapter.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// ComfyUI's VRAM flags and budgets (`vram`, `reserveVram`, `vramBudget`, `smartMemory`, …).
    pub policy: policy::Options,
    /// `"low-power"` asks for the integrated GPU on dual-GPU machines; the default is
    /// `"high-performance"`.
    pub power_preference: Option<String>,
    /// Budgets learned from earlier out-of-memory events (stored by the page, e.g. in
    /// `localStorage`); the one whose fingerprint matches the adapter applies.
    pub learned: Vec<LearnedBudget>,
    /// Makes uploads fail as out of memory beyond this many bytes on the device: for testing
    /// out-of-memory handling on a machine that does not run out (see
    /// [`Executor::set_simulated_capacity`]).
    pub simulated_gpu_capacity: Option<u64>,
    /// Caps the device's `maxStorageBufferBindingSize` below the adapter's, as a phone's would
    /// be: tensors larger than one binding are then stored and read in row blocks. For testing
    /// that path on a machine with larger bindings (a browser never goes below 128 MiB).
    pub max_binding_bytes: Option<u64>,
}

impl RuntimeOptions {
    fn power(&self) -> Result<wgpu::PowerPreference, Error> {
        match self.power_preference.as_deref() {
            None | Some("high-performance") => Ok(wgpu::PowerPreference::HighPerformance),
            Some("low-power") => Ok(wgpu::PowerPreference::LowPower),
            Some(other) => Err(Error::InvalidOption {
                option: "powerPreference".into(),
                message: format!("got {other:?}; expected \"high-performance\" or \"low-power\""),
            }),
        }
    }
}

/// A started webvram runtime: an adapter profile, the manager's books (with the VRAM decision),
/// and an executor holding every loaded model's layers on its device.
pub struct Runtime {
    profile: AdapterProfile,
    manager: Manager,
    exec: Executor,
    models: BTreeMap<ModelId, models::LoadedModel>,
    power: wgpu::PowerPreference,
    /// [`RuntimeOptions::max_binding_bytes`], for a replacement device too.
    max_binding_bytes: Option<u64>,
    /// Time origin for the manager's clock (load order, idle unload).
    started: web_time::Instant,
    /// Events not yet taken by [`take_events`](Self::take_events).
    pending: Vec<RuntimeEvent>,
    /// The state and map the last [`take_events`](Self::take_events) saw.
    seen: (policy::VramState, MemoryMap),
    /// The budget learned from the latest out-of-memory event, until taken.
    learned: Option<LearnedBudget>,
    /// Set by [`destroy`](Self::destroy): every later call fails.
    destroyed: bool,
    /// Where layers come back from once wasm memory dropped them (see
    /// [`set_layer_reader`](Self::set_layer_reader)).
    files: Option<std::rc::Rc<LayerFiles>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("vram_state", &self.vram_state())
            .field("models", &self.models.len())
            .field("exec", &self.exec)
            .finish()
    }
}

impl Runtime {
    /// Probe the adapter, choose the VRAM state, open the shared device — or fall back to the
    /// CPU when there is no adapter or the policy says `DISABLED`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for bad options, [`Error::Browser`] when the browser faults.
    /// A missing GPU is not an error: the runtime runs on the CPU and the profile says why.
    pub async fn create(options: RuntimeOptions) -> Result<Self, Error> {
        let power = options.power()?;
        let (profile, gpu) = if options.policy.vram == VramMode::Cpu {
            let reason = "the caller asked for the CPU (vram: \"cpu\")";
            (device::without_adapter(reason), None)
        } else {
            device::open(power, options.max_binding_bytes).await?
        };
        let fingerprint = policy::fingerprint(&profile);
        let learned = (options.learned.iter()).find(|learned| learned.applies_to(&fingerprint));
        let decision = policy::select(&profile, &options.policy, learned);
        let manager = Manager::new(decision.clone(), &options.policy);
        let compute = match gpu {
            Some(gpu) if decision.state != policy::VramState::Disabled => Compute::Gpu(gpu),
            _ => Compute::Cpu(Device::flex()),
        };
        let mut exec = Executor::new(compute);
        exec.set_simulated_capacity(options.simulated_gpu_capacity);
        let seen = (manager.decision().state, manager.memory_map());
        Ok(Self {
            profile,
            manager,
            exec,
            models: BTreeMap::new(),
            power,
            max_binding_bytes: options.max_binding_bytes,
            started: web_time::Instant::now(),
            pending: Vec::new(),
            seen,
            learned: None,
            destroyed: false,
            files: None,
        })
    }

    /// Lets layers be read back from the models' files (Cache Storage or the network in a
    /// browser, the file system natively) instead of keeping every one in wasm memory: from now
    /// on a layer keeps a wasm copy only where the books count one (not, for instance, a GPU layer
    /// on unified memory). Call it before loading models.
    pub fn set_layer_reader(&mut self, reader: Box<dyn RangeReader>) {
        let files = LayerFiles::new(reader);
        let source = layer_files::SharedLayerFiles(files.clone());
        self.exec.set_source(Box::new(source));
        self.files = Some(files);
    }

    /// What the adapter offers (or why there is none).
    pub fn adapter(&self) -> &AdapterProfile {
        &self.profile
    }

    /// The VRAM state, budgets and the reasons for them (after any out-of-memory step-down).
    pub fn decision(&self) -> &Decision {
        self.manager.decision()
    }

    /// The manager's books: which layer of which model lives in which tier.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The burn device tensors should be created on.
    pub fn device(&self) -> &Device {
        self.exec.device()
    }

    /// The shared GPU device, when running on one.
    pub fn gpu(&self) -> Option<&GpuContext> {
        self.exec.gpu()
    }

    /// The executor: every loaded model's layers, on the device and in wasm memory.
    pub fn executor(&self) -> &Executor {
        &self.exec
    }

    /// What model weights are held in, on the device and in wasm memory: f16 when the decision
    /// says so and the device really has `shader-f16`, else f32.
    pub fn weight_dtype(&self) -> ConvertTarget {
        match self.decision().weight_dtype {
            policy::WeightDtype::F16 if self.exec.compute().has_shader_f16() => ConvertTarget::F16,
            _ => ConvertTarget::F32,
        }
    }

    /// ComfyUI's name for the VRAM state (`"SHARED"`, `"LOW_VRAM"`, …).
    pub fn vram_state(&self) -> &'static str {
        self.manager.decision().state.name()
    }

    /// ComfyUI's `/system_stats`, from this runtime's point of view, plus the decision.
    pub fn system_stats(&self) -> SystemStats {
        let (ram_total, ram_free) = device::host_ram(&self.profile);
        let user_agent = self.profile.user_agent.clone().unwrap_or_default();
        SystemStats {
            system: SystemInfo {
                os: os_from_user_agent(&user_agent).to_owned(),
                ram_total,
                ram_free,
                wasm_memory_bytes: device::wasm_memory_bytes(),
                webvram_version: crate::VERSION.to_owned(),
                webvram_build: crate::BUILD.to_owned(),
                user_agent,
            },
            devices: vec![self.device_stats()],
            vram_state: self.vram_state().to_owned(),
            policy: self.decision().clone(),
            books: self.exec.books(&self.manager),
            memory_map: self.manager.memory_map(),
        }
    }

    fn device_stats(&self) -> DeviceStats {
        let pool = self.device().memory_pool_usage();
        let (reserved, in_use) = pool.map_or((0, 0), |p| (p.bytes_reserved, p.bytes_in_use));
        let used = in_use.max(self.manager.gpu_bytes());
        let budget = self.decision().budget_bytes;
        let (name, kind) = match self.exec.compute() {
            Compute::Gpu(_) => (
                format!("{}:0 {}", self.profile.backend, self.profile.display_name()),
                self.profile.backend.clone(),
            ),
            Compute::Cpu(_) => ("cpu".to_owned(), "cpu".to_owned()),
        };
        DeviceStats {
            name,
            kind,
            index: 0,
            vram_total: budget,
            vram_free: budget.saturating_sub(used),
            torch_vram_total: reserved,
            torch_vram_free: reserved.saturating_sub(in_use),
        }
    }
}
