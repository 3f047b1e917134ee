// `webvram/select`: import the build this browser needs before any wasm is fetched.
//
// The package has two modules with one API: `webvram` (WebGPU and the CPU) and `webvram/cpu` (the
// CPU only: no GPU kernel compiler, a third of the download). Where `Runtime.create` would compute
// on the CPU anyway — no WebGPU, no adapter, a software adapter, or `vram: 'cpu'` — the CPU-only
// module is enough. These are the policy's static rules (src/policy/select.rs, SOFTWARE_MARKERS in
// src/policy/class.rs); the ones that need the device (GPU reserve, learned budgets) run inside
// the full module as before.

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|basic render|software rasterizer/i;

/**
 * Which module `Runtime.create(options)` needs here, and why: `{ build: 'gpu' | 'cpu', reason }`.
 * Only `vram` and `powerPreference` are read; other options go to `Runtime.create` unchanged.
 */
export async function chooseBuild(options = {}) {
  const vram = options?.vram ?? 'auto';
  if (vram === 'cpu') return { build: 'cpu', reason: 'vram: "cpu"' };
  // An explicit GPU state (or a wrong value, which Runtime.create reports by name) needs the GPU.
  if (vram !== 'auto') return { build: 'gpu', reason: `vram: ${JSON.stringify(vram)}` };
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return { build: 'cpu', reason: 'navigator.gpu is undefined' };
  let adapter;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options?.powerPreference ?? 'high-performance' });
  } catch (error) {
    // The full module probes again and reports the browser's fault by name.
    return { build: 'gpu', reason: `requestAdapter() failed: ${error?.message ?? error}` };
  }
  if (!adapter) return { build: 'cpu', reason: 'requestAdapter() returned null' };
  const info = adapter.info ?? {};
  if (info.isFallbackAdapter ?? adapter.isFallbackAdapter) return { build: 'cpu', reason: 'isFallbackAdapter' };
  const software = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.match(SOFTWARE);
  if (software) return { build: 'cpu', reason: `software adapter (${software[0].toLowerCase()})` };
  return { build: 'gpu', reason: `adapter ${info.vendor || 'unknown'} ${info.architecture || ''}`.trim() };
}

/**
 * The package module for `options` (see `chooseBuild`): `webvram` or `webvram/cpu`, imported.
 * `const { default: init, Runtime } = await importWebvram(); await init();`
 */
export async function importWebvram(options) {
  const { build } = await chooseBuild(options);
  return build === 'cpu' ? import('./cpu/index.js') : import('./index.js');
}
