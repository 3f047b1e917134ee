// Benchmark: all-MiniLM-L6-v2 embeddings per second in headless Chromium (SwiftShader WebGPU here),
// per VRAM state, for batch 1 (one short sentence) and batch 16 × 128 tokens. Prints JSON, then a table.
//
//   node bench/embed.mjs [--runs 3] [--states auto,shared,low,none,cpu]
// (`auto` is the CPU path on a software adapter such as SwiftShader; `shared` forces its WebGPU.)
import { parseArgs } from 'node:util';
import { startFaultServer } from '../tests/support/fault-server.mjs';
import { launch } from '../tests/e2e/browser.mjs';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' },
  states: { type: 'string', default: 'auto,shared,low,none,cpu' },
} });
const runs = Number(values.runs);
const MIB = 1 << 20;
const configs = {
  auto: {},
  shared: { vram: 'shared' },
  // 64 MiB: batch 16 × 128 needs ~50 MiB of activations, so only part of the 43 MiB of GPU weights fits.
  low: { vram: 'low', vramBudget: 64 * MIB, reserveVram: 0 },
  none: { vram: 'none' },
  cpu: { vram: 'cpu' },
};
const root = fileURLToPath(new URL('..', import.meta.url));
const server = await startFaultServer({ root });
const browser = await launch({ webgpu: true });
const rows = [];
for (const name of values.states.split(',')) {
  const page = await browser.newPage();
  await page.goto(`${server.url}/ok/tests/e2e/loader.html`);
  const row = await page.evaluate(async ({ url, options, runs }) => {
    await window.ready;
    const rt = await window.webvram.Runtime.create(options);
    const model = await rt.loadModel(url, { cache: false });
    // 128 tokens: [CLS] + 126 word pieces + [SEP] (each "word" below is one token).
    const long = Array.from({ length: 126 }, (_, i) => ['alpha', 'beta', 'gamma', 'delta'][i % 4]).join(' ');
    const batch16 = Array.from({ length: 16 }, () => long);
    const time = async (texts) => {
      const t0 = performance.now();
      const { stats } = await model.embedWithStats(texts);
      return { seconds: (performance.now() - t0) / 1000, streamed: stats.forward.streamedLayers };
    };
    await time(['warm up']);
    const one = [];
    for (let i = 0; i < runs; i += 1) one.push(await time(['The quick brown fox jumps over the lazy dog.']));
    const sixteen = await time(batch16);
    const best = Math.min(...one.map((r) => r.seconds));
    return {
      state: rt.vramState,
      batch1_per_s: 1 / best,
      batch16x128_per_s: 16 / sixteen.seconds,
      streamed_layers: sixteen.streamed,
    };
  }, { url: `${server.url}/ok/www/models/all-MiniLM-L6-v2`, options: configs[name], runs });
  rows.push({ mode: name, ...row });
  await page.close();
}
await browser.close();
await server.close();
const summary = rows.map((r) => ({
  ...r,
  batch1_per_s: +r.batch1_per_s.toFixed(2),
  batch16x128_per_s: +r.batch16x128_per_s.toFixed(3),
}));
console.log(JSON.stringify({ bench: 'embed', runs, results: summary }));
console.table(Object.fromEntries(summary.map((r) => [`${r.mode} (${r.state})`, {
  'batch 1 emb/s': r.batch1_per_s, 'batch 16×128 emb/s': r.batch16x128_per_s, 'layers streamed': r.streamed_layers,
}])));
