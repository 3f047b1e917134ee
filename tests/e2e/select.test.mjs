// js/select.js (`webvram/select`) against the policy it mirrors. Chromium here has one real adapter,
// SwiftShader (pack.test.mjs covers it and the absence of an adapter), so the other adapters are
// mock `navigator.gpu` objects, and the tests say so in their names.
import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chooseBuild } from '../../js/select.js';

const CLASS_RS = new URL('../../src/policy/class.rs', import.meta.url);
const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');

/** Puts a mock `navigator.gpu` whose `requestAdapter` resolves to `adapter` (or throws it). */
function mockGpu(adapter) {
  const gpu = { requestAdapter: async () => { if (adapter instanceof Error) throw adapter; return adapter; } };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

beforeEach(() => { Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true }); });
after(() => { if (had) Object.defineProperty(globalThis, 'navigator', had); else delete globalThis.navigator; });

test('every software marker of the Rust policy sends select.js to the CPU-only module (mock adapters)', async () => {
  const source = await readFile(CLASS_RS, 'utf8');
  const block = source.match(/const SOFTWARE_MARKERS: &\[&str\] = &\[([^\]]*)\]/);
  assert.ok(block, 'SOFTWARE_MARKERS not found in src/policy/class.rs');
  const markers = [...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(markers.length >= 4, `markers: ${markers}`);
  for (const marker of markers) {
    mockGpu({ info: { vendor: 'x', architecture: '', description: `Some ${marker.toUpperCase()} device` } });
    assert.deepEqual(await chooseBuild(), { build: 'cpu', reason: `software adapter (${marker})` }, marker);
  }
});

test('a hardware adapter, a failing probe and explicit GPU states need the full module (mock adapters)', async () => {
  mockGpu({ info: { vendor: 'nvidia', architecture: 'ampere', description: '' } });
  assert.deepEqual(await chooseBuild(), { build: 'gpu', reason: 'adapter nvidia ampere' });
  assert.equal((await chooseBuild({ vram: 'cpu' })).build, 'cpu');
  mockGpu(new Error('blocked'));
  assert.deepEqual(await chooseBuild(), { build: 'gpu', reason: 'requestAdapter() failed: blocked' });
  for (const vram of ['high', 'normal', 'low', 'none', 'shared']) assert.equal((await chooseBuild({ vram })).build, 'gpu', vram);
});

test('no adapter, a null adapter or a fallback adapter need only the CPU-only module (mock adapters)', async () => {
  assert.deepEqual(await chooseBuild(), { build: 'cpu', reason: 'navigator.gpu is undefined' });
  mockGpu(null);
  assert.deepEqual(await chooseBuild(), { build: 'cpu', reason: 'requestAdapter() returned null' });
  mockGpu({ info: { vendor: 'google', isFallbackAdapter: true } });
  assert.deepEqual(await chooseBuild(), { build: 'cpu', reason: 'isFallbackAdapter' });
  mockGpu({ isFallbackAdapter: true, info: {} });  // older browsers put the flag on the adapter
  assert.deepEqual(await chooseBuild(null), { build: 'cpu', reason: 'isFallbackAdapter' });
});
