// The chaos run, inside the page: random operations over the whole JS API, issued with random
// concurrency (not awaited in order), each outcome checked as it settles. See chaos.test.mjs.
import init, * as webvram from '../../pkg/index.js';

const exports = init();
window.ready = exports;

/** Every code a WebvramError may carry. */
const CODES = new Set([
  'OOM', 'DEVICE_LOST', 'FETCH', 'INTEGRITY', 'FORMAT', 'ABORTED', 'UNSUPPORTED', 'BROWSER',
  'INVALID_OPTION', 'INVALID_INPUT', 'INVALID_STATE', 'EXECUTION', 'PANIC',
]);

const LONG = 'the quick brown fox jumps over the lazy dog '.repeat(40).trim();
/** The texts embeds draw from (the same as the native property test's). */
const TEXTS = [
  'The cat sits on the mat.', '', '   ', 'Größe, naïve café — 東京 🙂',
  '1234567890 numbers and 3.14159', LONG, 'A second ordinary sentence about sentence embeddings.',
];
const LONG_TEXT = 5;

/** The runtime kinds (options of Runtime.create). */
const KINDS = [
  { vram: 'cpu' },
  { vram: 'cpu' },
  { vram: 'high' },
  { vram: 'low', vramBudget: 64 << 20, reserveVram: 0 },
  { vram: 'none', vramBudget: 64 << 20, reserveVram: 0 },
  // A device smaller than its budget: uploads fail, the budget steps down (simulated OOM).
  { vram: 'normal', vramBudget: 64 << 20, reserveVram: 0, simulatedGpuCapacity: 150 << 10 },
  {},
];

/** Server fault modes a load goes through (see tests/support/fault-server.mjs). */
const MODES = ['ok', 'ok', 'ok', 'ok', 'error-once', 'drop-once', 'not-found', 'length-short'];

/** Calls that are wrong, and the code each must be refused with. */
const BAD_CALLS = [
  ['embed(null)', (m) => m.embed(null), 'INVALID_INPUT'],
  ["embed('x')", (m) => m.embed('x'), 'INVALID_INPUT'],
  ['embed([1, 2])', (m) => m.embed([1, 2]), 'INVALID_INPUT'],
  ['embed([{}])', (m) => m.embed([{}]), 'INVALID_INPUT'],
  ['embed(texts, {truncat})', (m) => m.embed(['x'], { truncat: true }), 'INVALID_OPTION'],
  ['embed(long, {truncate: false})', (m) => m.embed([LONG], { truncate: false }), 'INVALID_INPUT'],
  ['loadModel(42)', (m, rt) => rt.loadModel(42), 'INVALID_INPUT'],
  ["free('yes')", (m, rt) => rt.free('yes'), 'INVALID_OPTION'],
  ['free({unloadModels: 1})', (m, rt) => rt.free({ unloadModels: 1 }), 'INVALID_OPTION'],
  ['loadModelsGpu([{info}])', (m, rt) => rt.loadModelsGpu([{ info: { id: 0 } }]), 'INVALID_INPUT'],
  ['loadModelsGpu(model)', (m, rt) => rt.loadModelsGpu(m), 'INVALID_INPUT'],
  ["create({vramm: 'low'})", () => webvram.Runtime.create({ vramm: 'low' }), 'INVALID_OPTION'],
  ["addEventListener('oops')", (m, rt) => Promise.resolve().then(() => rt.addEventListener('oops', () => {})), 'INVALID_INPUT'],
];

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function maxDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i += 1) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Each model's reference embedding of each text: the CPU path with everything resident. */
async function references(models, url) {
  const rt = await webvram.Runtime.create({ vram: 'cpu', rememberBudget: false });
  const refs = [];
  for (const name of models) {
    const model = await rt.loadModel(url('ok', name), { cache: false });
    refs.push(await model.embed(TEXTS));
    await model.unload();
  }
  await rt.destroy();
  return refs;
}

/**
 * Runs `ops` random operations from `seed` over models at `/{mode}/{folder}/{name}`; resolves to
 * counts and the failures found (empty when everything held).
 */
