#!/usr/bin/env node
// Text generation speed: webvram vs wllama (llama.cpp in wasm, the runtime a user would pick instead) on
// SmolLM2-135M-Instruct, through the LLM peer benchmark (../shared/peer-bench/llm: same prompts, greedy,
// EOS suppressed, same timing loop, each configuration in a fresh headless Chromium), in one run:
//   1. CPU: wllama f16 and q4_1 (1 thread), webvram's CPU path (vram 'cpu') and webvram `auto` (wvauto);
//   2. SwiftShader WebGPU: webvram at 100 / 50 / 25 / 0 % GPU budgets (short case: SwiftShader is slow).
// Writes bench/out/generate.json (both runs' JSON) and prints a markdown table. Build the package first.
//   node bench/generate.mjs [--quick] [--part cpu|webgpu]   --quick: 1 rep, fewer tokens (a smoke run)
// env: PEER_BENCH (default ../shared/peer-bench), DATA, CHROMIUM (see the peer bench README).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const peer = path.resolve(root, process.env.PEER_BENCH || '../shared/peer-bench', 'llm');
const quick = process.argv.includes('--quick');
// --part cpu|webgpu runs one half (the other half's earlier results are kept in the table).
const partAt = process.argv.indexOf('--part');
const part = partAt > 0 ? process.argv[partAt + 1] : 'all';
const previous = (name) => {
  try { return JSON.parse(readFileSync(path.join(out, `generate-${name}.json`), 'utf8')); } catch { return { error: `${name}: not run` }; }
};
const out = path.join(root, 'bench/out');
mkdirSync(out, { recursive: true });

function run(name, args) {
  const file = path.join(out, `generate-${name}.json`);
  console.error(`[generate] ${name}: ${args.join(' ')}`);
  try {
    execFileSync(path.join(peer, 'run.sh'), ['--root', `repo=${root}`, '--out', file, ...args],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    console.error(`[generate] ${name}: run.sh exited ${e.status} (results kept)`);
  }
  try { return JSON.parse(readFileSync(file, 'utf8')); } catch { return { error: `${name}: no results` }; }
}

const page = (runtime, query = '') => ['--page', `${runtime}=/repo/bench/llm.html${query}`];
const cpu = part === 'webgpu' ? previous('cpu') : run('cpu', [
  ...page('webvram'), ...page('wvauto', '?mode=auto'),
  '--configs', 'f16:cpu:1,q4_1:cpu:1,webvram:f16:cpu:1,wvauto:f16:cpu:1',
  '--cases', quick ? 'chat_colors:8' : 'chat_colors:32,text_bread:32,long_bees:16',
  '--reps', quick ? '1' : '3',
]);
const budgets = [100, 50, 25, 0];
const gpu = part === 'cpu' ? previous('webgpu') : run('webgpu', [
  ...budgets.flatMap((b) => page(`wv${b}`, `?budget=${b}`)),
  '--configs', budgets.map((b) => `wv${b}:f16:webgpu:1`).join(','),
  // 8 tokens: decode steps 1–2 upload the non-resident layers, 3–4 compute them on the CPU, and
  // 5–7 use the faster (the measured decode split, reported in the JSON).
  '--cases', quick ? 'text_bread:2' : 'text_bread:8',
  '--reps', '1', '--warmup', '0',
]);
writeFileSync(path.join(out, 'generate.json'), JSON.stringify({ cpu, webgpu: gpu }, null, 1));

// The table: per configuration and case, prefill and decode tokens/s, and same ids as wllama f16.
const rows = [];
for (const [label, result] of [['cpu', cpu], ['webgpu', gpu]]) {
  for (const [name, s] of Object.entries(result.summary || {})) {
    const r = result.results?.[name] || {};
    for (const [c, k] of Object.entries(s.cases || {})) {
      rows.push(`| ${name} | ${r.settings?.vramState ?? (label === 'cpu' ? 'wasm' : '')} | ${c} | ${k.prompt_tokens ?? ''} | `
        + `${k.prefill_tokens_per_s ?? ''} | ${k.decode_tokens_per_s ?? ''} | ${k.same_ids ?? ''} | `
        + `${r.webvram?.last_stats?.decodeSplit?.nonResidentOn ?? ''} |`);
    }
    if (s.error || s.skipped) rows.push(`| ${name} | | ${s.skipped ? 'skipped' : 'error'}: ${String(s.error).slice(0, 80)} | | | | | |`);
  }
}
console.log('| configuration | state | case | prompt tokens | prefill tok/s | decode tok/s | same ids as wllama | decode split |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
