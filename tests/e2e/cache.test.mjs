// The persistent model cache (Cache Storage) in real headless Chromium, against a real HTTP server on
// 127.0.0.1 that records every request. Each test runs in its own browser context (fresh storage).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../support/fault-server.mjs';
import { expectedChecksums } from '../support/safetensors.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dirA = 'test-output/synth-cache-a';
const dirB = 'test-output/synth-cache-b';
let expectedA;
let browser;

function synth(dir, seed) {
  rmSync(`${root}${dir}`, { recursive: true, force: true });
  execFileSync('cargo', ['run', '--quiet', '--example', 'synth_checkpoint', '--', '--out', dir,
    '--layers', '4', '--layer-mib', '1', '--dtype', 'f16', '--shard-mib', '2', '--seed', String(seed)],
  { cwd: root, stdio: 'inherit' });
}

before(async () => {
  synth(dirA, 11);
  synth(dirB, 12);
  expectedA = expectedChecksums(`${root}${dirA}`);
  browser = await launch({ webgpu: false });
});
after(() => browser?.close());

/** One page on one server; `body(page, urls)` runs the scenario; returns its result and requests. */
async function scenario(body) {
  const server = await startFaultServer({ root });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
    await page.evaluate(() => window.ready);
    const urls = {
      a: `${server.url}/ok/${dirA}/model.safetensors.index.json`,
      b: `${server.url}/ok/${dirB}/model.safetensors.index.json`,
    };
    const result = await body(page, urls, server.requests);
    assert.deepEqual(errors, [], 'the page reported errors');
    return result;
  } finally {
    await page.close();
    await server.close();
  }
}

/** checksumModel in the page, collecting progress phases; errors come back as data. */
function load(page, url, options) {
  return page.evaluate(async ({ url, options }) => {
    const phases = new Set();
    try {
      const report = await window.webvram.checksumModel(url, { ...options, onProgress: (e) => phases.add(e.phase) });
      return { report, phases: [...phases] };
    } catch (err) {
      return { error: { code: err.code, message: err.message } };
    }
  }, { url, options });
}

test('a second load of a cached model makes no network request and yields the same bytes', async () => {
  await scenario(async (page, urls, requests) => {
    const first = await load(page, urls.a, { cache: true });
    assert.equal(first.error, undefined, JSON.stringify(first.error));
    assert.deepEqual(first.report.tensors, expectedA.tensors);
    assert.equal(first.report.cache.storedBytes, expectedA.total + expectedA.indexBytes);
    assert.deepEqual(first.report.cache.skipped, []);
    // Header probes plus one whole-file request per shard: every data byte crosses the network once.
    const firstRequests = requests.length;
    assert.ok(firstRequests > 0);

    const second = await load(page, urls.a, { cache: true });
    assert.equal(second.error, undefined, JSON.stringify(second.error));
    assert.deepEqual(second.report.tensors, expectedA.tensors);
    assert.equal(requests.length, firstRequests, `second load made ${requests.length - firstRequests} requests`);
    assert.ok(second.phases.includes('cache'), `phases ${second.phases}`);
    assert.ok(!second.phases.includes('download'), `phases ${second.phases}`);
    assert.equal(second.report.cache.hitBytes >= expectedA.total, true);
  });
});

test('cachedModels, cacheSize and deleteCachedModel report and remove what is stored', async () => {
  await scenario(async (page, urls, requests) => {
    await load(page, urls.a, { cache: true });
    const listed = await page.evaluate(async () => ({
      models: await window.webvram.cachedModels(),
      size: await window.webvram.cacheSize(),
    }));
    assert.equal(listed.models.length, 1);
    assert.equal(listed.models[0].url, urls.a);
    assert.equal(listed.models[0].bytes, expectedA.total + expectedA.indexBytes);
    assert.equal(listed.models[0].files, expectedA.shards + 1);
    assert.equal(listed.size, listed.models[0].bytes);

    const deleted = await page.evaluate((url) => window.webvram.deleteCachedModel(url), urls.a);
    assert.equal(deleted, true);
    assert.equal(await page.evaluate(() => window.webvram.cacheSize()), 0);
    const before = requests.length;
    const again = await load(page, urls.a, { cache: true });
    assert.deepEqual(again.report.tensors, expectedA.tensors);
    assert.ok(requests.length > before, 'a deleted model was still served from the cache');
  });
});

test('a rejected cache write (simulated QuotaExceededError) never fails the load', async () => {
  await scenario(async (page, urls, requests) => {
    await page.evaluate(() => {
      Cache.prototype.put = () => Promise.reject(new DOMException('simulated', 'QuotaExceededError'));
    });
    const first = await load(page, urls.a, { cache: true });
    assert.equal(first.error, undefined, JSON.stringify(first.error));
    assert.deepEqual(first.report.tensors, expectedA.tensors);
    assert.equal(first.report.cache.storedBytes, 0);
    assert.equal(first.report.cache.skipped.length, expectedA.shards + 1);
    const before = requests.length;
    const second = await load(page, urls.a, { cache: true });
    assert.deepEqual(second.report.tensors, expectedA.tensors);
    assert.ok(requests.length > before, 'nothing was stored, so the second load must use the network');
  });
});

test('when quota is short (simulated estimate), the least recently used other model is evicted', async () => {
  await scenario(async (page, urls) => {
    const a = await load(page, urls.a, { cache: true });
    assert.ok(a.report.cache.storedBytes > 0);
    // Pretend the origin's quota is used up.
    await page.evaluate(() => {
      navigator.storage.estimate = async () => ({ quota: 1e9, usage: 1e9 });
    });
    const b = await load(page, urls.b, { cache: true });
    assert.equal(b.error, undefined, JSON.stringify(b.error));
    assert.deepEqual(b.report.cache.evicted, [urls.a]);
    assert.equal(b.report.cache.storedBytes, 0);
    assert.ok(b.report.cache.skipped.length > 0);
    const models = await page.evaluate(() => window.webvram.cachedModels());
    assert.deepEqual(models.map((m) => m.url), [], 'the estimate still says no room, so B is not stored either');
  });
});

test('a failed load leaves nothing in the cache', async () => {
  await scenario(async (page, urls) => {
    const bad = { ...Object.fromEntries([[expectedA.shardNames[0], '00'.repeat(32)]]) };
    const result = await load(page, urls.a, { cache: true, sha256: bad });
    assert.equal(result.error?.code, 'INTEGRITY');
    assert.equal(await page.evaluate(() => window.webvram.cacheSize()), 0);
    assert.deepEqual(await page.evaluate(() => window.webvram.cachedModels()), []);
  });
});

test('an invalid cache option is a typed INVALID_OPTION error', async () => {
  await scenario(async (page, urls) => {
    const result = await load(page, urls.a, { cache: 'sometimes' });
    assert.equal(result.error?.code, 'INVALID_OPTION');
    assert.match(result.error.message, /cache/);
  });
});
