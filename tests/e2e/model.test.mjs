// all-MiniLM-L6-v2 end to end in headless Chromium on SwiftShader WebGPU: the real weights served
// by a real HTTP server on 127.0.0.1, embeddings compared with sentence-transformers' own
// (tests/reference/minilm_reference.json), in several VRAM states.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../support/fault-server.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const reference = JSON.parse(readFileSync(`${root}tests/reference/minilm_reference.json`, 'utf8'));
const MODEL = 'www/models/all-MiniLM-L6-v2';
const MIB = 1 << 20;
let browser;
let server;

before(async () => {
  assert.ok(existsSync(`${root}${MODEL}/model.safetensors`), 'run scripts/fetch-model.sh first (npm test does)');
  server = await startFaultServer({ root });
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `steps` (a list of {options, unloadReload}) in one page; returns per-step vectors and facts. */
async function embedIn(runtimeOptions, { unloadReload = false, cache = false } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
    const out = await page.evaluate(async ({ url, runtimeOptions, texts, unloadReload, cache }) => {
      await window.ready;
      const rt = await window.webvram.Runtime.create(runtimeOptions);
      let model = await rt.loadModel(url, { cache });
      if (unloadReload) {
        await model.embed(texts.slice(0, 1));
        await model.unload();
        model = await rt.loadModel(url, { cache });
      }
      // The short texts as one batch (padding to the longest), the long one alone: SwiftShader is
      // slow, and padding ten short texts to 256 tokens would cost minutes.
      const long = texts.map((t, i) => [t, i]).filter(([t]) => t.length > 1000);
      const short = texts.map((t, i) => [t, i]).filter(([t]) => t.length <= 1000);
      const { vectors: shortVectors, stats } = await model.embedWithStats(short.map(([t]) => t));
      const vectors = new Array(texts.length);
      short.forEach(([, i], k) => { vectors[i] = shortVectors[k]; });
      for (const [t, i] of long) vectors[i] = (await model.embed([t]))[0];
      const map = model.memoryMap();
      return {
        vectors: vectors.map((v) => Array.from(v)),
        stats,
        state: rt.vramState,
        tiers: map.map((l) => l.tier),
        books: rt.systemStats().books,
        info: model.info,
      };
    }, { url: `${server.url}/ok/${MODEL}`, runtimeOptions, texts: reference.cases.map((c) => c.text), unloadReload, cache });
    assert.deepEqual(errors, [], 'the page reported errors');
    return out;
  } finally {
    await page.close();
  }
}

function assertMatchesReference(vectors) {
  assert.equal(vectors.length, reference.cases.length);
  reference.cases.forEach((c, i) => {
    const got = vectors[i];
    assert.equal(got.length, reference.dim, c.name);
    let dot = 0; let na = 0; let nb = 0; let maxDiff = 0;
    for (let k = 0; k < got.length; k += 1) {
      dot += got[k] * c.embedding[k];
      na += got[k] ** 2;
      nb += c.embedding[k] ** 2;
      maxDiff = Math.max(maxDiff, Math.abs(got[k] - c.embedding[k]));
    }
    const cosine = dot / Math.sqrt(na * nb);
    assert.ok(cosine >= 0.99999, `${c.name}: cosine ${cosine}`);
    assert.ok(maxDiff <= 1e-4, `${c.name}: max abs diff ${maxDiff}`);
  });
}

test('the automatic state computes on the CPU on a software adapter, with the same embeddings', async () => {
  const out = await embedIn({});
  assert.equal(out.state, 'DISABLED');
  assertMatchesReference(out.vectors);
  assert.ok(!out.tiers.includes('gpu'), out.tiers.join());
});

test('embeddings equal sentence-transformers in SHARED on WebGPU', async () => {
  const out = await embedIn({ vram: 'shared' });
  assertMatchesReference(out.vectors);
  assert.equal(out.info.layers, 7);
  assert.ok(out.books.agrees, JSON.stringify(out.books));
  // Unified memory (SHARED): a GPU layer keeps no wasm copy; it can be read back from its file.
  assert.equal(out.state, 'SHARED');
  assert.equal(out.books.hostRetainedBytes, 0, JSON.stringify(out.books));
  assert.equal(out.books.heldHostBytes, out.books.bookedHostBytes, JSON.stringify(out.books));
});

test('LOW_VRAM at a 25% budget streams layers and gives the same embeddings', async () => {
  // 24 MiB is a quarter of the 91 MB checkpoint; the word table stays on the host.
  const out = await embedIn({ vram: 'low', vramBudget: 24 * MIB, reserveVram: 0 });
  assert.equal(out.state, 'LOW_VRAM');
  assertMatchesReference(out.vectors);
  const streamed = out.stats.forward.streamedLayers;
  assert.ok(streamed > 0 && streamed < 7, JSON.stringify(out.stats));
  assert.ok(out.tiers.includes('gpu'), out.tiers.join());
});

test('NO_VRAM streams every layer and gives the same embeddings', async () => {
  const out = await embedIn({ vram: 'none' });
  assert.equal(out.state, 'NO_VRAM');
  assertMatchesReference(out.vectors);
  assert.equal(out.stats.forward.streamedLayers, 7);
  assert.ok(!out.tiers.includes('gpu'), out.tiers.join());
});

test('DISABLED runs on the CPU backend and gives the same embeddings', async () => {
  const out = await embedIn({ vram: 'cpu' });
  assert.equal(out.state, 'DISABLED');
  assertMatchesReference(out.vectors);
});

test('after unload and reload (through the cache) the embeddings are the same', async () => {
  const out = await embedIn({ vram: 'shared' }, { unloadReload: true, cache: true });
  assertMatchesReference(out.vectors);
});
