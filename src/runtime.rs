//! The runtime: owns the device and answers for it. The only place device, policy and
//! bookkeeping meet.

use burn::tensor::Device;
use serde::Deserialize;

use crate::Error;
use crate::device::{self, AdapterProfile, GpuContext};
use crate::stats::{DeviceStats, SystemInfo, SystemStats, os_from_user_agent};

/// Options for [`Runtime::create`], in their JS spelling (`powerPreference`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeOptions {
    /// `"cpu"` skips the GPU entirely (ComfyUI's `--cpu`); anything else probes it.
    #[serde(default)]
    pub vram: Option<String>,
    /// `"low-power"` asks for the integrated GPU on dual-GPU machines.
    #[serde(default)]
    pub power_preference: Option<String>,
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

/// Where tensors run: the shared GPU device, or burn's CPU backend when there is none.
#[derive(Clone, Debug)]
enum Compute {
    Gpu(GpuContext),
    Cpu(Device),
}

/// A started webvram runtime: an adapter profile and a device ready for tensors.
#[derive(Debug)]
pub struct Runtime {
    profile: AdapterProfile,
    compute: Compute,
}

impl Runtime {
    /// Probe the adapter, open the shared device, or fall back to the CPU.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for bad options, [`Error::Browser`] when the browser faults.
    /// A missing GPU is not an error: the runtime runs on the CPU and the profile says why.
    pub async fn create(options: RuntimeOptions) -> Result<Self, Error> {
        let power = options.power()?;
        if options.vram.as_deref() == Some("cpu") {
            let profile =
                AdapterProfile::unavailable("the caller asked for the CPU (vram: \"cpu\")");
            return Ok(Self::on_cpu(profile));
        }
        let (profile, gpu) = device::open(power).await?;
        Ok(match gpu {
            Some(gpu) => Self {
                profile,
                compute: Compute::Gpu(gpu),
            },
            None => Self::on_cpu(profile),
        })
    }

    fn on_cpu(profile: AdapterProfile) -> Self {
        Self {
            profile,
            compute: Compute::Cpu(Device::flex()),
        }
    }

    /// What the adapter offers (or why there is none).
    pub fn adapter(&self) -> &AdapterProfile {
        &self.profile
    }

    /// The burn device tensors should be created on.
    pub fn device(&self) -> &Device {
        match &self.compute {
            Compute::Gpu(gpu) => gpu.burn_device(),
            Compute::Cpu(device) => device,
        }
    }

    /// The shared GPU device, when running on one.
    pub fn gpu(&self) -> Option<&GpuContext> {
        match &self.compute {
            Compute::Gpu(gpu) => Some(gpu),
            Compute::Cpu(_) => None,
        }
    }

    /// ComfyUI's VRAM state name. Until the policy module decides, a GPU counts as `SHARED`
    /// (the design's default for browsers) and no GPU as `DISABLED`.
    pub fn vram_state(&self) -> &'static str {
        match self.compute {
            Compute::Gpu(_) => "SHARED",
            Compute::Cpu(_) => "DISABLED",
        }
    }

    /// ComfyUI's `/system_stats`, from this runtime's point of view.
    pub fn system_stats(&self) -> SystemStats {
        let (ram_total, ram_free) = device::host_ram(&self.profile);
        let user_agent = self.profile.user_agent.clone().unwrap_or_default();
        SystemStats {
            system: SystemInfo {
                os: os_from_user_agent(&user_agent).to_owned(),
                ram_total,
                ram_free,
                webvram_version: crate::VERSION.to_owned(),
                user_agent,
            },
            devices: vec![self.device_stats()],
            vram_state: self.vram_state().to_owned(),
        }
    }

    fn device_stats(&self) -> DeviceStats {
        let pool = self.device().memory_pool_usage();
        let (reserved, in_use) = pool.map_or((0, 0), |p| (p.bytes_reserved, p.bytes_in_use));
        let budget = self.placeholder_budget();
        let (name, kind) = match &self.compute {
            Compute::Gpu(_) => (
                format!("{}:0 {}", self.profile.backend, self.profile.description),
                self.profile.backend.clone(),
            ),
            Compute::Cpu(_) => ("cpu".to_owned(), "cpu".to_owned()),
        };
        DeviceStats {
            name,
            kind,
            index: 0,
            vram_total: budget,
            vram_free: budget.saturating_sub(in_use),
            torch_vram_total: reserved,
            torch_vram_free: reserved.saturating_sub(in_use),
        }
    }

    /// Half the RAM the host reports, capped by the largest buffer the adapter allows times
    /// four; the policy module replaces this estimate.
    fn placeholder_budget(&self) -> u64 {
        if self.gpu().is_none() {
            return 0;
        }
        let (ram_total, _) = device::host_ram(&self.profile);
        let max_buffer = self.profile.limit("maxBufferSize").unwrap_or(0);
        (ram_total / 2).min(max_buffer.saturating_mul(4))
    }
}
