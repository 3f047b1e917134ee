// Where an embed call spends its time on the CPU path: Chromium's sampling profiler (CDP) over
// `model.embed` on all-MiniLM-L6-v2, self time summed by function (wasm functions by their
// name-section names). Not a benchmark (the profiler slows the page a little); it tells which
// kernels to look at before bench/peers.sh measures the result.
//   node bench/profile.mjs [--module pkg/cpu/index.js] [--vram cpu] [--shape 16x128 | --shape 1x16]
//                          [--reps 3] [--top 30] [--out bench/out/profile.json]
// Needs the package built (scripts/build.sh) and the default model (scripts/fetch-model.sh).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launch } from '../tests/e2e/browser.mjs';
import { startServer } from '../scripts/serve.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    module: { type: 'string', default: 'pkg/cpu/index.js' },
    vram: { type: 'string', default: 'cpu' },
    shape: { type: 'string', default: '16x128' },
    reps: { type: 'string', default: '3' },
    top: { type: 'string', default: '30' },
    out: { type: 'string', default: 'bench/out/profile.json' },
  },
});
const [batch, tokens] = args.shape.split('x').map(Number);
if (!(batch > 0 && tokens > 0)) throw new Error(`--shape wants BATCHxTOKENS, got ${args.shape}`);

const { server, url } = await startServer({ root: repo });
const browser = await launch({ webgpu: false });
try {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error('[page]', String(err)));
  // An empty page of the server's origin, so the module and the model load from it.
  await page.route(`${url}/profile.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await page.goto(`${url}/profile.html`);
  await page.evaluate(async ({ module, vram, batch, tokens }) => {
    const webvram = await import(`/${module}`);
    await webvram.default();
    const rt = await webvram.Runtime.create({ vram });
    const model = await rt.loadModel('/www/models/all-MiniLM-L6-v2/', { cache: false });
    // Texts of about `tokens` word pieces: common words are one piece each, plus [CLS] [SEP].
    const words = 'the cat sat on a mat and we saw it there'.split(' ');
    const text = (i) => Array.from({ length: Math.max(1, tokens - 2) }, (_, j) => words[(i + j) % words.length]).join(' ');
    window.texts = Array.from({ length: batch }, (_, i) => text(i));
    window.model = model;
    await model.embed(window.texts); // warm-up
  }, { module: args.module, vram: args.vram, batch, tokens });

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const ms = await page.evaluate(async (reps) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await window.model.embed(window.texts);
    return (performance.now() - t0) / reps;
  }, Number(args.reps));
  const { profile } = await cdp.send('Profiler.stop');

  // Self time per function: samples × their time deltas, attributed to the sampled node.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id).callFrame;
    const name = frame.functionName || `(anonymous ${frame.url.split('/').pop()})`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  console.log(`${args.module} vram=${args.vram} ${batch}x${tokens}: ${ms.toFixed(1)} ms per embed call (profiled)`);
  console.log('| self ms | share | function |\n|---:|---:|---|');
  for (const r of rows) console.log(`| ${r.ms.toFixed(1)} | ${(100 * r.share).toFixed(1)}% | ${r.name.slice(0, 110)} |`);
  mkdirSync(dirname(resolve(repo, args.out)), { recursive: true });
  writeFileSync(resolve(repo, args.out), JSON.stringify({ module: args.module, vram: args.vram, batch, tokens,
    ms_per_call: ms, total_ms: total / 1000, top: rows }, null, 2));
} finally {
  await browser.close();
  server.close();
}
