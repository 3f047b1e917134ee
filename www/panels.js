// The read-only panels: the adapter profile, the chosen VRAM state with its reasons, and the
// systemStats() JSON.
import { $, el, formatBytes, textRow } from './format.js';

/** What each ComfyUI state means for this page, in one line. */
const STATE_MEANING = {
  DISABLED: 'No GPU: every layer runs on the CPU from wasm memory.',
  NO_VRAM: 'Nothing stays on the GPU between calls: every layer is uploaded just before it runs.',
  LOW_VRAM: 'The largest layers that fit the budget stay on the GPU; the rest are streamed per call.',
  NORMAL_VRAM: 'Whole models stay on the GPU while the budget allows; the least recently used leave first.',
  HIGH_VRAM: 'Whole models are loaded onto the GPU and kept there.',
  SHARED: 'The GPU shares system RAM: whole models load, with no second copy in wasm memory.',
};

export function renderAdapter(adapter) {
  const facts = [
    ['Vendor', adapter.vendor || '—'],
    ['Architecture', adapter.architecture || '—'],
    ['Description', adapter.description || '—'],
    ['Fallback adapter', String(adapter.isFallbackAdapter)],
    ['Backend', adapter.backend || 'none'],
    ['Max buffer', formatBytes(adapter.limits.maxBufferSize)],
    ['Max storage binding', formatBytes(adapter.limits.maxStorageBufferBindingSize)],
    ['Device memory', adapter.deviceMemoryGib == null ? 'unknown' : `${adapter.deviceMemoryGib} GiB`],
    ['CPU threads', adapter.hardwareConcurrency ?? 'unknown'],
  ];
  $('adapter').replaceChildren(...facts.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, String(value))]));
  $('features').textContent = adapter.features.length ? adapter.features.join(', ') : 'no optional features';
  const limits = Object.entries(adapter.limits);
  $('limits').tBodies[0].replaceChildren(...(limits.length
    ? limits.map((entry) => textRow(entry, { header: true }))
    : [textRow(['none (no adapter)'])]));
  const software = adapter.isFallbackAdapter
    ? ' It is a software adapter: auto computes on the CPU, which is faster (mode "shared" uses it).'
    : '';
  $('reason').textContent = adapter.available
    ? `WebGPU adapter found (${adapter.vendor || 'unknown vendor'}).${software}`
    : `No GPU: ${adapter.unavailableReason}. Running on the CPU.`;
}

/** The state badge, the budget line and the reasons table, from `systemStats()`. */
export function renderPolicy(stats) {
  const { policy } = stats;
  const badge = $('vram-state');
  badge.textContent = stats.vram_state;
  badge.dataset.state = stats.vram_state;
  $('state-meaning').textContent = STATE_MEANING[stats.vram_state] ?? '';
  $('budget').textContent = formatBytes(policy.budgetBytes);
  $('reserve').textContent = formatBytes(policy.reserveBytes);
  $('device-class').textContent = policy.deviceClass;
  const warning = $('policy-warning');
  const starved = stats.vram_state !== 'DISABLED' && policy.reserveBytes >= policy.budgetBytes;
  warning.hidden = !starved;
  warning.textContent = starved
    ? `The reserve (${formatBytes(policy.reserveBytes)}) is not smaller than the budget (${formatBytes(policy.budgetBytes)}): `
      + 'no GPU memory is left for weights. Lower the reserve or raise the budget.'
    : '';
  $('reasons').tBodies[0].replaceChildren(...policy.reasons.map(
    (reason) => textRow([reason.signal, reason.value, reason.effect], { header: true }),
  ));
}

/** The key parts of `systemStats()`; the memory map and the reasons are drawn elsewhere. */
export function renderStats(stats) {
  const { reasons: _drawnAbove, ...policy } = stats.policy;
  const shown = { vram_state: stats.vram_state, devices: stats.devices, books: stats.books, policy, system: stats.system };
  $('stats').textContent = JSON.stringify(shown, null, 2);
}

/** Shows an error in the alert box (and the console, for developers); `null` hides it. */
export function showError(err) {
  const box = $('error');
  box.hidden = !err;
  if (!err) return;
  box.textContent = `${err.code ?? err.name ?? 'ERROR'}: ${err.message}`;
  console.error(err);
}
