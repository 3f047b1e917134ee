#!/usr/bin/env node
// A model bigger than wasm32's 4 GiB, in headless Chromium: a generated, sharded BERT checkpoint of
// ~6 GiB (f32 on disk) loaded with a 512 MiB host budget, so that wasm memory never holds it:
// the load keeps the host tier's share and stores the rest in Cache Storage, and each forward
// streams the rest back from there. Records load time, wasm memory (the `WebAssembly.Memory` byte
// length, which only grows: its last value is the peak) during load and forward, forward time,
// and forward time ÷ the time the same page takes to read the same non-resident bytes straight
// from Cache Storage (`blob.slice().arrayBuffer()`); embeddings against a native run of the same
// folder with every layer in memory (`examples/embed_folder.rs`).
//
//   node bench/bigmodel.mjs [--gib 6] [--runs 2] [--host-mib 512] [--gpu]
//   --gpu: also LOW_VRAM with a 1 GiB GPU budget on SwiftShader (its compute is slow: minutes).
// Writes bench/out/bigmodel.json and prints a table. Build the package first (npm run build).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFaultServer } from '../tests/support/fault-server.mjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { WEBGPU_ARGS } from '../tests/e2e/browser.mjs';

const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '6' },
    runs: { type: 'string', default: '2' },
    gpu: { type: 'boolean', default: false },
    'host-mib': { type: 'string', default: '512' },
  },
});
const MIB = 1 << 20;
const GIB = 1 << 30;
const root = fileURLToPath(new URL('..', import.meta.url));
// hidden 1024 and a 16384-wide feed-forward: 144 MiB blocks whose largest tensors (64 MiB) fit
// every adapter's storage-binding limit; a 119 MiB word table.
const SHAPE = { hidden: 1024, heads: 16, intermediate: 16384 };
const blockBytes = 4 * (4 * SHAPE.hidden ** 2 + 2 * SHAPE.hidden * SHAPE.intermediate);
const layers = Math.max(1, Math.round((Number(values.gib) * GIB - 30522 * SHAPE.hidden * 4) / blockBytes));
const dir = `target/tmp/bigmodel-${layers}`;
const folder = `${root}${dir}`;
const TEXTS = ['Hi', 'The cat sits.'];
const HOST_BUDGET = Number(values['host-mib']) * MIB;

// The checkpoint (once; ~1 minute per 6 GiB) and its reference embeddings.
const stamp = `${folder}/done.json`;
if (!existsSync(stamp)) {
  rmSync(folder, { recursive: true, force: true });
  console.error(`[bigmodel] writing ${layers} blocks of ${(blockBytes / MIB).toFixed(0)} MiB into ${dir}`);
  execFileSync('cargo', ['run', '--quiet', '--example', 'tiny_bert', '--', '--out', dir,
    '--hidden', String(SHAPE.hidden), '--heads', String(SHAPE.heads), '--intermediate', String(SHAPE.intermediate),
    '--layers', String(layers), '--seed', '11', '--shard-mib', '1024'], { cwd: root, stdio: 'inherit' });
  console.error('[bigmodel] reference: a native run with every layer in memory');
  const reference = execFileSync('cargo', ['run', '--quiet', '--example', 'embed_folder', '--', dir, ...TEXTS],
    { cwd: root, maxBuffer: 64 * MIB }).toString();
  writeFileSync(`${folder}/reference.json`, reference);
  writeFileSync(stamp, JSON.stringify({ layers, ...SHAPE }));
}
const reference = JSON.parse(readFileSync(`${folder}/reference.json`, 'utf8')).vectors;
const shards = readdirSync(folder).filter((n) => n.endsWith('.safetensors')).sort();
const checkpointBytes = shards.reduce((sum, n) => sum + statSync(`${folder}/${n}`).size, 0);
console.error(`[bigmodel] ${(checkpointBytes / GIB).toFixed(2)} GiB in ${shards.length} shards`);

const server = await startFaultServer({ root });
// A persistent profile: an incognito context's Cache Storage quota is a few hundred MiB in memory.
const profile = mkdtempSync(`${tmpdir()}/webvram-bigmodel-`);
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: WEBGPU_ARGS,
});

