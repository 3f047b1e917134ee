// The streaming loader in real headless Chromium (fetch + ReadableStream) against a real HTTP
// server on 127.0.0.1 that injects faults. Expected checksums come from reading the files on disk
// with an independent JS reader.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../support/fault-server.mjs';
import { expectedChecksums } from '../support/safetensors.mjs';
import { launch } from './browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const synthDir = 'test-output/synth-e2e';
const INDEX = `${synthDir}/model.safetensors.index.json`;
let expected;
let browser;

before(async () => {
  rmSync(`${root}${synthDir}`, { recursive: true, force: true });
  execFileSync('cargo', ['run', '--quiet', '--example', 'synth_checkpoint', '--', '--out', synthDir,
    '--layers', '6', '--layer-mib', '1', '--dtype', 'f32', '--shard-mib', '2', '--seed', '7'], { cwd: root, stdio: 'inherit' });
  expected = expectedChecksums(`${root}${synthDir}`);
  browser = await launch({ webgpu: false });
});
after(() => browser?.close());

/** Serve with `mode` faults on files matching `target`, run checksumModel in the page. */
async function load(mode, { target = '', options = {}, abortAfterBytes } = {}) {
  const server = await startFaultServer({ root, target });
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
    const result = await page.evaluate(async ({ url, options, abortAfterBytes }) => {
      await window.ready;
      const events = [];
      const controller = new AbortController();
      const onProgress = (e) => {
        events.push(e);
        if (abortAfterBytes && e.loaded >= abortAfterBytes) controller.abort();
      };
      const heap = () => performance.memory?.usedJSHeapSize ?? 0;
      try {
        const report = await window.webvram.checksumModel(url, { ...options, onProgress, signal: controller.signal, retryBackoffMs: 5 });
        return { report, events, heap: heap() };
      } catch (err) {
        return { error: { name: err.name, code: err.code, kind: err.kind, url: err.url, message: err.message }, events };
      }
    }, { url: `${server.url}/${mode}/${INDEX}`, options, abortAfterBytes });
    return { ...result, requests: server.requests };
  } finally {
    await page.close();
    await server.close();
  }
}

function assertMonotone(events) {
  assert.ok(events.length > 0, 'no progress events');
  const total = events[0].total;
  let last = 0;
  for (const e of events) {
    assert.equal(e.total, total, 'total changed during the load');
    assert.ok(e.loaded >= last, `loaded went back from ${last} to ${e.loaded}`);
    last = e.loaded;
  }
  return { total, last };
}

function assertComplete({ report, events, error }) {
  assert.equal(error, undefined, JSON.stringify(error));
  assert.deepEqual(report.tensors, expected.tensors);
  assert.equal(report.total, expected.total);
  const { total, last } = assertMonotone(events);
  assert.equal(total, expected.total);
  assert.equal(last, total, 'progress did not end at total');
  assert.equal(events[0].phase, 'header', 'first event is not a header event');
}

test('a clean sharded load streams every tensor with Range requests', async () => {
  const result = await load('ok');
  assertComplete(result);
  assert.ok(result.report.shards.length >= 3, `only ${result.report.shards.length} shards`);
  assert.equal(result.report.retries, 0);
  assert.ok(result.requests.some((r) => r.range), 'no Range request was made');
});

test('a 404 on one shard is a FETCH error naming that shard', async () => {
  const { error, requests } = await load('not-found', { target: '-00002-' });
  assert.equal(error.code, 'FETCH');
  assert.equal(error.kind, 'not_found');
  assert.match(error.url, /-00002-of-/);
  assert.equal(requests.filter((r) => r.status === 404).length, 1, '404 was retried');
});

test('a 500 is retried and the load then succeeds', async () => {
  const result = await load('error-once', { target: '-00001-' });
  assertComplete(result);
  assert.ok(result.report.retries >= 1);
  assert.ok(result.requests.some((r) => r.status === 500));
});

test('a connection dropped mid-shard resumes from the last byte received', async () => {
  const result = await load('drop-once', { target: '-00002-' });
  assertComplete(result);
  const dropped = result.requests.find((r) => r.dropped !== undefined);
  assert.ok(dropped, 'the server never dropped a connection');
  const resume = result.requests[result.requests.indexOf(dropped) + 1];
  assert.match(resume.range ?? '', /^bytes=\d+-\d+$/);
  const start = Number(/^bytes=(\d+)-/.exec(resume.range)[1]);
  const droppedStart = Number(/^bytes=(\d+)-/.exec(dropped.range ?? 'bytes=0-')[1]);
  assert.ok(start > droppedStart, `resume started at ${start}: a restart, not a resume after the ${dropped.dropped} bytes sent`);
  assert.ok(result.report.retries >= 1);
});

test('a server that ignores Range still loads (stream and skip)', async () => {
  const result = await load('ignore-range');
  assertComplete(result);
  assert.ok(result.requests.every((r) => r.status !== 206), 'server answered 206 despite ignoring Range');
});

test('a slow trickle of small pieces loads correctly', async () => {
  const result = await load('trickle', { target: '-00001-' });
  assertComplete(result);
});

test('a Content-Length longer than the body is detected as truncation', async () => {
  const { error } = await load('length-long', { target: '-00003-', options: { maxRetries: 1 } });
  assert.equal(error?.code, 'FETCH', JSON.stringify(error));
  assert.match(error.kind, /truncated|length_mismatch|network/);
  assert.match(error.url, /-00003-of-/);
});

test('a Content-Length shorter than the file is a length mismatch', async () => {
  const { error } = await load('length-short', { target: '-00002-' });
  assert.equal(error?.code, 'FETCH', JSON.stringify(error));
  assert.equal(error.kind, 'length_mismatch');
  assert.match(error.url, /-00002-of-/);
});

test('an AbortSignal stops the load with ABORTED', async () => {
  const { error, events } = await load('trickle', { abortAfterBytes: 1 << 20 });
  assert.equal(error?.code, 'ABORTED', JSON.stringify(error));
  assert.ok(events.at(-1).loaded < events.at(-1).total);
});

test('wasm memory is bounded by the chunk size, not the shard, and returns to baseline', async () => {
  const server = await startFaultServer({ root });
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
    const sizes = await page.evaluate(async (url) => {
      const wasm = await window.ready;
      const bytes = () => wasm.memory.buffer.byteLength;
      const before = bytes();
      await window.webvram.checksumModel(url, {});
      const afterFirst = bytes();
      for (let i = 0; i < 3; i += 1) await window.webvram.checksumModel(url, {});
      return { before, afterFirst, afterMore: bytes() };
    }, `${server.url}/ok/${INDEX}`);
    const growth = sizes.afterFirst - sizes.before;
    assert.ok(growth <= 4 << 20, `wasm memory grew ${growth} bytes loading ${expected.total} bytes`);
    assert.equal(sizes.afterMore, sizes.afterFirst, 'repeated loads kept growing wasm memory');
  } finally {
    await page.close();
    await server.close();
  }
});
