// The demo page in real headless Chromium, served from 127.0.0.1 by the test: the adapter and
// state panels, loading the default model, the similarity matrix, the memory map, switching the
// runtime's options with Apply, keyboard use, and the layout at laptop and phone sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../scripts/serve.mjs';
import { launch, openDemo } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const shots = fileURLToPath(new URL('../../target/screenshots/', import.meta.url));
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const MIB = 1 << 20;
let server;
let base;

before(async () => {
  mkdirSync(shots, { recursive: true });
  ({ server, url: base } = await startServer({ root }));
});
after(() => server.close());

/** The similarity matrix as numbers (full precision, from the cells' data-value). */
function readMatrix(page) {
  return page.locator('#similarity tbody tr').evaluateAll((rows) => rows.map(
    (r) => [...r.querySelectorAll('td')].map((td) => Number(td.dataset.value)),
  ));
}

/** Each layer's tier, in map order, from the text table. */
function readTiers(page) {
  return page.locator('#memory-map tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.tier));
}

/** Waits until `n` comparisons have finished (or the model failed), then checks it did not fail. */
async function waitForCompares(page, n) {
  await page.waitForFunction(
    (count) => Number(document.body.dataset.compares ?? 0) >= count || document.body.dataset.model === 'error',
    n,
    { timeout: 300_000 },
  );
  assert.equal(await page.locator('body').getAttribute('data-model'), 'ready', await page.locator('#error').textContent());
}

async function screenshot(page, name) {
  await page.evaluate(() => document.activeElement?.blur());
  const path = `${shots}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 1000, `${path} is empty`);
}

/** Switches to the phone viewport and checks nothing makes the page scroll sideways. */
async function assertFitsPhone(page) {
  await page.setViewportSize(PHONE);
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `horizontal scroll on a phone: ${scrollWidth} > ${innerWidth}`);
}

/** Every form control has a label; every button has a name. */
async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() => [
    ...[...document.querySelectorAll('input, select, textarea')].filter((c) => c.labels.length === 0),
    ...[...document.querySelectorAll('button')].filter((b) => !b.textContent.trim()),
  ].map((c) => c.id || c.outerHTML));
  assert.deepEqual(unlabelled, []);
}

test('on a software adapter the demo starts DISABLED and says why', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/?model=none`, LAPTOP);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.equal(await page.locator('#vram-state').textContent(), 'DISABLED');
    assert.match(await page.locator('#reason').textContent(), /software adapter/);
    const reasons = await page.locator('#reasons tbody tr').evaluateAll((rows) => rows.map((r) => r.textContent));
    assert.ok(reasons.some((r) => r.includes('software') && r.includes("'shared'")), reasons.join('\n'));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('demo loads the model on SwiftShader (vram: shared), compares, and keeps the numbers in LOW_VRAM', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/?vram=shared`, LAPTOP);
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
    assert.ok('books' in stats, Object.keys(stats).join());
    const reasons = await page.locator('#reasons tbody tr').count();
    assert.ok(reasons >= 3, `only ${reasons} reasons shown`);
    await assertLabelled(page);

    // The default model loads and compares the four example sentences, every layer on the GPU.
    await waitForCompares(page, 1);
    const before = await readMatrix(page);
    assert.equal(before.length, 4);
    // One row per sentence, each cell shown once per pair: the matrix is symmetric.
    before.forEach((row, i) => row.forEach((cell, j) => assert.equal(cell, before[j][i], `cell ${i},${j}`)));
    assert.ok(before[0][1] > before[0][2] + 0.2, `cat~kitten ${before[0][1]} vs cat~stocks ${before[0][2]}`);
    assert.ok(before[2][3] > before[0][3] + 0.2, `stocks~shares ${before[2][3]} vs cat~shares ${before[0][3]}`);
    const tiersBefore = await readTiers(page);
    assert.equal(tiersBefore.length, 7);
    assert.equal(await page.locator('#map-grid .cell').count(), 7);
    const gpuBefore = tiersBefore.filter((t) => t === 'gpu').length;
    assert.equal(gpuBefore, 7, tiersBefore.join());
    assert.match(await page.locator('#map-summary').textContent(), /7 on the GPU/);

    // Low mode with a 24 MiB budget and no reserve, applied from the keyboard (Enter submits the
    // form): a new runtime, the model again (from the cache), the same sentences again.
    await page.selectOption('#vram-mode', 'low');
    await page.fill('#reserve-mib', '0');
    await page.fill('#budget-mib', '24');
    await page.focus('#budget-mib');
    await page.keyboard.press('Enter');
    await waitForCompares(page, 2);
    assert.equal(await page.locator('#vram-state').textContent(), 'LOW_VRAM');
    const lowStats = JSON.parse(await page.locator('#stats').textContent());
    assert.equal(lowStats.vram_state, 'LOW_VRAM');
    assert.equal(lowStats.policy.budgetBytes, 24 * MIB);
    assert.equal(lowStats.policy.reserveBytes, 0);
    const tiersAfter = await readTiers(page);
    assert.equal(tiersAfter.length, 7);
    const gpuAfter = tiersAfter.filter((t) => t === 'gpu').length;
    assert.ok(gpuAfter < gpuBefore, `GPU layers ${gpuBefore} → ${gpuAfter}: ${tiersAfter.join()}`);
    assert.deepEqual(
      await page.locator('#map-grid .cell').evaluateAll((cells) => cells.map((c) => c.dataset.tier)),
      tiersAfter,
    );
    assert.match(await page.locator('#embed-status').textContent(), /layers streamed/);
    const after = await readMatrix(page);
    after.forEach((row, i) => row.forEach((value, j) => assert.ok(
      Math.abs(value - before[i][j]) < 1e-4,
      `similarity [${i}][${j}] ${before[i][j]} → ${value}`,
    )));
    assert.match(new URL(page.url()).search, /vram=low&reserve=0&budget=24/);
    assert.deepEqual(errors, []);

    await screenshot(page, 'demo-laptop');
    await assertFitsPhone(page);
    await screenshot(page, 'demo-phone');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('without WebGPU the demo shows DISABLED, says why, and compares on the CPU', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/`, PHONE);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.equal(await page.locator('#vram-state').textContent(), 'DISABLED');
    assert.match(await page.locator('#reason').textContent(), /No GPU: navigator\.gpu/);
    const stats = JSON.parse(await page.locator('#stats').textContent());
    assert.equal(stats.devices[0].type, 'cpu');
    assert.equal(stats.devices[0].vram_total, 0);
    await waitForCompares(page, 1);
    const tiers = await readTiers(page);
    assert.ok(tiers.length === 7 && !tiers.includes('gpu'), tiers.join());

    // Ctrl+Enter in the text box compares what was typed.
    await page.fill('#sentences', 'The weather is lovely today.\nIt is sunny outside.');
    await page.focus('#sentences');
    await page.keyboard.press('Control+Enter');
    await waitForCompares(page, 2);
    const cells = await readMatrix(page);
    assert.equal(cells.length, 2);
    assert.ok(cells[0][1] > 0.3 && cells[0][1] < 1, `weather~sunny ${cells[0][1]}`);
    assert.equal(await page.locator('#sentence-list li').count(), 2);
    await assertFitsPhone(page);
    assert.deepEqual(errors, []);
    await screenshot(page, 'demo-no-webgpu-phone');
  } finally {
    await browser.close();
  }
});

