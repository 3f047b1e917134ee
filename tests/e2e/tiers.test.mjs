// Every tier real, in headless Chromium on SwiftShader WebGPU against a real 127.0.0.1 server:
// a synthetic BERT checkpoint of ~96 MiB loaded with a 16 MiB GPU budget and a 24 MiB host budget
// streams through wasm memory (which grows by less than the host budget + 16 MiB), runs with
// layers on the GPU, in wasm memory and in Cache Storage at once, and gives the same embeddings
// as a fully resident run; the books (GPU and host) agree after every step; a cache entry
// deleted between two calls is read back by Range from the network and booked `remote`; with
// the cache refused, everything non-resident is `remote` and still runs, and a word table over
// the host budget stays in its file, its rows read per call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../support/fault-server.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const FOLDER = 'target/tmp/tiers/bert-96';
const MIB = 1 << 20;
const BUDGETS = { vram: 'low', vramBudget: 16 * MIB, reserveVram: 0, hostBudget: 24 * MIB };
const TEXTS = ['The cat sits on the mat.', 'Streaming layers from Cache Storage, one at a time.'];
let browser;
let server;

before(async () => {
  // hidden 128 and a 8192-wide feed-forward: ten 8.4 MB blocks and a 15.6 MB word table.
  execFileSync('cargo', ['run', '--quiet', '--example', 'tiny_bert', '--', '--out', FOLDER,
    '--hidden', '128', '--layers', '10', '--heads', '2', '--intermediate', '8192', '--seed', '7'],
  { cwd: root, stdio: 'inherit' });
  const bytes = statSync(`${root}${FOLDER}/model.safetensors`).size;
  assert.ok(bytes > 90 * MIB && bytes < 100 * MIB, `checkpoint is ${bytes} bytes`);
  server = await startFaultServer({ root });
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `body(webvram, url, texts)` in a fresh page of the API test page; returns its result. */
async function inPage(body, arg = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}/ok/tests/e2e/api.html`);
    await page.evaluate(() => window.ready);
    const out = await page.evaluate(
      async ({ source, url, texts, arg }) => {
        // eslint-disable-next-line no-new-func
        const run = new Function(`return (${source})`)();
        return run(window.webvram, url, texts, arg);
      },
      { source: body.toString(), url: `${server.url}/ok/${FOLDER}`, texts: TEXTS, arg },
    );
    assert.deepEqual(errors, [], 'the page reported errors');
    return out;
  } finally {
    await page.close();
  }
}

function maxDiff(a, b) {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** The fully resident run: everything on the GPU, no host cap. */
async function residentVectors() {
  return inPage(async (webvram, url, texts) => {
    const rt = await webvram.Runtime.create({ vram: 'high' });
    const model = await rt.loadModel(url, { cache: false });
    const vectors = (await model.embed(texts)).map((v) => Array.from(v));
    const tiers = model.memoryMap().map((l) => l.tier);
    rt.destroy();
    return { vectors, tiers };
  });
}

test('a 96 MiB model runs on a 16 MiB GPU budget and a 24 MiB host budget, every tier real', { timeout: 600_000 }, async () => {
  const resident = await residentVectors();
  assert.ok(resident.tiers.every((t) => t === 'gpu'), resident.tiers.join());
  const out = await inPage(async (webvram, url, texts, budgets) => {
    const steps = [];
    const rt = await webvram.Runtime.create(budgets);
    const look = (label) => {
      const stats = rt.systemStats();
      steps.push({ label, books: stats.books, wasm: stats.system.wasm_memory_bytes,
        tiers: stats.memory_map.layers.map((l) => l.tier) });
    };
    look('created');
    webvram.heapPeakBytes();
    const model = await rt.loadModel(url, { cache: true });
    const loadPeak = webvram.heapPeakBytes();
    look('loaded');
    const first = (await model.embed(texts)).map((v) => Array.from(v));
    look('first embed');
    const second = (await model.embed(texts)).map((v) => Array.from(v));
    look('second embed');
    // The user clears one file from Cache Storage (webvram's own call, as a page would).
    await webvram.deleteCachedModel(url);
    const third = (await model.embed(texts)).map((v) => Array.from(v));
    look('after the cache lost the file');
    return { steps, first, second, third, loadPeak, info: model.info };
  }, BUDGETS);
  const [created, loaded, , second, afterLoss] = out.steps;
  for (const step of out.steps) {
    assert.ok(step.books.agrees, `${step.label}: ${JSON.stringify(step.books)}`);
    assert.ok(step.books.hostAgrees, `${step.label}: ${JSON.stringify(step.books)}`);
    assert.equal(step.books.hostRetainedBytes, 0, `${step.label}: ${JSON.stringify(step.books)}`);
    assert.ok(step.books.heldHostBytes <= BUDGETS.hostBudget, `${step.label}: ${JSON.stringify(step.books)}`);
  }
  // The load streamed: wasm memory grew by less than the host budget + 16 MiB.
  const grew = loaded.wasm - created.wasm;
  console.log(`wasm memory ${created.wasm} → ${loaded.wasm} bytes during the load (+${(grew / MIB).toFixed(1)} MiB), heap peak ${(out.loadPeak / MIB).toFixed(1)} MiB; tiers after load: ${loaded.tiers.join(',')}`);
  assert.ok(grew < BUDGETS.hostBudget + 16 * MIB, `wasm memory grew by ${grew} bytes`);
  assert.ok(out.loadPeak < BUDGETS.hostBudget + 16 * MIB, `heap peak ${out.loadPeak}`);
  // Layers on the GPU, in wasm memory and in Cache Storage at once.
  console.log(`tiers after two calls: ${second.tiers.join(',')}`);
  for (const tier of ['gpu', 'host', 'cache']) assert.ok(second.tiers.includes(tier), `${tier}: ${second.tiers.join()}`);
  assert.ok(!second.tiers.includes('remote'), second.tiers.join());
  // The same embeddings as the fully resident run, on every call.
  for (const vectors of [out.first, out.second, out.third]) {
    vectors.forEach((v, i) => assert.ok(maxDiff(v, resident.vectors[i]) <= 1e-5, `text ${i}: ${maxDiff(v, resident.vectors[i])}`));
  }
  // After the cache lost the files, the streamed layers came by Range and are booked remote.
  assert.ok(afterLoss.tiers.includes('remote'), afterLoss.tiers.join());
  assert.ok(!afterLoss.tiers.includes('cache'), afterLoss.tiers.join());
  // Header probes read from byte 0; a layer's read starts at its tensors' offset.
  const ranged = server.requests.filter((r) => r.range && !r.range.startsWith('bytes=0-') && r.path.endsWith('model.safetensors'));
  assert.ok(ranged.length > 0, 'layers were read by Range');
});

test('with the cache write refused, everything non-resident is remote and still runs; a word table over the host budget is read by rows', { timeout: 600_000 }, async () => {
  const resident = await residentVectors();
  // 12 MiB: below the 15.6 MB word table, which then stays in its file.
  const budgets = { ...BUDGETS, hostBudget: 12 * MIB };
  const out = await inPage(async (webvram, url, texts, budgets) => {
    await webvram.clearCache();
    Cache.prototype.put = () => Promise.reject(new DOMException('simulated', 'QuotaExceededError'));
    const rt = await webvram.Runtime.create(budgets);
    const model = await rt.loadModel(url, { cache: true });
    const vectors = (await model.embed(texts)).map((v) => Array.from(v));
    const stats = rt.systemStats();
    return { vectors, books: stats.books, tiers: stats.memory_map.layers.map((l) => l.tier),
      info: model.info, pinned: stats.memory_map.models[0].pinnedHostBytes };
  }, budgets);
  assert.ok(out.books.agrees, JSON.stringify(out.books));
  assert.ok(out.books.hostAgrees, JSON.stringify(out.books));
  assert.ok(out.books.heldHostBytes <= budgets.hostBudget, JSON.stringify(out.books));
  assert.deepEqual(out.info.rowReadTables, ['word_embeddings.weight']);
  assert.equal(out.pinned, 0);
  assert.ok(out.tiers.includes('remote'), out.tiers.join());
  assert.ok(!out.tiers.includes('cache'), out.tiers.join());
  out.vectors.forEach((v, i) => assert.ok(maxDiff(v, resident.vectors[i]) <= 1e-5, `text ${i}`));
});
