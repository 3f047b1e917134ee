// `webvram/select`: import the build this browser needs before any wasm is fetched.
//
// The package has three modules with one API: `webvram` (WebGPU and the CPU), `webvram/cpu` (the
// CPU only: no GPU kernel compiler, a third of the download) and `webvram/cpu-relaxed` (the same,
// its projection kernels built with relaxed SIMD's fused multiply-add: 13–19% faster, but it does
// not validate in an engine without relaxed SIMD, e.g. Safari). Where `Runtime.create` would compute
// on the CPU anyway — no WebGPU, no adapter, a software adapter, or `vram: 'cpu'` — a CPU-only
// module is enough: the relaxed one where a probe of its instruction validates, else `webvram/cpu`.
// These are the policy's static rules (src/policy/select.rs, SOFTWARE_MARKERS in
// src/policy/class.rs); the ones that need the device (GPU reserve, learned budgets) run inside
// the full module as before.

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|basic render|software rasterizer/i;

/**
 * A one-function module whose body is `f32x4.relaxed_madd` of three splats: the instruction
 * `webvram/cpu-relaxed` uses (`(func (result v128) (f32x4.relaxed_madd (f32x4.splat 1.0) …))`).
 */
const RELAXED_MADD = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x1c, 0x01, 0x1a, 0x00, // code section: one body of 26 bytes, no locals
  0x43, 0x00, 0x00, 0x80, 0x3f, 0xfd, 0x13, // f32.const 1.0, f32x4.splat
  0x43, 0x00, 0x00, 0x80, 0x3f, 0xfd, 0x13,
  0x43, 0x00, 0x00, 0x80, 0x3f, 0xfd, 0x13,
  0xfd, 0x85, 0x02, 0x0b, // f32x4.relaxed_madd, end
]);

/** Whether this engine validates relaxed SIMD (`f32x4.relaxed_madd`), so `webvram/cpu-relaxed` runs. */
export function hasRelaxedSimd() {
  try {
    return globalThis.WebAssembly?.validate(RELAXED_MADD) === true;
  } catch {
    return false;
  }
}

/** The CPU-only module for this engine, with `reason` saying why the CPU and which module. */
function cpuBuild(reason) {
  return hasRelaxedSimd()
    ? { build: 'cpu-relaxed', reason: `${reason}; relaxed SIMD validates` }
    : { build: 'cpu', reason };
}

/**
 * Which module `Runtime.create(options)` needs here, and why:
 * `{ build: 'gpu' | 'cpu' | 'cpu-relaxed', reason }`.
 * Only `vram` and `powerPreference` are read; other options go to `Runtime.create` unchanged.
 */
export async function chooseBuild(options = {}) {
  const vram = options?.vram ?? 'auto';
  if (vram === 'cpu') return cpuBuild('vram: "cpu"');
  // An explicit GPU state (or a wrong value, which Runtime.create reports by name) needs the GPU.
  if (vram !== 'auto') return { build: 'gpu', reason: `vram: ${JSON.stringify(vram)}` };
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return cpuBuild('navigator.gpu is undefined');
  let adapter;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options?.powerPreference ?? 'high-performance' });
  } catch (error) {
    // The full module probes again and reports the browser's fault by name.
    return { build: 'gpu', reason: `requestAdapter() failed: ${error?.message ?? error}` };
  }
  if (!adapter) return cpuBuild('requestAdapter() returned null');
  const info = adapter.info ?? {};
  if (info.isFallbackAdapter ?? adapter.isFallbackAdapter) return cpuBuild('isFallbackAdapter');
  const software = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.match(SOFTWARE);
  if (software) return cpuBuild(`software adapter (${software[0].toLowerCase()})`);
  return { build: 'gpu', reason: `adapter ${info.vendor || 'unknown'} ${info.architecture || ''}`.trim() };
}

/**
 * The package module for `options` (see `chooseBuild`): `webvram`, `webvram/cpu` or
 * `webvram/cpu-relaxed`, imported. `const { default: init, Runtime } = await importWebvram(); await init();`
 */
export async function importWebvram(options) {
  const { build } = await chooseBuild(options);
  // Literal specifiers, so that bundlers see (and emit) each module.
  if (build === 'cpu-relaxed') return import('./cpu-relaxed/index.js');
  if (build === 'cpu') return import('./cpu/index.js');
  return import('./index.js');
}
