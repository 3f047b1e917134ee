// js/select.js (`webvram/select`) against the policy it mirrors. Chromium here has one real adapter,
// SwiftShader (pack.test.mjs covers it and the absence of an adapter), so the other adapters are
// mock `navigator.gpu` objects, and the tests say so in their names.
import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chooseBuild, hasRelaxedSimd } from '../../js/select.js';

const CLASS_RS = new URL('../../src/policy/class.rs', import.meta.url);
const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
const validate = WebAssembly.validate;

/** Puts a mock `navigator.gpu` whose `requestAdapter` resolves to `adapter` (or throws it). */
function mockGpu(adapter) {
  const gpu = { requestAdapter: async () => { if (adapter instanceof Error) throw adapter; return adapter; } };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** Makes the engine look as if it lacked relaxed SIMD (select validates only its probe). */
function withoutRelaxedSimd() {
  WebAssembly.validate = () => false;
}

beforeEach(() => {
  Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  withoutRelaxedSimd();
});
after(() => {
  if (had) Object.defineProperty(globalThis, 'navigator', had); else delete globalThis.navigator;
  WebAssembly.validate = validate;
});

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

test('the relaxed-SIMD probe is a valid module exactly where f32x4.relaxed_madd is; select picks webvram/cpu-relaxed then (mock validate)', async () => {
  // The real engine: a module with a relaxed instruction validates iff relaxed SIMD is on; the probe
  // must agree with Node's own answer for the same instruction (Node 20 has it behind a flag).
  WebAssembly.validate = validate;
  const engine = hasRelaxedSimd();
  assert.equal(typeof engine, 'boolean');
  let sawProbe = null;
  WebAssembly.validate = (bytes) => { sawProbe = bytes; return validate(bytes); };
  hasRelaxedSimd();
  assert.deepEqual([...sawProbe.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'the probe is a wasm module');
  // The same module with the relaxed opcode swapped for f32x4.add (0xe4 0x01) and two operands is
  // plain SIMD128, valid in every engine: so only the relaxed instruction can make the probe fail.
  const plain = [...sawProbe];
  plain.splice(plain.length - 11, 7);  // drop the third splat
  plain.splice(plain.length - 3, 2, 0xe4, 0x01);
  plain[20] -= 7; plain[22] -= 7;  // section and body sizes
  assert.equal(validate(new Uint8Array(plain)), true, 'the probe without its relaxed instruction');
  // Where relaxed SIMD validates, every CPU choice takes the relaxed module and says so.
  WebAssembly.validate = () => true;
  assert.deepEqual(await chooseBuild(), { build: 'cpu-relaxed', reason: 'navigator.gpu is undefined; relaxed SIMD validates' });
  assert.equal((await chooseBuild({ vram: 'cpu' })).build, 'cpu-relaxed');
  mockGpu({ info: { vendor: 'google', isFallbackAdapter: true } });
  assert.equal((await chooseBuild()).build, 'cpu-relaxed');
  mockGpu({ info: { vendor: 'nvidia', architecture: 'ampere', description: '' } });
  assert.equal((await chooseBuild()).build, 'gpu', 'a hardware adapter still takes the full module');
  // A validate that throws (a locked-down engine) counts as no relaxed SIMD.
  WebAssembly.validate = () => { throw new Error('blocked'); };
  assert.equal(hasRelaxedSimd(), false);
  assert.equal((await chooseBuild({ vram: 'cpu' })).build, 'cpu');
});
