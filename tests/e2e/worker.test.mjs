// examples/worker/ in headless Chromium: the runtime runs inside a module worker (WebGPU through
// WorkerNavigator.gpu, SwiftShader here), the page gets Float32Arrays back and keeps ticking.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TEXTS = ['A cat sits on the mat.', 'A kitten is resting on a rug.', 'The stock market fell sharply today.'];
let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(`${root}pkg/webvram_bg.wasm`), 'run scripts/build.sh first');
  assert.ok(existsSync(`${root}www/models/all-MiniLM-L6-v2/model.safetensors`), 'run scripts/fetch-model.sh first (npm test does)');
  ({ server, url: base } = await startServer({ root }));
  browser = await launch({ webgpu: true });
});
after(async () => {
  await browser?.close();
  server?.close();
});

/** Opens the example with `query`, waits until the worker loaded the model (or failed). */
async function openExample(query = '') {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const workers = [];
  page.on('worker', (w) => workers.push(new URL(w.url()).pathname));
  await page.goto(`${base}/examples/worker/${query}`);
  await page.waitForFunction(() => document.body.dataset.model, null, { timeout: 120_000 });
  return { page, errors, workers };
}

const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);

test('the worker embeds on WebGPU and the main thread stays responsive', async (t) => {
  // `auto` would compute on the CPU on a software adapter; `shared` uses SwiftShader's WebGPU.
  const { page, errors, workers } = await openExample('?vram=shared');
  try {
    assert.equal(await page.locator('body').getAttribute('data-model'), 'ready', await page.locator('#error').textContent());
    assert.deepEqual(workers, ['/examples/worker/worker.js']);
    // SHARED means the worker found SwiftShader's adapter through WorkerNavigator.gpu.
    assert.match(await page.locator('#state').textContent(), /^SHARED \(google swiftshader\)/);
    // The worker's load went through Cache Storage (the worker's own `caches`, shared by origin).
    const cached = await page.evaluate(async () => (await (await caches.open('webvram-v1')).keys()).map((r) => new URL(r.url).pathname));
    assert.ok(cached.includes('/www/models/all-MiniLM-L6-v2/config.json'), cached.join(', '));

    const out = await page.evaluate(async (texts) => {
      window.ticker.longestPauseMs = 0;
      const started = performance.now();
      const vectors = await window.embeddings.embed(texts);
      return {
        ms: performance.now() - started,
        ticks: window.ticker.ticks,
        longestPauseMs: window.ticker.longestPauseMs,
        float32: vectors.every((v) => v instanceof Float32Array),
        vectors: vectors.map((v) => Array.from(v)),
      };
    }, TEXTS);
    assert.ok(out.float32, 'the worker sends Float32Arrays');
    assert.equal(out.vectors.length, TEXTS.length);
    for (const v of out.vectors) {
      assert.equal(v.length, 384);
      assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-4, `norm ${Math.sqrt(dot(v, v))}`);
    }
    const [cat, kitten, stocks] = out.vectors;
    assert.ok(dot(cat, kitten) > dot(cat, stocks) + 0.2, `cat~kitten ${dot(cat, kitten)} vs cat~stocks ${dot(cat, stocks)}`);
    // The forward pass takes seconds on SwiftShader; on the main thread it would freeze the ticker.
    assert.ok(out.longestPauseMs < 1000, `main thread paused ${out.longestPauseMs} ms during a ${out.ms} ms embed`);
    t.diagnostic(`worker embed (WebGPU): ${Math.round(out.ms)} ms, longest main-thread pause ${Math.round(out.longestPauseMs)} ms`);

    // The page's own button goes through the same worker and fills the similarity table.
    await page.click('#compare');
    await page.waitForFunction(() => document.querySelectorAll('#similarity tbody tr').length === 3, null, { timeout: 120_000 });
    const cells = await page.locator('#similarity tbody tr').evaluateAll((rows) => rows.map(
      (r) => [...r.querySelectorAll('td')].map((td) => Number(td.textContent)),
    ));
    // The table shows the similarities of the vectors the worker sent, cell by cell.
    cells.forEach((row, i) => row.forEach((cell, j) => {
      assert.ok(Math.abs(cell - dot(out.vectors[i], out.vectors[j])) < 1e-3, `cell ${i},${j}: ${cell}`);
    }));
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
  }
});

test('errors from the worker reach the page with their code', async (t) => {
  // The CPU backend: this test is about the message protocol, not the GPU.
  const { page, errors } = await openExample('?vram=cpu');
  try {
    assert.equal(await page.locator('body').getAttribute('data-model'), 'ready', await page.locator('#error').textContent());
    assert.match(await page.locator('#state').textContent(), /^DISABLED/);
    const failure = await page.evaluate(async () => {
      try {
        await window.embeddings.load(new URL('/no/such/model', location.href).href, { cache: false });
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, message: e.message };
      }
    });
    assert.equal(failure?.code, 'FETCH', JSON.stringify(failure));
    t.diagnostic(`load of a missing model: ${failure.message}`);
    assert.match(failure.message, /404/);
    // The worker still answers after a failed load: no model now, so embed says so.
    const again = await page.evaluate(() => window.embeddings.embed(['x']).then(() => null, (e) => e.code));
    assert.equal(again, 'INVALID_STATE');
    assert.deepEqual(errors.filter((e) => !/404/.test(e)), []);
  } finally {
    await page.close();
  }
});