test('?model=none takes the settings from the URL and Apply restarts without loading', async () => {
  const browser = await launch({ webgpu: true });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/?model=none&vram=low&reserve=0&budget=64`, LAPTOP);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.equal(await page.locator('#vram-state').textContent(), 'LOW_VRAM');
    assert.equal(await page.locator('#budget').textContent(), '64 MiB');
    assert.equal(await page.locator('#vram-mode').inputValue(), 'low');
    assert.equal(await page.locator('#load-status').textContent(), 'not loaded');
    assert.ok(await page.locator('#compare').isDisabled());
    assert.match(await page.locator('#map-summary').textContent(), /No model loaded/);

    // Keyboard: Tab reaches the mode select, with a visible focus ring; Apply works from the keyboard.
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'vram-mode'; i += 1) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement.id);
    }
    assert.equal(focused, 'vram-mode');
    assert.equal(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'solid');
    await page.selectOption('#vram-mode', 'cpu');
    await page.focus('#apply');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('vram-state').dataset.state === 'DISABLED' && !document.body.dataset.busy);
    assert.equal(await page.locator('#load-status').textContent(), 'not loaded');
    assert.match(new URL(page.url()).search, /model=none&vram=cpu/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('the chat panel loads SmolLM2 on request, streams a reply with its speed, and stops on demand', async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openDemo(browser, `${base}/www/?model=none`, LAPTOP);
    assert.equal(await page.locator('body').getAttribute('data-ready'), 'true', await page.locator('#error').textContent());
    assert.ok(await page.locator('#chat-send').isDisabled(), 'Send before a model is loaded');
    await page.click('#chat-load');
    await page.waitForFunction(() => document.body.dataset.chat === 'ready' || !document.getElementById('error').hidden,
      null, { timeout: 300_000 });
    assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent());
    assert.match(await page.locator('#chat-load-status').textContent(), /loaded in .* 31 layers, context 8192 tokens/);
    // The memory map shows the language model's layers, all in wasm memory on the CPU path.
    const tiers = await readTiers(page);
    assert.equal(tiers.length, 31);
    assert.ok(tiers.every((t) => t === 'host'), tiers.join());
    assert.match(await page.locator('#map-summary').textContent(), /SmolLM2-135M-Instruct/);

    // The default question; Enter sends it. The reply streams into the log, greedy.
    await page.focus('#chat-input');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.dataset.chatReplies === '1' || !document.getElementById('error').hidden,
      null, { timeout: 300_000 });
    const replies = page.locator('#chat-log .chat-assistant');
    assert.match(await replies.nth(0).textContent(), /^The capital of France is Paris\./);
    assert.equal(await page.locator('#chat-log .chat-user').nth(0).textContent(), 'What is the capital of France?');
    const status = await page.locator('#chat-status').textContent();
    assert.match(status, /^\d+ tokens \((stop|length)\) · prompt \d+ tokens in [\d.]+ s · [\d.]+ tokens\/s · all 31 layers on the CPU/);
    assert.ok(Number(status.match(/([\d.]+) tokens\/s/)[1]) > 0, status);

    // A long answer, stopped while it streams: the partial reply stays, marked, and is not
    // sent back as history.
    await page.fill('#chat-input', 'Write a long story about a dragon who learns to bake bread.');
    await page.fill('#chat-max', '400');
    await page.click('#chat-send');
    await page.waitForFunction(() => /so far/.test(document.getElementById('chat-status').textContent));
    assert.equal(await page.locator('#chat-stop').isEnabled(), true);
    await page.click('#chat-stop');
    await page.waitForFunction(() => /^Stopped after \d+ tokens/.test(document.getElementById('chat-status').textContent));
    assert.match(await replies.nth(1).textContent(), / \[stopped\]$/);
    assert.equal(await page.locator('#chat-stop').isDisabled(), true);
    assert.equal(await page.locator('#chat-send').isEnabled(), true);
    assert.equal(await page.locator('body').getAttribute('data-chat-replies'), '1');
    await assertLabelled(page);
    await assertFitsPhone(page);
    assert.deepEqual(errors, []);
    await screenshot(page, 'demo-chat-phone');
  } finally {
    await browser.close();
  }
});
