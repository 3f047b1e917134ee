// The demo: start a runtime with the chosen options, show the adapter and the VRAM state it picked,
// load the default model, keep a live memory map, and compare the sentences the user types; the
// chat panel (chat.js) loads a language model on request into the same runtime.
// Apply replaces the runtime with one built from the settings form and runs everything again.
import init, { Runtime } from '../pkg/index.js';
import { createChat } from './chat.js';
import { $, formatBytes, formatSeconds } from './format.js';
import { renderLegend, renderMemoryMap } from './memory-map.js';
import { renderAdapter, renderPolicy, renderStats, showError } from './panels.js';
import { optionsFrom, settingsFromUrl, settingsToUrl } from './settings.js';
import { cosineMatrix, renderSimilarity, sentencesFrom } from './similarity.js';

const MODEL_URL = new URL('models/all-MiniLM-L6-v2', window.location.href).href;
const RUNTIME_EVENTS = ['layermove', 'statechange', 'oom', 'devicelost'];

/** The one runtime and model the page holds, and how to stop listening to them. */
const session = { rt: null, model: null, unhook: () => {}, loadAbort: null, mapKey: '', compares: 0 };

const mapParts = { grid: $('map-grid'), summary: $('map-summary'), table: $('memory-map') };

const chat = createChat({ runtime: () => session.rt, exclusive: (action) => exclusive(action), refresh });

// ——— showing the runtime's state ———

/** Redraws everything that comes from systemStats(). */
function refresh() {
  const { rt } = session;
  if (!rt) return;
  const stats = rt.systemStats();
  renderPolicy(stats);
  renderStats(stats);
  drawMap(stats.memory_map);
}

/** Redraws the memory map only when a layer moved, so refreshes do not churn the DOM. */
function drawMap(map) {
  const key = JSON.stringify(map.layers);
  if (key === session.mapKey) return;
  session.mapKey = key;
  renderMemoryMap(mapParts, map);
}

/** Follows the runtime's events (sent after each call that moved a layer or changed the state);
 * returns the function that stops following. */
function follow(rt) {
  const stop = new AbortController();
  const onEvent = (event) => {
    if (event.type === 'oom' || event.type === 'devicelost') noteEvent(event);
    scheduleRefresh();
  };
  RUNTIME_EVENTS.forEach((type) => rt.addEventListener(type, onEvent, { signal: stop.signal }));
  return () => stop.abort();
}

/** One refresh per burst of events (a call that streams layers sends one event per layer). */
let refreshQueued = false;
function scheduleRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  requestAnimationFrame(() => {
    refreshQueued = false;
    refresh();
  });
}

/** Says what the runtime recovered from, from the event's `detail`. */
function noteEvent({ type, detail }) {
  const text = type === 'oom'
    ? `Out of GPU memory: the budget stepped down to ${formatBytes(detail?.learned?.budgetBytes)} and the call was retried.`
    : `The GPU device was lost${detail?.replaced ? '; a new one took its place and the call was retried' : ''}.`;
  $('apply-status').textContent = text;
}

// ——— runtime lifecycle ———

async function startRuntime(options) {
  const rt = await Runtime.create(options);
  session.rt = rt;
  session.mapKey = '';
  session.unhook = follow(rt);
  chat.sync();
  renderAdapter(rt.adapter);
  refresh();
}

/** Releases the runtime and its model. */
async function stopRuntime() {
  const { rt } = session;
  session.loadAbort?.abort();
  session.unhook();
  Object.assign(session, { rt: null, model: null, unhook: () => {}, loadAbort: null });
  chat.reset();
  $('compare').disabled = true;
  showStopped();
  await rt?.destroy();
}

/** Between two runtimes nothing on the page should describe the old one. */
function showStopped() {
  const badge = $('vram-state');
  badge.textContent = 'stopped';
  badge.dataset.state = '';
  session.mapKey = '';
  renderMemoryMap(mapParts, { models: [], layers: [] });
  $('load-progress').value = 0;
  $('load-status').textContent = 'not loaded';
}

// ——— model and similarity ———

async function loadModel() {
  const status = $('load-status');
  const seen = { shards: new Set(), phases: new Set() };
  session.loadAbort = new AbortController();
  const started = performance.now();
  status.setAttribute('aria-busy', 'true'); // announce the outcome, not every progress step
  try {
    session.model = await session.rt.loadModel(MODEL_URL, {
      signal: session.loadAbort.signal,
      onProgress: (event) => showProgress(event, seen),
    });
  } finally {
    session.loadAbort = null;
    status.setAttribute('aria-busy', 'false');
  }
  const { fileBytes, shards, layers } = session.model.info;
  const source = seen.phases.has('download') ? 'from the network' : 'from the browser cache';
  status.textContent = `${formatBytes(fileBytes)} in ${plural(shards.length, 'shard')} loaded ${source}`
    + ` in ${formatSeconds(performance.now() - started)}; ${plural(layers, 'layer')}`;
  refresh();
}