/** One configuration in a fresh page: load (storing into Cache Storage), `runs` forwards, then the raw read. */
async function measure(label, options) {
  const page = await browser.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') console.error(`[page] ${msg.text()}`); });
  try {
    await page.goto(`${server.url}/ok/tests/e2e/api.html`);
    await page.evaluate(() => window.ready);
    return await page.evaluate(async ({ url, options, texts, runs, shards }) => {
      const { webvram } = window;
      await webvram.clearCache();
      const rt = await webvram.Runtime.create(options);
      const wasm = () => rt.systemStats().system.wasm_memory_bytes;
      const created = wasm();
      webvram.heapPeakBytes();
      let t = performance.now();
      const model = await rt.loadModel(url, { cache: true });
      const loadMs = performance.now() - t;
      const loadHeapPeak = webvram.heapPeakBytes();
      const loaded = wasm();
      const mapAfterLoad = model.memoryMap().map((l) => ({ tier: l.tier, bytes: l.bytes }));
      const forwards = [];
      let vectors;
      for (let r = 0; r < runs; r++) {
        t = performance.now();
        const out = await model.embedWithStats(texts);
        forwards.push({ ms: performance.now() - t, fetchedBytes: out.stats.forward.fetchedBytes,
          uploadedBytes: out.stats.forward.uploadedBytes, streamedLayers: out.stats.forward.streamedLayers,
          readAheadLayers: out.stats.forward.readAheadLayers });
        vectors = out.vectors.map((v) => Array.from(v));
      }
      const forwardHeapPeak = webvram.heapPeakBytes();
      const afterForward = wasm();
      const stats = rt.systemStats();
      const tiers = model.memoryMap().map((l) => l.tier);
      // The floor: the same page reading the model's files straight from Cache Storage.
      const cache = await caches.open('webvram-v1');
      const keys = (await cache.keys()).map((r) => r.url);
      let readBytes = 0;
      t = performance.now();
      for (const shard of shards) {
        const key = keys.find((k) => k.endsWith(`/${shard}`));
        if (!key) throw new Error(`${shard} is not in Cache Storage: ${keys.length} keys (${keys.slice(0, 3)}); tiers ${tiers}`);
        const blob = await (await cache.match(key)).blob();
        for (let at = 0; at < blob.size; at += 64 << 20) {
          readBytes += (await blob.slice(at, Math.min(blob.size, at + (64 << 20))).arrayBuffer()).byteLength;
        }
      }
      const readMs = performance.now() - t;
      rt.destroy();
      await webvram.clearCache();
      return { created, loaded, afterForward, loadMs, loadHeapPeak, forwardHeapPeak, forwards, vectors,
        tiers, mapAfterLoad, books: stats.books, state: stats.policy?.state ?? rt.vramState, readBytes, readMs };
    }, { url: `${server.url}/ok/${dir}`, options, texts: TEXTS, runs: Number(values.runs), shards });
  } finally {
    await page.close();
  }
}

const configs = [['cpu', { vram: 'cpu', hostBudget: HOST_BUDGET }]];
if (values.gpu) configs.push(['low-1gib', { vram: 'low', vramBudget: GIB, reserveVram: 0, hostBudget: HOST_BUDGET }]);
const results = {};
for (const [label, options] of configs) {
  console.error(`[bigmodel] ${label}: ${JSON.stringify(options)}`);
  try {
    const r = await measure(label, options);
    const count = (tier) => r.tiers.filter((x) => x === tier).length;
    const nonResident = r.forwards.at(-1).fetchedBytes;
    const readRate = r.readBytes / r.readMs; // bytes per ms
    const forwardMs = Math.min(...r.forwards.map((f) => f.ms));
    const maxDiff = Math.max(...r.vectors.flatMap((v, i) => v.map((x, j) => Math.abs(x - reference[i][j]))));
    results[label] = {
      options, checkpoint_bytes: checkpointBytes, layers: r.tiers.length,
      tiers: { gpu: count('gpu'), host: count('host'), cache: count('cache'), remote: count('remote') },
      load_ms: r.loadMs, wasm_memory_bytes: { created: r.created, after_load: r.loaded, after_forward: r.afterForward },
      heap_peak_bytes: { load: r.loadHeapPeak, forward: r.forwardHeapPeak },
      forwards: r.forwards, forward_ms: forwardMs, non_resident_bytes_per_forward: nonResident,
      raw_cache_read: { bytes: r.readBytes, ms: r.readMs, mib_per_s: readRate * 1000 / MIB },
      forward_over_raw_read: forwardMs / (nonResident / readRate),
      max_abs_diff_vs_native_resident: maxDiff, books: r.books,
    };
  } catch (e) {
    results[label] = { options, error: String(e).slice(0, 500) };
  }
}
await browser.close();
await server.close();
rmSync(profile, { recursive: true, force: true });
mkdirSync(`${root}bench/out`, { recursive: true });
writeFileSync(`${root}bench/out/bigmodel.json`, JSON.stringify(results, null, 1));
console.log(JSON.stringify(results, (k, v) => (k === 'books' ? undefined : v), 1));

const mib = (b) => (b / MIB).toFixed(0);
console.log(`\n| ${(checkpointBytes / GIB).toFixed(2)} GiB checkpoint | tiers gpu/host/cache/remote | load | wasm memory after load / forward | forward | non-resident read per forward | raw Cache Storage read | forward ÷ raw read | max abs diff vs native |`);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [label, r] of Object.entries(results)) {
  if (r.error) { console.log(`| ${label} | error: ${r.error.slice(0, 120)} |||||||`); continue; }
  const t = r.tiers;
  console.log(`| ${label} | ${t.gpu}/${t.host}/${t.cache}/${t.remote} | ${(r.load_ms / 1000).toFixed(1)} s | ${mib(r.wasm_memory_bytes.after_load)} / ${mib(r.wasm_memory_bytes.after_forward)} MiB | `
    + `${(r.forward_ms / 1000).toFixed(2)} s | ${mib(r.non_resident_bytes_per_forward)} MiB | ${r.raw_cache_read.mib_per_s.toFixed(0)} MiB/s | `
    + `${r.forward_over_raw_read.toFixed(2)}× | ${r.max_abs_diff_vs_native_resident.toExponential(1)} |`);
}
