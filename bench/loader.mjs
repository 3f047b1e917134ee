// Benchmark: streaming load throughput of webvram's loader (fetch → ReadableStream → wasm →
// validated tensors → checksum consumer) against a plain JS `fetch → arrayBuffer` of the same
// files in the same page, from a 127.0.0.1 server. Prints JSON, then a table.
//
//   node bench/loader.mjs [--mib 128] [--runs 3]
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFaultServer } from '../tests/support/fault-server.mjs';
import { launch } from '../tests/e2e/browser.mjs';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '128' }, runs: { type: 'string', default: '3' } } });
const mib = Number(values.mib);
const runs = Number(values.runs);
const root = fileURLToPath(new URL('..', import.meta.url));
const dir = 'test-output/bench-loader';
rmSync(`${root}${dir}`, { recursive: true, force: true });
const layers = Math.max(1, Math.round(mib / 4));
execFileSync('cargo', ['run', '--quiet', '--release', '--example', 'synth_checkpoint', '--', '--out', dir,
  '--layers', String(layers), '--layer-mib', '4', '--dtype', 'f32', '--shard-mib', '32', '--seed', '1'], { cwd: root, stdio: 'inherit' });

const server = await startFaultServer({ root });
const browser = await launch({ webgpu: false, extraArgs: ['--enable-precise-memory-info'] });
const page = await browser.newPage();
await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
const result = await page.evaluate(async ({ base, dir, runs }) => {
  const wasm = await window.ready;
  const index = await (await fetch(`${base}/${dir}/model.safetensors.index.json`)).json();
  const shards = [...new Set(Object.values(index.weight_map))];
  const heap = () => (performance.memory?.usedJSHeapSize ?? 0) + wasm.memory.buffer.byteLength;
  const sample = async (fn) => {
    let peak = heap();
    const timer = setInterval(() => { peak = Math.max(peak, heap()); }, 5);
    const t0 = performance.now();
    const bytes = await fn();
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    return { seconds, bytes, peak: Math.max(peak, heap()) };
  };
  const plain = async () => {
    let bytes = 0;
    for (const shard of shards) bytes += (await (await fetch(`${base}/${dir}/${shard}`)).arrayBuffer()).byteLength;
    return bytes;
  };
  const webvram = async () => (await window.webvram.checksumModel(`${base}/${dir}/model.safetensors.index.json`, {})).total;
  const out = { plain: [], webvram: [] };
  await plain(); await webvram(); // warm the HTTP cache of neither (no-store) but the code paths
  for (let i = 0; i < runs; i += 1) {
    out.plain.push(await sample(plain));
    out.webvram.push(await sample(webvram));
  }
  return out;
}, { base: `${server.url}/ok`, dir, runs });
await browser.close();
await server.close();

const best = (list) => list.reduce((a, b) => (a.seconds <= b.seconds ? a : b));
const plain = best(result.plain);
const ours = best(result.webvram);
const mbps = (r) => r.bytes / r.seconds / 1e6;
const summary = {
  bench: 'loader',
  bytes: ours.bytes,
  runs,
  plain_fetch_mb_per_s: +mbps(plain).toFixed(1),
  webvram_mb_per_s: +mbps(ours).toFixed(1),
  ratio: +(mbps(ours) / mbps(plain)).toFixed(3),
  plain_peak_heap_mib: +(plain.peak / 2 ** 20).toFixed(1),
  webvram_peak_heap_mib: +(ours.peak / 2 ** 20).toFixed(1),
};
console.log(JSON.stringify(summary));
console.table({
  'plain fetch → arrayBuffer': { 'MB/s': summary.plain_fetch_mb_per_s, 'peak JS+wasm heap MiB': summary.plain_peak_heap_mib },
  'webvram checksumModel': { 'MB/s': summary.webvram_mb_per_s, 'peak JS+wasm heap MiB': summary.webvram_peak_heap_mib },
});
console.log(`ratio webvram / plain: ${summary.ratio} (goal ≥ 0.9)`);
