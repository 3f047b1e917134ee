// The JS API in headless Chromium against a real 127.0.0.1 server and the real model: error
// classes with codes, events (statechange, oom, layermove, devicelost), the learned budget in
// localStorage, loadModelsGpu, destroy, and weights stored in Cache Storage by loadModel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../support/fault-server.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MODEL = 'www/models/all-MiniLM-L6-v2';
const MIB = 1 << 20;
let browser;
let server;

before(async () => {
  server = await startFaultServer({ root });
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `fn(webvram, modelUrl)` in a fresh page that imported the package entry. */
async function inPage(fn, arg = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}/ok/tests/e2e/api.html`);
    const out = await page.evaluate(async ({ source, url, arg }) => {
      await window.ready;
      // eslint-disable-next-line no-new-func
      return new Function('webvram', 'url', 'arg', `return (${source})(webvram, url, arg);`)(window.webvram, url, arg);
    }, { source: fn.toString(), url: `${server.url}/ok/${MODEL}`, arg });
    assert.deepEqual(errors, [], 'the page reported errors');
    return out;
  } finally {
    await page.close();
  }
}

test('errors are Error subclasses with a code and the failing file', async () => {
  const out = await inPage(async (webvram, url) => {
    const { Runtime, WebvramError, InvalidOptionError, FetchError, AbortError } = webvram;
    const caught = async (promise) => promise.then(() => null, (e) => e);
    const describe = (e) => ({
      name: e.name, code: e.code, message: e.message, url: e.url ?? null,
      isError: e instanceof Error, isWebvram: e instanceof WebvramError,
    });
    const option = await caught(Runtime.create({ vram: 'bogus' }));
    const negative = await caught(Runtime.create({ vramBudget: -1 }));
    const capacity = await caught(Runtime.create({ simulatedGpuCapacity: 'lots' }));
    const remember = await caught(Runtime.create({ rememberBudget: 'yes' }));
    const dtype = await caught(Runtime.create({ weightDtype: 'bf16' }));
    const rt = await Runtime.create({ vram: 'cpu' });
    const required = await caught(rt.loadModelsGpu([], { memoryRequired: -1 }));
    const missing = await caught(rt.loadModel(`${url}/../no-such-model`, { cache: false }));
    const controller = new AbortController();
    controller.abort();
    const aborted = await caught(rt.loadModel(url, { cache: false, signal: controller.signal }));
    return {
      option: { ...describe(option), isClass: option instanceof InvalidOptionError },
      negative: describe(negative),
      capacity: describe(capacity),
      remember: describe(remember),
      dtype: describe(dtype),
      required: describe(required),
      missing: { ...describe(missing), isClass: missing instanceof FetchError },
      aborted: { ...describe(aborted), isClass: aborted instanceof AbortError },
    };
  });
  assert.deepEqual(
    { name: out.option.name, code: out.option.code, isError: out.option.isError, isWebvram: out.option.isWebvram, isClass: out.option.isClass },
    { name: 'InvalidOptionError', code: 'INVALID_OPTION', isError: true, isWebvram: true, isClass: true },
  );
  assert.match(out.option.message, /bogus/);
  assert.equal(out.negative.code, 'INVALID_OPTION');
  assert.equal(out.capacity.code, 'INVALID_OPTION');
  assert.match(out.capacity.message, /simulatedGpuCapacity/);
  assert.equal(out.remember.code, 'INVALID_OPTION');
  assert.match(out.remember.message, /rememberBudget/);
  assert.equal(out.dtype.code, 'INVALID_OPTION');
  assert.match(out.dtype.message, /bf16/);
  assert.equal(out.required.code, 'INVALID_OPTION');
  assert.match(out.required.message, /memoryRequired/);
  assert.equal(out.missing.code, 'FETCH');
  assert.ok(out.missing.isClass && out.missing.isWebvram);
  assert.match(out.missing.url, /no-such-model\/config\.json$/);
  assert.equal(out.aborted.code, 'ABORTED');
  assert.equal(out.aborted.name, 'AbortError');
  assert.ok(out.aborted.isClass);
});

test('weights are held in f32 on SwiftShader (no shader-f16), even when f16 is asked for', async () => {
  const out = await inPage(async (webvram, url) => {
    const rt = await webvram.Runtime.create({ vram: 'shared', weightDtype: 'f16' });
    const model = await rt.loadModel(url, { cache: false });
    const reason = rt.systemStats().policy.reasons.find((r) => r.signal === 'weightDtype');
    const result = {
      features: rt.adapter.features, decided: rt.systemStats().policy.weightDtype, reason,
      info: model.info,
      mapped: rt.systemStats().memory_map.layers.reduce((sum, l) => sum + l.bytes, 0),
    };
    rt.destroy();
    return result;
  });
  assert.ok(!out.features.includes('shader-f16'), 'SwiftShader gained shader-f16: test f16 here too');
  assert.equal(out.decided, 'f32');
  assert.equal(out.reason.value, 'f32');
  assert.match(out.reason.effect, /no shader-f16/);
  assert.equal(out.info.weightDtype, 'f32');
  // The encoder without its word table (kept for host-side lookups) is 43.4 MB in f32 and would
  // be 21.7 MB in f16; the books count what is held.
  assert.ok(out.info.weightBytes > 40e6, JSON.stringify(out.info));
  assert.equal(out.mapped, out.info.weightBytes);
});

test('an out-of-memory event steps down, is heard, is remembered, and the result is unchanged', async () => {
  const out = await inPage(async (webvram, url, { MIB }) => {
    const { Runtime } = webvram;
    localStorage.clear();
    const heard = [];
    const listen = (rt) => ['statechange', 'oom', 'layermove', 'devicelost']
      .forEach((type) => rt.addEventListener(type, (e) => heard.push({ type: e.type, ...e.detail })));
    const text = ['The cat sits on the mat.'];
    const reference = await (await (await Runtime.create({ vram: 'cpu' })).loadModel(url)).embed(text);

    // The device holds 30 MiB under a 200 MiB budget (simulated; SwiftShader does not run out).
    const rt = await Runtime.create({ vram: 'normal', vramBudget: 200 * MIB, reserveVram: 0, simulatedGpuCapacity: 30 * MIB });
    listen(rt);
    const model = await rt.loadModel(url);
    const { vectors, stats } = await model.embedWithStats(text);
    const stored = JSON.parse(localStorage.getItem('webvram:learned-budgets') ?? '[]');
    const state = rt.vramState;
    const tiers = model.memoryMap().map((l) => l.tier);
    const fingerprint = rt.systemStats().policy.fingerprint;
    // The next runtime on this adapter (automatic budget; on the GPU, which `auto` would not use
    // on a software adapter) starts from the learned one.
    const next = await Runtime.create({ vram: 'shared' });
    const ignoring = await Runtime.create({ vram: 'shared', rememberBudget: false });
    let diff = 0;
    vectors[0].forEach((v, i) => { diff = Math.max(diff, Math.abs(v - reference[0][i])); });
    return {
      heard, stats, stored, state, tiers, fingerprint, diff,
      next: next.systemStats().policy, ignoring: ignoring.systemStats().policy,
    };
  }, { MIB });
  assert.equal(out.state, 'LOW_VRAM');
  assert.ok(out.stats.steppedDown);
  assert.ok(out.diff <= 1e-4, `max abs diff to the CPU run ${out.diff}`);
  const types = out.heard.map((e) => e.type);
  assert.equal(types[0], 'statechange', types.join());
  assert.deepEqual([out.heard[0].from, out.heard[0].to], ['NORMAL_VRAM', 'LOW_VRAM']);
  assert.equal(types.filter((t) => t === 'oom').length, 1, types.join());
  const moves = out.heard.filter((e) => e.type === 'layermove');
  assert.equal(moves.filter((m) => m.to === 'gpu').length, out.tiers.filter((t) => t === 'gpu').length);
  assert.ok(moves.every((m) => typeof m.layer === 'string' && m.bytes > 0));
  assert.equal(out.stored.length, 1);
  assert.equal(out.stored[0].fingerprint, out.fingerprint);
  assert.ok(out.stored[0].budgetBytes < 30 * MIB, JSON.stringify(out.stored));
  assert.equal(out.next.oomCount, 1);
  assert.ok(out.next.budgetBytes <= out.stored[0].budgetBytes, JSON.stringify(out.next));
  assert.equal(out.ignoring.oomCount, 0);
  assert.ok(out.ignoring.budgetBytes > out.stored[0].budgetBytes);
});

test('a lost device is replaced on the next call, heard, and gives the same embedding', async () => {
  const out = await inPage(async (webvram, url) => {
    const rt = await webvram.Runtime.create({ vram: 'high' });
    const heard = [];
    rt.addEventListener('devicelost', (e) => heard.push(e.detail));
    const model = await rt.loadModel(url);
    const text = ['A lost device comes back.'];
    const before = await model.embed(text);
    await rt.loseDevice();
    const { vectors, stats } = await model.embedWithStats(text);
    let diff = 0;
    vectors[0].forEach((v, i) => { diff = Math.max(diff, Math.abs(v - before[0][i])); });
    return { heard, stats, diff, books: rt.systemStats().books, tiers: model.memoryMap().map((l) => l.tier) };
  });
  assert.ok(out.stats.deviceReplaced);
  assert.deepEqual(out.heard, [{ type: 'devicelost', replaced: true }]);
  assert.equal(out.diff, 0, 'same device kind, same kernels');
  assert.ok(out.books.agrees, JSON.stringify(out.books));
  assert.ok(out.tiers.every((t) => t === 'gpu'), out.tiers.join());
  // SwiftShader's memory is unified: the GPU layers kept no wasm copy, so the new device got them
  // back from Cache Storage. What wasm memory holds is the word table, pinned for host gathers.
  assert.equal(out.books.heldHostBytes, 30522 * 384 * 4, JSON.stringify(out.books));
  assert.equal(out.books.heldHostBytes, out.books.bookedHostBytes, JSON.stringify(out.books));
  assert.equal(out.books.hostRetainedBytes, 0, JSON.stringify(out.books));
});

test('loadModelsGpu places layers ahead of a call; destroy ends the runtime', async () => {
  const out = await inPage(async (webvram, url) => {
    const rt = await webvram.Runtime.create({ vram: 'high' });
    const model = await rt.loadModel(url);
    const before = model.memoryMap().map((l) => l.tier);
    const moved = [];
    rt.addEventListener('layermove', (e) => moved.push(e.detail.to));
    await rt.loadModelsGpu([model], { memoryRequired: 0 });
    const after = model.memoryMap().map((l) => l.tier);
    const bad = await rt.loadModelsGpu([{}]).then(() => null, (e) => e.code);
    const cached = await webvram.cachedModels();
    await rt.destroy();
    const destroyed = await model.embed(['x']).then(() => null, (e) => ({ code: e.code, name: e.name }));
    return { before, after, moved, bad, destroyed, stats: rt.systemStats(), cached };
  });
  assert.ok(out.before.every((t) => t === 'host'), out.before.join());
  assert.ok(out.after.every((t) => t === 'gpu'), out.after.join());
  assert.equal(out.moved.length, 7);
  assert.equal(out.bad, 'INVALID_INPUT');
  assert.deepEqual(out.destroyed, { code: 'INVALID_STATE', name: 'InvalidStateError' });
  assert.equal(out.stats.memory_map.layers.length, 0, 'destroy unloaded the model');
  // loadModel (cache on by default) stored the weights, not just the small files.
  const entry = out.cached.find((m) => m.url.endsWith(MODEL));
  assert.ok(entry, JSON.stringify(out.cached));
  assert.ok(entry.bytes > 90e6, `cached ${entry.bytes} bytes`);
});

test('freeing a Model handle unloads it, so a forgotten model pins no memory', async () => {
  const out = await inPage(async (webvram, url) => {
    const rt = await webvram.Runtime.create({ vram: 'cpu' });
    const model = await rt.loadModel(url);
    const loaded = rt.systemStats().memory_map.layers.length;
    model.free();   // wasm-bindgen's release of the handle (also what the GC's finalizer does)
    const stats = rt.systemStats();
    return { loaded, left: stats.memory_map.layers.length, host: stats.books.heldHostBytes };
  });
  assert.equal(out.loaded, 7);
  assert.equal(out.left, 0);
  assert.equal(out.host, 0);
});

test('wrong arguments are coded errors naming the argument, before any work', async () => {
  const out = await inPage(async (webvram, url) => {
    const { Runtime } = webvram;
    const caught = async (thunk) => {
      try { await thunk(); return { ok: true }; } catch (e) {
        return { code: e?.code ?? null, message: String(e?.message), webvram: e instanceof webvram.WebvramError };
      }
    };
    const rt = await Runtime.create({ vram: 'cpu', rememberBudget: false });
    const other = await Runtime.create({ vram: 'cpu', rememberBudget: false });
    const model = await rt.loadModel(url);
    const foreign = await other.loadModel(url);
    const moves = [];
    rt.addEventListener('layermove', (e) => moves.push(e.detail));
    const mapBefore = JSON.stringify(model.memoryMap());
    const empty = await model.embed([]);
    const emptyMoves = moves.length;
    const mapAfter = JSON.stringify(model.memoryMap());
    const long = 'word '.repeat(400);
    const { stats } = await model.embedWithStats(['short', long]);
    const results = {
      typo: await caught(() => Runtime.create({ vramm: 'low' })),
      createArray: await caught(() => Runtime.create(['low'])),
      url: await caught(() => rt.loadModel(42)),
      loadTypo: await caught(() => rt.loadModel(url, { cach: true })),
      external: await caught(() => rt.loadModel(url, { allowExternal: 'yes' })),
      embedNull: await caught(() => model.embed(null)),
      embedString: await caught(() => model.embed('x')),
      embedNumbers: await caught(() => model.embed([1, 2])),
      embedObjects: await caught(() => model.embed(['ok', {}])),
      embedHuge: await caught(() => model.embed(['x'.repeat(3 << 20)])),
      embedOption: await caught(() => model.embed(['x'], { truncat: false })),
      embedSignal: await caught(() => model.embed(['x'], { signal: 'stop' })),
      embedProgress: await caught(() => model.embed(['x'], { onProgress: 1 })),
      loadSignal: await caught(() => rt.loadModel(url, { signal: {} })),
      refused: await caught(() => model.embed(['short', long], { truncate: false })),
      freeString: await caught(() => rt.free('yes')),
      freeFlag: await caught(() => rt.free({ unloadModels: 'no' })),
      fakeModel: await caught(() => rt.loadModelsGpu([{ info: { id: model.info.id } }])),
      notArray: await caught(() => rt.loadModelsGpu(model)),
      foreign: await caught(() => rt.loadModelsGpu([foreign])),
      listener: await caught(() => rt.addEventListener('layermoved', () => {})),
    };
    // Two unloads at once, then the unloaded and a freed handle.
    const twice = await Promise.allSettled([foreign.unload(), foreign.unload()]);
    results.unloaded = await caught(() => other.loadModelsGpu([foreign]));
    const spare = await other.loadModel(url);
    const alias = spare;
    spare.free();
    results.freed = await caught(() => other.loadModelsGpu([alias]));
    const left = other.systemStats().memory_map.layers.length;
    return { results, empty, emptyMoves, same: mapBefore === mapAfter, stats, twice: twice.map((t) => t.status), left };
  });
  const r = out.results;
  const expect = (name, code, pattern) => {
    assert.equal(r[name].code, code, `${name}: ${JSON.stringify(r[name])}`);
    assert.ok(r[name].webvram, name);
    if (pattern) assert.match(r[name].message, pattern, name);
  };
  expect('typo', 'INVALID_OPTION', /`vramm`.*did you mean `vram`/);
  expect('createArray', 'INVALID_OPTION', /expected an object/);
  expect('url', 'INVALID_INPUT', /`url`.*a number/);
  expect('loadTypo', 'INVALID_OPTION', /`cach`.*did you mean `cache`/);
  expect('external', 'INVALID_OPTION', /allowExternal/);
  expect('embedNull', 'INVALID_INPUT', /`texts`.*null/);
  expect('embedString', 'INVALID_INPUT', /`texts`.*a string/);
  expect('embedNumbers', 'INVALID_INPUT', /`texts\[0\]`.*a number/);
  expect('embedObjects', 'INVALID_INPUT', /`texts\[1\]`.*an object/);
  expect('embedHuge', 'INVALID_INPUT', /`texts\[0\]`.*too long/);
  expect('embedOption', 'INVALID_OPTION', /`truncat`.*did you mean `truncate`/);
  expect('embedSignal', 'INVALID_OPTION', /`signal`.*expected an AbortSignal/);
  expect('embedProgress', 'INVALID_OPTION', /`onProgress`.*expected a function/);
  expect('loadSignal', 'INVALID_OPTION', /`signal`.*expected an AbortSignal/);
  expect('refused', 'INVALID_INPUT', /`texts\[1\]`: \d+ tokens, but the model takes at most 256/);
  expect('freeString', 'INVALID_OPTION', /expected an object/);
  expect('freeFlag', 'INVALID_OPTION', /unloadModels/);
  expect('fakeModel', 'INVALID_INPUT', /`models\[0\]`.*expected a Model/);
  expect('notArray', 'INVALID_INPUT', /`models`/);
  expect('foreign', 'INVALID_INPUT', /another runtime/);
  expect('listener', 'INVALID_INPUT', /`type`/);
  expect('unloaded', 'INVALID_STATE', /unloaded/);
  expect('freed', 'INVALID_STATE', /freed/);
  assert.deepEqual(out.empty, []);
  assert.equal(out.emptyMoves, 0, 'embed([]) placed nothing');
  assert.ok(out.same, 'embed([]) left the memory map as it was');
  assert.equal(out.stats.truncated, 1);
  assert.deepEqual(out.stats.truncatedTexts, [1]);
  assert.deepEqual(out.twice, ['fulfilled', 'fulfilled']);
  assert.equal(out.left, 0, 'the freed handle unloaded its model');
});