/** One progress event: the bar, and which bytes of which shard. */
function showProgress({ phase, loaded, total, shard }, seen) {
  seen.shards.add(shard);
  seen.phases.add(phase);
  const bar = $('load-progress');
  bar.max = total;
  bar.value = loaded;
  $('load-status').textContent = `${phase}: ${formatBytes(loaded)} of ${formatBytes(total)}`
    + ` · shard ${seen.shards.size} (${shard})`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function compare() {
  const texts = sentencesFrom($('sentences').value);
  if (!texts.length) {
    $('embed-status').textContent = 'Type at least one sentence.';
    return;
  }
  $('embed-status').textContent = `Embedding ${plural(texts.length, 'sentence')}…`;
  const started = performance.now();
  let result;
  try {
    result = await session.model.embedWithStats(texts);
  } catch (err) {
    $('embed-status').textContent = 'The comparison failed.';
    throw err;
  }
  const { vectors, stats } = result;
  renderSimilarity({ list: $('sentence-list'), table: $('similarity') }, texts, cosineMatrix(vectors));
  $('embed-status').textContent = `${plural(texts.length, 'sentence')} in ${formatSeconds(performance.now() - started)}`
    + ` · ${describeForward(stats.forward)}`;
  session.compares += 1;
  document.body.dataset.compares = String(session.compares);
  refresh();
}

function describeForward({ layers, streamedLayers, uploadedBytes }) {
  if (session.rt?.vramState === 'DISABLED') return `all ${layers} layers ran on the CPU`;
  if (!streamedLayers) return `all ${layers} layers ran in place on the GPU`;
  return `${streamedLayers} of ${layers} layers streamed (${formatBytes(uploadedBytes)} uploaded)`;
}

// ——— actions ———

/** Runs one action at a time, with the buttons disabled and errors shown; resolves to success. */
async function exclusive(action) {
  document.body.dataset.busy = 'true';
  $('apply').disabled = true;
  $('compare').disabled = true;
  chat.sync(true);
  showError(null);
  try {
    await action();
    return true;
  } catch (err) {
    if (err?.code !== 'ABORTED') showError(err);
    return false;
  } finally {
    delete document.body.dataset.busy;
    $('apply').disabled = false;
    $('compare').disabled = !session.model;
    chat.sync(false);
    refresh();
  }
}

/** Loads the model and compares; `data-model` is set ('ready' or 'error') only once done. */
async function loadAndCompare() {
  delete document.body.dataset.model;
  const ok = await exclusive(async () => {
    await loadModel();
    await compare();
  });
  document.body.dataset.model = ok ? 'ready' : 'error';
}

async function apply(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const options = optionsFrom(form);
  $('apply-status').textContent = `Starting a runtime (${describeOptions(options)})…`;
  const ok = await exclusive(async () => {
    await stopRuntime();
    await startRuntime(options);
    settingsToUrl(form);
  });
  $('apply-status').textContent = ok ? `Runtime started: ${describeOptions(options)}.` : 'The runtime did not start.';
  if (ok && wantsModel()) await loadAndCompare();
}

/** `{vram: 'low', vramBudget: 25165824}` → "vram low, reserve auto, budget 24 MiB". */
function describeOptions({ vram, reserveVram, vramBudget }) {
  const bytes = (value) => (value == null ? 'auto' : formatBytes(value));
  return `vram ${vram}, reserve ${bytes(reserveVram)}, budget ${bytes(vramBudget)}`;
}

const wantsModel = () => new URLSearchParams(window.location.search).get('model') !== 'none';

function wireControls() {
  $('settings').addEventListener('submit', apply);
  $('compare').addEventListener('click', () => exclusive(compare));
  $('sentences').addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    if (!$('compare').disabled) $('compare').click();
  });
}

async function main() {
  // On a phone the reasons table is long; it starts folded there.
  if (window.matchMedia('(max-width: 36rem)').matches) $('reasons-details').open = false;
  renderLegend($('legend'));
  wireControls();
  settingsFromUrl($('settings'));
  await init();
  await startRuntime(optionsFrom($('settings')));
  $('apply').disabled = false;
  document.body.dataset.ready = 'true';
  if (wantsModel()) await loadAndCompare();
}

main().catch((err) => {
  document.body.dataset.ready = 'error';
  $('apply').disabled = false;
  showError(err);
});
