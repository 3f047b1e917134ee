// Markdown table from peer-bench result files (bench/peers.sh writes them): one row per configuration, then
// one row per webvram configuration with webvram ÷ the best peer on the same device, per column.
//   node bench/peers-table.mjs bench/out/peers.json bench/out/webvram.json
import fs from 'node:fs';

const reports = process.argv.slice(2).filter((f) => fs.existsSync(f)).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const hashes = new Set(reports.map((r) => r.inputs?.sha256));
if (hashes.size > 1) console.log('**warning: the result files used different gen/inputs.json (sha256 differ)**\n');
const rows = reports.flatMap((r) => Object.entries(r.summary || {}));
const cols = [  // [title, summary key, higher is better, digits]
  ['batch 1 emb/s', 'batch1_emb_per_s', true, 2],
  ['batch 16×128 emb/s', 'batch16_emb_per_s', true, 2],
  ['cold load ms', 'cold_load_ms', false, 0],
  ['worst cos', 'worst_cos', true, 6],
  ['worst cos, same ids', 'worst_cos_same_ids', true, 6],
];
const fmt = (v, d) => (typeof v !== 'number' ? '–' : d > 2 ? `1−${(1 - v).toExponential(1)}` : v.toFixed(d));  // cos as 1−(1−cos)
const line = (cells) => `| ${cells.join(' | ')} |`;
const m = reports[0]?.machine || {};
console.log(`${m.cpu || '?'}, ${m.cores ?? '?'} cores, Chromium ${m.chromium || '?'}, ${reports[0]?.protocol?.reps ?? '?'} timed reps (median)\n`);
console.log(line(['config', 'ok', ...cols.map((c) => c[0])]));
console.log(line(['---', '---', ...cols.map(() => '---:')]));
for (const [name, s] of rows) console.log(line([name, s.ok ? 'yes' : `**no** ${(s.error || '').split('\n')[0].slice(0, 60)}`, ...cols.map(([, k, , d]) => fmt(s[k], d))]));
const ours = (n) => /^webvram[-.]/.test(n);  // webvram-auto, webvram.cpu-auto, webvram.select-auto, …
const peers = rows.filter(([n, s]) => !ours(n) && s.ok);
for (const [name, s] of rows.filter(([n]) => ours(n))) {
  const device = name.split('-').pop();
  const same = peers.filter(([n]) => n.endsWith(`-${device}`));
  const pool = same.length ? same : peers;
  if (!pool.length) continue;
  const cells = cols.map(([, k, up, d]) => {
    const vals = pool.map(([, p]) => p[k]).filter((v) => typeof v === 'number');
    if (!vals.length || typeof s[k] !== 'number') return '–';
    return `${(s[k] / (up ? Math.max(...vals) : Math.min(...vals))).toFixed(d > 2 ? 6 : 2)}×`;
  });
  console.log(line([`${name} ÷ best ${same.length ? device : ''} peer`.replace('  ', ' '), '', ...cells]));
}
console.log('\nRatio > 1 is webvram above the best peer: better for emb/s, worse (slower) for cold load ms.');
