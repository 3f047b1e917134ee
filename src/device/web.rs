//! The browser probe: `navigator.gpu` read through `Reflect`, so no unstable web-sys APIs are
//! needed, then the same adapter opened through wgpu.

#[cfg(feature = "gpu")]
use js_sys::Object;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
#[cfg(feature = "gpu")]
use wasm_bindgen_futures::JsFuture;

use super::AdapterProfile;
#[cfg(feature = "gpu")]
use super::{FoundAdapter, describe::describe};
#[cfg(feature = "gpu")]
use crate::Error;

/// A profile with no adapter, saying why, with what `navigator` tells about the host.
pub(crate) fn without_adapter(reason: impl Into<String>) -> AdapterProfile {
    HostInfo::read(&navigator()).apply(AdapterProfile::unavailable(reason))
}

/// Find the WebGPU adapter and describe it; `None` with a reason when the page has none.
///
/// # Errors
///
/// [`Error::Browser`] when `requestAdapter()` itself rejects (a browser fault, not absence).
#[cfg(feature = "gpu")]
pub(crate) async fn probe(
    power: wgpu::PowerPreference,
) -> Result<(AdapterProfile, Option<FoundAdapter>), Error> {
    let navigator = navigator();
    let host = HostInfo::read(&navigator);
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        let reason = "navigator.gpu is undefined: this browser has no WebGPU, or it is disabled \
                      (insecure context, flag off, or blocked GPU)";
        return Ok((host.apply(AdapterProfile::unavailable(reason)), None));
    }
    let Some(raw) = request_raw_adapter(&gpu, power).await? else {
        let reason = "navigator.gpu.requestAdapter() returned null: WebGPU exists but no adapter is available";
        return Ok((host.apply(AdapterProfile::unavailable(reason)), None));
    };
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let request = wgpu::RequestAdapterOptions {
        power_preference: power,
        ..Default::default()
    };
    let adapter = match instance.request_adapter(&request).await {
        Ok(adapter) => adapter,
        Err(err) => {
            let reason = format!("wgpu found no WebGPU adapter: {err}");
            return Ok((host.apply(AdapterProfile::unavailable(reason)), None));
        }
    };
    let profile = host.apply(with_raw_info(describe(&adapter), &raw));
    Ok((profile, Some((instance, adapter))))
}

#[cfg(feature = "gpu")]
async fn request_raw_adapter(
    gpu: &JsValue,
    power: wgpu::PowerPreference,
) -> Result<Option<JsValue>, Error> {
    let options = Object::new();
    let preference = match power {
        wgpu::PowerPreference::LowPower => "low-power",
        _ => "high-performance",
    };
    let _ = Reflect::set(&options, &"powerPreference".into(), &preference.into());
    let promise = call_method(gpu, "requestAdapter", &options)
        .map_err(|e| browser_error("navigator.gpu.requestAdapter()", e))?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| browser_error("navigator.gpu.requestAdapter()", e))?;
    Ok((!adapter.is_null() && !adapter.is_undefined()).then_some(adapter))
}

/// wgpu cannot see `GPUAdapterInfo.vendor` / `.architecture` in a browser; read them directly.
#[cfg(feature = "gpu")]
fn with_raw_info(mut profile: AdapterProfile, raw: &JsValue) -> AdapterProfile {
    let info = get(raw, "info");
    profile.vendor = string(&info, "vendor").to_lowercase();
    profile.architecture = string(&info, "architecture").to_lowercase();
    let description = string(&info, "description");
    if !description.is_empty() {
        profile.description = description;
    }
    // Newer browsers put isFallbackAdapter on the info, older ones on the adapter.
    let fallback = [
        get(&info, "isFallbackAdapter"),
        get(raw, "isFallbackAdapter"),
    ];
    if let Some(flag) = fallback.iter().find_map(JsValue::as_bool) {
        profile.is_fallback_adapter = flag;
    }
    profile
}

/// What `navigator` says about the host, whether or not there is a GPU.
struct HostInfo {
    device_memory_gib: Option<f64>,
    hardware_concurrency: Option<u32>,
    user_agent: Option<String>,
}

impl HostInfo {
    fn read(navigator: &JsValue) -> Self {
        Self {
            device_memory_gib: get(navigator, "deviceMemory").as_f64(),
            hardware_concurrency: get(navigator, "hardwareConcurrency")
                .as_f64()
                .map(|n| n as u32),
            user_agent: get(navigator, "userAgent").as_string(),
        }
    }

    fn apply(self, profile: AdapterProfile) -> AdapterProfile {
        AdapterProfile {
            device_memory_gib: self.device_memory_gib,
            hardware_concurrency: self.hardware_concurrency,
            user_agent: self.user_agent,
            ..profile
        }
    }
}

/// `navigator` in a window or a worker.
fn navigator() -> JsValue {
    get(&js_sys::global(), "navigator")
}

fn get(target: &JsValue, key: &str) -> JsValue {
    if target.is_undefined() || target.is_null() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

#[cfg(feature = "gpu")]
fn string(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

#[cfg(feature = "gpu")]
fn call_method(target: &JsValue, name: &str, arg: &JsValue) -> Result<js_sys::Promise, JsValue> {
    let function: js_sys::Function = get(target, name).dyn_into()?;
    function.call1(target, arg)?.dyn_into()
}

/// The memory the page's wasm instance holds now, for `ram_free` estimates.
pub(crate) fn wasm_memory_bytes() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as u64
}

#[cfg(feature = "gpu")]
pub(crate) fn browser_error(api: &'static str, value: JsValue) -> Error {
    let message = value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"));
    Error::Browser { api, message }
}
