// The npm package as a user gets it: `npm pack`, the tarball installed into a fresh project, then
// `import init, { Runtime } from 'webvram'` in a plain ESM page (import map) and in a Vite build (a
// page and a module worker), each opened in headless Chromium and asked for real all-MiniLM-L6-v2
// embeddings (on the CPU backend: see pack-app/embed.js). `webvram/select` must pick the CPU-only
// module with relaxed SIMD (`webvram/cpu-relaxed`) in this browser, which has no WebGPU adapter and
// has relaxed SIMD, and fetch only its wasm; its embeddings must match `webvram/cpu`'s (SIMD128).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'vite';
import { startServer } from '../../scripts/serve.mjs';
import { launch } from './browser.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const MODEL = join(root, 'www/models/all-MiniLM-L6-v2');
// The fresh project's pages and modules (copied next to its node_modules).
const APP = join(root, 'tests/e2e/pack-app');

let tmp;
let app;
let pack;
let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(join(root, 'pkg/webvram_bg.wasm')), 'run scripts/build.sh first');
  assert.ok(existsSync(join(MODEL, 'model.safetensors')), 'run scripts/fetch-model.sh first (npm test does)');
  tmp = await mkdtemp(join(tmpdir(), 'webvram-pack-'));
  const { stdout } = await run('npm', ['pack', '--pack-destination', tmp, '--json', '--silent'], { cwd: root });
  [pack] = JSON.parse(stdout);
  app = join(tmp, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // The tarball has no dependencies, so the install needs no network.
  await run('npm', ['install', join(tmp, pack.filename), '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });
  await cp(APP, app, { recursive: true });
  // Both pages load the model from /models/ on the same server.
  await symlink(join(root, 'www/models'), join(app, 'models'), 'dir');
  ({ server, url: base } = await startServer({ root: app }));
  browser = await launch({ webgpu: false });
});

after(async () => {
  await browser?.close();
  server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Opens `path` on the app's server; resolves to the page's result and the wasm URLs it fetched. */
async function openApp(path) {
  const page = await browser.newPage();
  const errors = [];
  const wasm = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  try {
    await page.goto(`${base}${path}`);
    await page.waitForFunction(() => window.result, null, { timeout: 90_000 });
    const result = await page.evaluate(() => window.result);
    assert.deepEqual(errors, [], 'the page reported errors');
    return { result, wasm };
  } finally {
    await page.close();
  }
}

function assertEmbeddings(result, build = 'gpu') {
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.vramState, 'DISABLED');
  assert.equal(result.build, build, 'systemStats().system.webvram_build');
  assert.ok(result.float32, 'embed resolves to Float32Arrays');
  const [cat, kitten, stocks] = result.vectors;
  const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
  for (const v of result.vectors) {
    assert.equal(v.length, 384);
    assert.ok(Math.abs(Math.sqrt(dot(v, v)) - 1) < 1e-4, `norm ${Math.sqrt(dot(v, v))}`);
  }
  assert.ok(dot(cat, kitten) > dot(cat, stocks) + 0.2, `cat~kitten ${dot(cat, kitten)} vs cat~stocks ${dot(cat, stocks)}`);
}

test('the tarball holds the built package and nothing else, and its entry points resolve', async () => {
  const files = pack.files.map((f) => f.path);
  const modules = ['pkg/webvram.js', 'pkg/webvram.d.ts', 'pkg/webvram_bg.wasm'];
  const cpuModules = ['pkg/cpu/', 'pkg/cpu-relaxed/'].flatMap((dir) => modules.map((f) => f.replace('pkg/', dir)));
  for (const file of ['package.json', 'pkg/select.js', 'pkg/select.d.ts', ...modules, ...cpuModules]) {
    assert.ok(files.includes(file), `${file} missing from ${files.join(', ')}`);
  }
  // pkg/snippets/ holds the JS files the Rust side imports (wasm-bindgen's `module = "/js/…"`).
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE[-\w.]*|pkg\/select\.(js|d\.ts)|pkg\/(cpu(-relaxed)?\/)?((index|errors)\.(js|d\.ts)|webvram[\w.]*\.(js|d\.ts|wasm)|snippets\/.+\.(m?js|d\.ts)))$/.test(f));
  assert.deepEqual(stray, [], 'unexpected files in the tarball');

  const installed = join(app, 'node_modules/webvram');
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
  assert.equal(manifest.exports['.'].types, manifest.types);
  const targets = [manifest.main, manifest.types];
  for (const dir of ['.', './cpu', './cpu-relaxed']) targets.push(manifest.exports[`${dir}/webvram_bg.wasm`]);
  for (const entry of ['.', './cpu', './cpu-relaxed', './select']) targets.push(manifest.exports[entry].default, manifest.exports[entry].types);
  for (const target of targets) {
    assert.ok(existsSync(join(installed, target)), `${target} is named in package.json but not installed`);
  }
  // Resolution as Node and bundlers do it, from the fresh project.
  const require = createRequire(join(app, 'package.json'));
  assert.equal(require.resolve('webvram'), join(installed, 'pkg/index.js'));
  assert.equal(require.resolve('webvram/webvram_bg.wasm'), join(installed, 'pkg/webvram_bg.wasm'));
  assert.equal(require.resolve('webvram/cpu'), join(installed, 'pkg/cpu/index.js'));
  assert.equal(require.resolve('webvram/cpu-relaxed'), join(installed, 'pkg/cpu-relaxed/index.js'));
  assert.equal(require.resolve('webvram/select'), join(installed, 'pkg/select.js'));
  // Every module the entries and the glue import (wasm-bindgen's snippets) must ship with them.
  for (const module of ['pkg/index.js', 'pkg/webvram.js', 'pkg/cpu/index.js', 'pkg/cpu/webvram.js',
    'pkg/cpu-relaxed/index.js', 'pkg/cpu-relaxed/webvram.js', 'pkg/select.js']) {
    const source = await readFile(join(installed, module), 'utf8');
    for (const [, spec] of source.matchAll(/\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      assert.ok(files.includes(posix.join(posix.dirname(module), spec)), `${module} imports ${spec}, which is not in the tarball`);
    }
  }
  const select = await readFile(join(installed, 'pkg/select.js'), 'utf8');
  for (const [, spec] of select.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    assert.ok(files.includes(posix.join('pkg', spec)), `pkg/select.js imports ${spec}, which is not in the tarball`);
  }
  // The entry's types re-export the glue's and the error classes'.
  const entryTypes = await readFile(join(installed, manifest.types), 'utf8');
  assert.match(entryTypes, /export \* from '\.\/webvram'/);
  assert.match(entryTypes, /export \* from '\.\/errors'/);
  const types = await readFile(join(installed, 'pkg/webvram.d.ts'), 'utf8');
  assert.match(types, /export default function __wbg_init/);
  assert.match(types, /export class Runtime\b/);
  assert.match(types, /create\(options\??: RuntimeOptions/);
  assert.match(await readFile(join(installed, 'pkg/errors.d.ts'), 'utf8'), /export class OutOfMemoryError extends WebvramError/);
  assert.match(await readFile(join(installed, 'pkg/cpu/index.d.ts'), 'utf8'), /export \* from '\.\/webvram'/);
  assert.match(await readFile(join(installed, 'pkg/select.d.ts'), 'utf8'), /export function importWebvram/);
  const wasm = await readFile(join(installed, 'pkg/webvram_bg.wasm'));
  for (const dir of ['cpu', 'cpu-relaxed']) {
    const cpu = await readFile(join(installed, `pkg/${dir}/webvram_bg.wasm`));
    assert.deepEqual([...cpu.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], `${dir}: not a wasm module`);
    // The point of the CPU-only modules: they leave out the GPU backend, most of the full one.
    assert.ok(cpu.length < wasm.length / 2, `${dir} module ${cpu.length} bytes vs full ${wasm.length}`);
  }
  assert.deepEqual([...wasm.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'not a wasm module');
});

test('a plain ESM page imports the installed package through an import map', async () => {
  const { result, wasm } = await openApp('/plain.html');
  assertEmbeddings(result);
  assert.deepEqual(wasm, ['/node_modules/webvram/pkg/webvram_bg.wasm']);
});

/** `webvram/cpu` (SIMD128) on its own: the module engines without relaxed SIMD get. */
let simd128;
async function simd128Vectors() {
  if (!simd128) {
    const { result, wasm } = await openApp('/cpu-plain.html');
    assertEmbeddings(result, 'cpu');
    assert.deepEqual(wasm, ['/node_modules/webvram/pkg/cpu/webvram_bg.wasm']);
    simd128 = result.vectors;
  }
  return simd128;
}

test('a plain ESM page runs webvram/cpu, the SIMD128 CPU-only module', async () => {
  assert.equal((await simd128Vectors()).length, 3);
});

/**
 * `webvram/select` chose the relaxed-SIMD CPU-only module for this adapter-less browser (Chromium
 * has relaxed SIMD), which ran MiniLM to within float rounding of `webvram/cpu`.
 */
async function assertSelectedCpu(result) {
  assertEmbeddings(result, 'cpu-relaxed');
  assert.equal(result.choice.build, 'cpu-relaxed');
  assert.match(result.choice.reason, /(navigator\.gpu|requestAdapter|isFallbackAdapter|software).*; relaxed SIMD validates$/);
  assert.ok(result.reasons.some((r) => r.includes('CPU-only build')), result.reasons.join('; '));
  assert.equal(result.forcedState, 'DISABLED', 'vram: "high" on the CPU-only module');
  assert.deepEqual([result.explicit.cpu.build, result.explicit.high.build], ['cpu-relaxed', 'gpu']);
  // Fused multiply-adds round once instead of twice: the last bits move, nothing more.
  const reference = await simd128Vectors();
  let worst = 0;
  result.vectors.forEach((v, i) => v.forEach((x, j) => { worst = Math.max(worst, Math.abs(x - reference[i][j])); }));
  assert.ok(worst < 1e-5, `relaxed vs SIMD128 max |diff| ${worst}`);
}

test('webvram/select picks the relaxed-SIMD CPU-only module where there is no adapter, and fetches only it', async () => {
  const { result, wasm } = await openApp('/select-plain.html');
  await assertSelectedCpu(result);
  assert.deepEqual(wasm, ['/node_modules/webvram/pkg/cpu-relaxed/webvram_bg.wasm']);
});

describe('a Vite build', () => {
  let emitted;
  before(async () => {
    // Relative base so that dist/ works under /dist/; the repo's Vite (a devDependency) builds it.
    await build({
      root: app,
      base: './',
      configFile: false,
      logLevel: 'error',
      build: { outDir: 'dist', rolldownOptions: { input: ['index.html', 'worker.html', 'select.html'].map((page) => join(app, page)) } },
    });
    const assets = await readdir(join(app, 'dist/assets'));
    emitted = assets.filter((f) => /^webvram_bg-[\w-]+\.wasm$/.test(f));
  });

  test('emits the three modules\' wasm as hashed assets (select.js can import any)', () => {
    assert.equal(emitted.length, 3, `wasm assets: ${emitted.join(', ')}`);
  });

  /** The emitted wasm that `page` fetched: exactly one, and one of the three. */
  function fetchedOne(wasm) {
    assert.equal(wasm.length, 1, `fetched ${wasm.join(', ')}`);
    const name = wasm[0].replace('/dist/assets/', '');
    assert.ok(emitted.includes(name), `${wasm[0]} is not an emitted asset`);
    return name;
  }

  let full;
  test('bundles the package for a page', async () => {
    const { result, wasm } = await openApp('/dist/');
    assertEmbeddings(result);
    full = fetchedOne(wasm);
  });

  test('bundles the package for a module worker', async () => {
    const { result, wasm } = await openApp('/dist/worker.html');
    assertEmbeddings(result);
    assert.equal(fetchedOne(wasm), full);
  });

  test('bundles webvram/select, which fetches only the relaxed-SIMD CPU-only module here', async () => {
    const { result, wasm } = await openApp('/dist/select.html');
    await assertSelectedCpu(result);
    assert.notEqual(fetchedOne(wasm), full);
  });
});
