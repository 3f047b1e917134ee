// Benchmark: the synthetic MLP (default 32 layers × 16 MiB) on SwiftShader's WebGPU in headless
// Chromium.
//  - load: fetch → parse → upload into GPU tensors (webvram; each layer uploaded while the next
//    ones download, and for reference, load then upload) against a plain JS loop
//    (fetch → arrayBuffer → device.queue.writeBuffer, one buffer per shard) in the same page;
//  - residency: forward time at budgets of 100%, 50%, 25% and 0% of the weights, as ratios to
//    100%, and the bytes each call uploaded against the bytes the plan left off the device.
// Prints JSON, then tables.
//
//   node bench/residency.mjs [--layers 32] [--width 2048] [--batch 1] [--runs 3] [--load-runs 3]
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFaultServer } from '../tests/support/fault-server.mjs';
import { launch } from '../tests/e2e/browser.mjs';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '32' },
    width: { type: 'string', default: '2048' },
    batch: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    'load-runs': { type: 'string', default: '3' },
  },
});
const [layers, width, batch, runs, loadRuns] =
  [values.layers, values.width, values.batch, values.runs, values['load-runs']].map(Number);
const seed = 5;
const root = fileURLToPath(new URL('..', import.meta.url));
const dir = 'test-output/bench-residency';
rmSync(`${root}${dir}`, { recursive: true, force: true });
execFileSync('cargo', ['run', '--quiet', '--release', '--example', 'synth_checkpoint', '--', '--out', dir,
  '--layers', String(layers), '--width', String(width), '--dtype', 'f32', '--shard-mib', '128',
  '--seed', String(seed)], { cwd: root, stdio: 'inherit' });

const server = await startFaultServer({ root });
const browser = await launch({ webgpu: true });
const page = await browser.newPage();
page.on('console', (msg) => { if (msg.type() === 'error') console.error(`[page] ${msg.text()}`); });
await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
const result = await page.evaluate(async ({ base, model, batch, runs, loadRuns }) => {
  await window.ready;
  // A small model fits one file (no index); a large one is sharded.
  const indexResponse = await fetch(`${base}/model.safetensors.index.json`);
  const sharded = indexResponse.ok;
  const indexUrl = sharded ? indexResponse.url : `${base}/model.safetensors`;
  const shards = sharded ? [...new Set(Object.values((await indexResponse.json()).weight_map))] : ['model.safetensors'];
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ requiredLimits: { maxBufferSize: adapter.limits.maxBufferSize } });

  // The plain loop: what a page without webvram would write to move the same bytes to the GPU.
  const plain = async () => {
    const t0 = performance.now();
    const buffers = [];
    let bytes = 0;
    for (const shard of shards) {
      const data = await (await fetch(`${base}/${shard}`)).arrayBuffer();
      const size = Math.ceil(data.byteLength / 4) * 4;
      const buffer = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, data, 0, data.byteLength - (data.byteLength % 4));
      buffers.push(buffer);
      bytes += data.byteLength;
    }
    await device.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    for (const buffer of buffers) buffer.destroy();
    return { bytes, ms };
  };
  const ours = async () => {
    const report = await window.webvram.benchSyntheticModel(indexUrl, { ...model, fractions: [] });
    return { bytes: report.load.fileBytes, ms: report.load.fetchMs + report.load.uploadMs, ...report.load };
  };
  const load = { plain: [], webvram: [] };
  for (let i = 0; i < loadRuns; i += 1) {
    load.plain.push(await plain());
    load.webvram.push(await ours());
  }
  device.destroy();
  const report = await window.webvram.benchSyntheticModel(indexUrl, { ...model, batch, runs });
  return { load, report };
}, { base: `${server.url}/ok/${dir}`, model: { layers, width, seed }, batch, runs, loadRuns });
await browser.close();
await server.close();
rmSync(`${root}${dir}`, { recursive: true, force: true });

const best = (list) => list.reduce((a, b) => (a.ms <= b.ms ? a : b));
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const mbps = (r) => r.bytes / r.ms / 1e3;
const { load, report } = result;
const plain = best(load.plain);
const ours = best(load.webvram);
const oursStreamed = best(load.webvram.map((r) => ({ bytes: r.bytes, ms: r.streamedMs })));
const full = median(report.residency.find((r) => r.fraction >= 1)?.forwardMs ?? [NaN]);
const residency = report.residency.map((r) => ({
  budget_percent: Math.round(r.fraction * 100),
  state: r.state,
  resident_percent: +(100 * r.residentBytes / report.modelBytes).toFixed(1),
  forward_ms: +median(r.forwardMs).toFixed(1),
  ratio_to_full: +(median(r.forwardMs) / full).toFixed(3),
  uploaded_mib: +(r.uploadedBytes / 2 ** 20).toFixed(1),
  non_resident_mib: +(r.nonResidentBytes / 2 ** 20).toFixed(1),
  uploads_match: Math.abs(r.uploadedBytes - r.nonResidentBytes) <= r.nonResidentBytes / 100,
  max_relative_diff: r.maxRelativeDiff,
}));
const summary = {
  bench: 'residency',
  adapter: report.adapter,
  model: { layers, width, batch, bytes: report.modelBytes, layer_bytes: report.layerBytes },
  load: {
    plain_writebuffer_mb_per_s: +mbps(plain).toFixed(1),
    // What loadModel and the first call do today: load into wasm memory, then upload.
    webvram_mb_per_s: +mbps(ours).toFixed(1),
    ratio: +(mbps(ours) / mbps(plain)).toFixed(3),
    webvram_fetch_ms: +ours.fetchMs.toFixed(1),
    webvram_upload_ms: +ours.uploadMs.toFixed(1),
    // Each layer uploaded while the next ones download (Executor::apply_streaming).
    streamed_mb_per_s: +mbps(oursStreamed).toFixed(1),
    streamed_ratio: +(mbps(oursStreamed) / mbps(plain)).toFixed(3),
    streamed_ms: +oursStreamed.ms.toFixed(1),
  },
  residency,
};
console.log(JSON.stringify(summary));
console.table({
  'plain fetch → writeBuffer': { 'MB/s': summary.load.plain_writebuffer_mb_per_s },
  'webvram → GPU tensors (load, then upload)': { 'MB/s': summary.load.webvram_mb_per_s },
  'webvram → GPU tensors (upload while streaming)': { 'MB/s': summary.load.streamed_mb_per_s },
});
console.log(`load ratio webvram / plain: ${summary.load.ratio}, streamed ${summary.load.streamed_ratio} (goal ≥ 0.9)`);
console.table(residency);
const half = residency.find((r) => r.budget_percent === 50);
if (half) console.log(`forward at 50% budget: ${half.ratio_to_full}× the fully resident time (goal ≤ 1.25)`);
if (!residency.every((r) => r.uploads_match)) {
  console.error('uploaded bytes differ from the non-resident bytes by more than 1%');
  process.exitCode = 1;
}