window.runChaos = async ({ seed, ops: total, models, folder, refsFrom }) => {
  const wasm = await exports;
  const url = (mode, name) => `${location.origin}/${mode}/${folder}/${name}`;
  const refs = refsFrom ?? await references(models, url);
  window.chaosRefs = refs;
  const random = mulberry32(seed);
  const chance = (p) => random() < p;
  const pick = (list) => list[Math.floor(random() * list.length)];
  const failures = [];
  const fail = (what) => { if (failures.length < 20) failures.push(what); };
  const counts = { ops: 0, byOp: {}, msByOp: {}, rejected: {}, faults: {}, embeddings: 0, maxInFlight: 0, devicesOpened: 0 };
  const slots = [];  // { rt, kind, models: [{ model, index, gone }], dead }

  const check = (slot, label) => {
    if (!slot?.rt || slot.dead) return;
    const books = slot.rt.systemStats().books;
    if (!books.agrees) fail(`${label}: books disagree ${JSON.stringify(books)}`);
    if (books.hostRetainedBytes !== 0) fail(`${label}: wasm copies beyond the books ${JSON.stringify(books)}`);
  };
  const rejected = (label, e, allowed) => {
    const code = e?.code;
    if (!(e instanceof webvram.WebvramError) || !CODES.has(code)) {
      fail(`${label}: rejected with a non-webvram error ${e?.name}: ${e?.message}`);
      return;
    }
    counts.rejected[code] = (counts.rejected[code] ?? 0) + 1;
    if (allowed && !allowed.includes(code)) fail(`${label}: ${code} (${e.message}), expected ${allowed}`);
  };
  const live = () => slots.filter((s) => !s.dead);
  const liveModels = (slot) => slot.models.filter((m) => !m.gone);

  const operations = {
    async create() {
      if (live().length >= 3) return;
      const kind = Math.floor(random() * KINDS.length);
      const slot = { kind, models: [], dead: false, pending: true };
      slots.push(slot);
      try {
        slot.rt = await webvram.Runtime.create({ ...KINDS[kind], rememberBudget: false });
      } finally {
        slot.pending = false;
      }
      slot.rt.addEventListener('error', () => fail('an error event (panic) fired'));
      // Each WebGPU device opened (a GPU runtime, a replacement after a loss) stays registered in
      // burn/cubecl's global device registry: counted for the leak bound (see chaos.test.mjs).
      if (slot.rt.systemStats().devices[0].type !== 'cpu') counts.devicesOpened += 1;
      slot.rt.addEventListener('devicelost', (e) => { if (e.detail.replaced) counts.devicesOpened += 1; });
    },
    async load(slot) {
      const index = Math.floor(random() * models.length);
      const mode = pick(MODES);
      counts.faults[mode] = (counts.faults[mode] ?? 0) + 1;
      const options = { cache: chance(0.5), maxRetries: 2, retryBackoffMs: 1 };
      let controller;
      if (chance(0.1)) {
        controller = new AbortController();
        options.signal = controller.signal;
        setTimeout(() => controller.abort(), Math.floor(random() * 30));
      }
      try {
        const model = await slot.rt.loadModel(url(mode, models[index]), options);
        slot.models.push({ model, index, gone: false });
      } catch (e) {
        const allowed = ['INVALID_STATE', 'ABORTED', 'FETCH', 'INTEGRITY', 'FORMAT'];
        rejected(`load ${mode}`, e, mode === 'ok' && !controller ? ['INVALID_STATE'] : allowed);
      }
    },
    async embed(slot) {
      const entry = pick(liveModels(slot));
      if (!entry) return;
      // The long text (256 tokens, slow on a software GPU) comes in one embed in eight or so.
      const chosen = TEXTS.map((_, i) => i).filter((i) => chance(i === LONG_TEXT ? 0.12 : 0.4));
      const truncate = chance(0.8);
      try {
        const { vectors, stats } = await entry.model.embedWithStats(chosen.map((i) => TEXTS[i]), { truncate });
        if (vectors.length !== chosen.length) fail(`embed: ${vectors.length} vectors for ${chosen.length} texts`);
        if (!truncate && chosen.includes(LONG_TEXT)) fail('embed: the long text was cut although truncate: false');
        const longAt = chosen.indexOf(LONG_TEXT);
        if (stats.truncated !== (longAt >= 0 ? 1 : 0)) fail(`embed: stats.truncated ${stats.truncated}`);
        chosen.forEach((text, i) => {
          const diff = maxDiff(vectors[i], refs[entry.index][text]);
          if (!(diff <= 1e-4)) fail(`embed: text ${text} of model ${entry.index} differs by ${diff}`);
        });
        counts.embeddings += vectors.length;
      } catch (e) {
        const allowed = ['INVALID_STATE', 'OOM', 'DEVICE_LOST'];
        if (!truncate && chosen.includes(LONG_TEXT)) allowed.push('INVALID_INPUT');
        rejected('embed', e, allowed);
      }
    },
    async embedNothing(slot) {
      const entry = pick(liveModels(slot));
      if (!entry) return;
      try {
        const vectors = await entry.model.embed([]);
        if (vectors.length !== 0) fail('embed([]) returned vectors');
      } catch (e) {
        rejected('embed([])', e, ['INVALID_STATE']);
      }
    },
    async bad(slot) {
      const [label, call, code] = pick(BAD_CALLS);
      const entry = pick(liveModels(slot)) ?? { model: null };
      if (!entry.model && label.startsWith('embed')) return;
      // A model of another runtime, for loadModelsGpu.
      const other = slots.find((s) => s !== slot && !s.dead && liveModels(s).length);
      const arg = label === 'loadModelsGpu(model)' ? [other ? liveModels(other)[0].model : {}] : undefined;
      try {
        const wrapped = arg ? () => slot.rt.loadModelsGpu(arg) : () => call(entry.model, slot.rt);
        const result = await wrapped();
        result?.destroy?.();
        fail(`${label} was accepted`);
      } catch (e) {
        rejected(label, e, [code, 'INVALID_STATE']);
      }
    },
    async loadModelsGpu(slot) {
      const chosen = liveModels(slot).filter(() => chance(0.6)).map((m) => m.model);
      try {
        await slot.rt.loadModelsGpu(chosen, { memoryRequired: Math.floor(random() * 8) << 20 });
      } catch (e) {
        rejected('loadModelsGpu', e, ['INVALID_STATE', 'OOM', 'DEVICE_LOST']);
      }
    },
    async free(slot) {
      try {
        await slot.rt.free({ unloadModels: chance(0.5), freeMemory: chance(0.5) });
      } catch (e) {
        rejected('free', e, ['INVALID_STATE', 'DEVICE_LOST']);
      }
    },
    async unload(slot) {
      const entry = pick(liveModels(slot));
      if (!entry) return;
      entry.gone = true;
      try {
        await entry.model.unload();
      } catch (e) {
        rejected('unload', e, ['INVALID_STATE']);
      }
    },
    async drop(slot) {
      const entry = pick(liveModels(slot));
      if (!entry) return;
      entry.gone = true;
      entry.model.free();
    },
    async loseDevice(slot) {
      if (KINDS[slot.kind].vram === 'cpu') return;
      try {
        await slot.rt.loseDevice();
      } catch (e) {
        rejected('loseDevice', e, ['INVALID_STATE']);
      }
    },
    async stats(slot) {
      const stats = slot.rt.systemStats();
      const layers = stats.memory_map.layers;
      for (const { model } of liveModels(slot)) {
        let map;
        try { map = model.memoryMap(); } catch (e) { rejected('memoryMap', e, []); continue; }
        if (map.some((l) => !layers.some((m) => m.model === l.model && m.layer === l.layer && m.tier === l.tier))) {
          fail('memoryMap() disagrees with systemStats().memory_map');
        }
      }
      const tiers = stats.memory_map.gpuBytes;
      if (tiers !== stats.books.bookedGpuBytes) fail(`memory map gpuBytes ${tiers} vs books ${stats.books.bookedGpuBytes}`);
    },
    async destroy(slot) {
      slot.dead = true;
      slot.models.forEach((m) => { m.gone = true; });
      await slot.rt.destroy();
    },
  };
  // Cheap calls are frequent and GPU-heavy ones rare, so a run reaches thousands of operations
  // in minutes on a software adapter; every kind of operation still happens many times.
  const WEIGHTS = { create: 2, load: 4, embed: 16, embedNothing: 6, bad: 24, stats: 14, loadModelsGpu: 8, free: 8, unload: 3, drop: 3, loseDevice: 1, destroy: 1 };
  const table = Object.entries(WEIGHTS).flatMap(([name, w]) => Array(w).fill(name));

  await operations.create();
  const inFlight = new Set();
  let limit = 1;
  for (let n = 0; n < total; n += 1) {
    if (n % 50 === 0) limit = 1 + Math.floor(random() * 4);
    const name = live().length === 0 ? 'create' : pick(table);
    const slot = pick(live().filter((s) => !s.pending)) ?? live()[0];
    counts.ops += 1;
    counts.byOp[name] = (counts.byOp[name] ?? 0) + 1;
    const label = `#${n} ${name}`;
    const task = (async () => {
      const t0 = performance.now();
      try {
        if (name === 'create' || !slot?.rt) await operations.create();
        else await operations[name](slot);
      } catch (e) {
        fail(`${label}: threw ${e?.name}: ${e?.message}`);
      }
      counts.msByOp[name] = Math.round((counts.msByOp[name] ?? 0) + performance.now() - t0);
      check(slot, label);
    })();
    inFlight.add(task);
    task.finally(() => inFlight.delete(task));
    counts.maxInFlight = Math.max(counts.maxInFlight, inFlight.size);
    while (inFlight.size >= limit) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  // The end: every runtime destroyed, nothing left on the device or in wasm memory.
  for (const slot of slots) {
    if (!slot.rt) continue;
    if (!slot.dead) await slot.rt.destroy();
    const { books, memory_map: map } = slot.rt.systemStats();
    if (map.layers.length) fail(`after destroy: ${map.layers.length} layers left`);
    if (books.bookedGpuBytes || books.heldGpuBytes || books.heldHostBytes || books.poolInUseBytes) {
      fail(`after destroy: ${JSON.stringify(books)}`);
    }
  }
  return { seed, counts, failures, wasmMemoryBytes: wasm.memory.buffer.byteLength };
};

/** Bytes live on the wasm heap once the garbage collector has released every dropped handle
 * (the page runs with --expose-gc) and wasm-bindgen's finalizers have run. */
window.settledHeapBytes = async () => {
  for (let i = 0; i < 4; i += 1) {
    window.gc?.();
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return webvram.heapBytesInUse();
};
