// The live memory map: one cell per layer per model, coloured by tier, plus a sentence and a table
// that say the same in text. Pure rendering from systemStats().memory_map, so polling and runtime
// events can both call it.
import { el, formatBytes, textRow } from './format.js';

/** The four tiers, fastest first, with the words the page uses for them. */
export const TIERS = [
  { tier: 'gpu', label: 'GPU', where: 'on the GPU' },
  { tier: 'host', label: 'wasm memory', where: 'in wasm memory' },
  { tier: 'cache', label: 'browser cache', where: 'in the browser cache' },
  { tier: 'remote', label: 'network', where: 'on the network' },
];
const LABEL = Object.fromEntries(TIERS.map(({ tier, label }) => [tier, label]));

/** The legend: a swatch and a word per tier (static, rendered once). */
export function renderLegend(list) {
  list.replaceChildren(...TIERS.map(({ tier, label }) => el('li', {},
    el('span', { className: `swatch tier-${tier}`, 'aria-hidden': 'true' }), label)));
}

/**
 * Draws `map` (`{models, layers}`) into `parts`: `grid` (the cells, hidden from screen readers),
 * `summary` (one sentence per model) and `table` (every layer as text).
 */
export function renderMemoryMap(parts, map) {
  const models = groupByModel(map);
  parts.grid.replaceChildren(...models.map(modelRow));
  parts.summary.textContent = models.length
    ? models.map(describeModel).join(' ')
    : 'No model loaded.';
  parts.table.tBodies[0].replaceChildren(...models.flatMap(({ layers }) => layers.map(layerRow)));
}

/** `[{name, url, layers}]` in model order; the name is the URL's last path segment. */
function groupByModel({ models = [], layers = [] }) {
  return models.map((model) => ({
    url: model.name,
    name: model.name.split('/').filter(Boolean).pop() ?? `model ${model.model}`,
    layers: layers.filter((layer) => layer.model === model.model),
  }));
}

function modelRow({ name, url, layers }) {
  const total = layers.reduce((sum, layer) => sum + layer.bytes, 0) || 1;
  const cells = el('ol', { className: 'cells' }, ...layers.map((layer) => layerCell(layer, total)));
  return el('li', { className: 'model-row' }, el('span', { className: 'model-name', title: url }, name), cells);
}

/** A cell as wide as its share of the model's bytes, with the details in its tooltip. */
function layerCell(layer, total) {
  const cell = el('li', {
    className: `cell tier-${layer.tier}`,
    title: `${layer.name} · ${formatBytes(layer.bytes)} · ${tierText(layer)}`,
  }, el('span', {}, shortName(layer.name)));
  cell.dataset.tier = layer.tier;
  cell.style.flexGrow = String((layer.bytes / total) * 100);
  return cell;
}

/** `encoder.layer.3` → `3`, `embeddings` → `E`: what fits in a narrow cell. */
function shortName(name) {
  const index = name.match(/(\d+)$/);
  return index ? index[1] : name.charAt(0).toUpperCase();
}

function tierText(layer) {
  return `${LABEL[layer.tier] ?? layer.tier}${layer.hostCopy ? ' (+ copy in wasm memory)' : ''}`;
}

/** "all-MiniLM-L6-v2, 7 layers: 4 on the GPU (27.1 MiB), 3 in wasm memory (20.3 MiB)." */
function describeModel({ name, layers }) {
  const parts = TIERS.map(({ tier, where }) => {
    const inTier = layers.filter((layer) => layer.tier === tier);
    if (!inTier.length) return null;
    const bytes = inTier.reduce((sum, layer) => sum + layer.bytes, 0);
    return `${inTier.length} ${where} (${formatBytes(bytes)})`;
  }).filter(Boolean);
  return `${name}, ${layers.length} layers: ${parts.join(', ')}.`;
}

function layerRow(layer) {
  const row = textRow([layer.name, formatBytes(layer.bytes), tierText(layer)], { header: true });
  row.dataset.tier = layer.tier;
  return row;
}
