// The demo page in real headless Chromium, served from 127.0.0.1 by the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { launch, openDemo } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = fileURLToPath(new URL('../../test-output/e2e/', import.meta.url));
let server;
let base;

before(async () => {
  mkdirSync(out, { recursive: true });
  ({ server, url: base } = await startServer({ root }));
});
after(() => server.close());

test('demo shows the SwiftShader adapter profile and the SHARED state', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/`);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.equal(await page.locator('#vram-state').textContent(), 'SHARED');
    const adapter = await page.locator('#adapter').textContent();
    assert.match(adapter, /Vendorgoogle/);
    assert.match(adapter, /Architectureswiftshader/);
    assert.match(adapter, /Fallback adaptertrue/);
    const stats = JSON.parse(await page.locator('#stats').textContent());
    assert.equal(stats.vram_state, 'SHARED');
    assert.equal(stats.devices[0].type, 'webgpu');
    assert.ok(stats.devices[0].vram_total > 0);
    assert.equal(stats.devices[0].vram_total, stats.policy.budgetBytes);
    const reasons = await page.locator('#reasons tbody tr').count();
    assert.ok(reasons >= 3, `only ${reasons} reasons shown`);
    // The default model loads and compares the three example sentences.
    await page.waitForFunction(() => document.body.dataset.model, null, { timeout: 300_000 });
    assert.equal(await page.locator('body').getAttribute('data-model'), 'ready', await page.locator('#error').textContent());
    const cells = await page.locator('#similarity tbody tr').evaluateAll((rows) => rows.map(
      (r) => [...r.querySelectorAll('td')].map((td) => Number(td.textContent)),
    ));
    assert.equal(cells.length, 3);
    cells.forEach((row, i) => assert.ok(Math.abs(row[i] - 1) < 1e-3, `self-similarity ${row[i]}`));
    assert.ok(cells[0][1] > cells[0][2] + 0.2, `cat~kitten ${cells[0][1]} vs cat~stocks ${cells[0][2]}`);
    assert.equal(await page.locator('#memory-map tbody tr').count(), 7);
    assert.deepEqual(errors, []);
    await page.screenshot({ path: `${out}demo-webgpu.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});

test('without WebGPU the demo shows DISABLED and says why', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/`);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.equal(await page.locator('#vram-state').textContent(), 'DISABLED');
    assert.match(await page.locator('#reason').textContent(), /No GPU: navigator\.gpu/);
    const stats = JSON.parse(await page.locator('#stats').textContent());
    assert.equal(stats.devices[0].type, 'cpu');
    assert.equal(stats.devices[0].vram_total, 0);
    assert.deepEqual(errors, []);
    await page.screenshot({ path: `${out}demo-no-webgpu.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});
