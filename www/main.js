// The demo: start the runtime, show what the adapter offers and which VRAM state was chosen, then
// load the default model and compare sentences.
import init, { Runtime } from '../pkg/webvram.js';

const $ = (id) => document.getElementById(id);

function row(list, name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  list.append(dt, dd);
}

function showAdapter(adapter) {
  const list = $('adapter');
  list.replaceChildren();
  row(list, 'Vendor', adapter.vendor || '—');
  row(list, 'Architecture', adapter.architecture || '—');
  row(list, 'Description', adapter.description || '—');
  row(list, 'Fallback adapter', String(adapter.isFallbackAdapter));
  row(list, 'Backend', adapter.backend || 'none');
  row(list, 'Max buffer', formatBytes(adapter.limits.maxBufferSize));
  row(list, 'Max storage binding', formatBytes(adapter.limits.maxStorageBufferBindingSize));
  row(list, 'Device memory', adapter.deviceMemoryGib == null ? 'unknown' : `${adapter.deviceMemoryGib} GiB`);
  row(list, 'CPU threads', adapter.hardwareConcurrency ?? 'unknown');
  $('features').textContent = adapter.features.length ? adapter.features.join(', ') : 'no optional features';
  const body = $('limits').tBodies[0];
  body.replaceChildren(...Object.entries(adapter.limits).map(([name, value]) => {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td>';
    tr.cells[0].textContent = name;
    tr.cells[1].textContent = value;
    return tr;
  }));
}

function showDecision(decision) {
  $('budget').textContent = formatBytes(decision.budgetBytes);
  $('reserve').textContent = formatBytes(decision.reserveBytes);
  $('device-class').textContent = decision.deviceClass;
  $('reasons').tBodies[0].replaceChildren(...decision.reasons.map((reason) => {
    const tr = document.createElement('tr');
    for (const key of ['signal', 'value', 'effect']) {
      const td = document.createElement('td');
      td.textContent = reason[key];
      tr.append(td);
    }
    return tr;
  }));
}

function formatBytes(bytes) {
  if (bytes == null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${Number.isInteger(bytes) ? bytes : bytes.toFixed(1)} ${units[i]}`;
}

const MODEL = new URL('models/all-MiniLM-L6-v2', window.location.href).href;

function showSimilarity(texts, vectors) {
  const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
  const body = $('similarity').tBodies[0];
  body.replaceChildren(...texts.map((text, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = text;
    tr.append(th);
    for (let j = 0; j < texts.length; j += 1) {
      const td = document.createElement('td');
      td.textContent = dot(vectors[i], vectors[j]).toFixed(3);
      tr.append(td);
    }
    return tr;
  }));
}

function showMemoryMap(model) {
  $('memory-map').tBodies[0].replaceChildren(...model.memoryMap().map((layer) => {
    const tr = document.createElement('tr');
    tr.dataset.tier = layer.tier;
    for (const value of [layer.name, formatBytes(layer.bytes), layer.tier]) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
}

async function loadModel(rt) {
  const bar = $('load-progress');
  const status = $('load-status');
  const model = await rt.loadModel(MODEL, {
    onProgress: ({ phase, loaded, total }) => {
      bar.max = total;
      bar.value = loaded;
      status.textContent = `${phase}: ${formatBytes(loaded)} of ${formatBytes(total)}`;
    },
  });
  status.textContent = `loaded: ${model.info.layers} layers, ${formatBytes(model.info.weightBytes)} of weights`;
  const compare = async () => {
    const texts = $('sentences').value.split('\n').map((t) => t.trim()).filter(Boolean);
    $('embed-status').textContent = 'embedding…';
    const t0 = performance.now();
    const vectors = await model.embed(texts);
    $('embed-status').textContent = `${texts.length} sentences in ${((performance.now() - t0) / 1000).toFixed(2)} s`;
    showSimilarity(texts, vectors);
    showMemoryMap(model);
    $('stats').textContent = JSON.stringify(rt.systemStats(), null, 2);
  };
  $('compare').disabled = false;
  $('compare').addEventListener('click', () => compare().catch(showError));
  await compare();
  document.body.dataset.model = 'ready';
}

function showError(err) {
  const box = $('error');
  box.hidden = false;
  box.textContent = `${err.code ?? 'ERROR'}: ${err.message}`;
  console.error(err);
}

async function main() {
  await init();
  const rt = await Runtime.create({});
  const state = $('vram-state');
  state.textContent = rt.vramState;
  state.dataset.state = rt.vramState;
  const adapter = rt.adapter;
  $('reason').textContent = adapter.available
    ? `WebGPU adapter found (${adapter.vendor || 'unknown vendor'}).`
    : `No GPU: ${adapter.unavailableReason}. Running on the CPU.`;
  showAdapter(adapter);
  const stats = rt.systemStats();
  showDecision(stats.policy);
  $('stats').textContent = JSON.stringify(stats, null, 2);
  document.body.dataset.ready = 'true';
  // The default model, unless the page says otherwise (?model=none).
  if (new URLSearchParams(window.location.search).get('model') !== 'none') {
    loadModel(rt).catch((err) => {
      document.body.dataset.model = 'error';
      showError(err);
    });
  }
}

main().catch((err) => {
  document.body.dataset.ready = 'error';
  showError(err);
});
