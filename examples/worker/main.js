// The page side of the worker example: a small promise-based client for worker.js, a similarity
// table, and a ticker that shows the main thread keeps running while the worker computes.

/** Talks to worker.js: every call posts `{id, type, ...}` and resolves with the reply of that id. */
export class EmbeddingWorker {
  #worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  #pending = new Map();
  #nextId = 0;

  constructor({ onProgress } = {}) {
    this.#worker.onmessage = ({ data }) => {
      if (data.type === 'progress') return onProgress?.(data);
      const call = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      if (data.type === 'result') call?.resolve(data.result);
      else call?.reject(Object.assign(new Error(data.error.message), data.error));
    };
    // A worker that fails to start (a bad import, a syntax error) only reports here.
    this.#worker.onerror = (event) => {
      const error = new Error(event.message || 'the worker failed to start');
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
  }

  #call(type, args) {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, type, ...args });
    });
  }

  /** Starts the runtime (once) and loads the model at `url`; resolves to `{vramState, adapter, info}`. */
  load(url, { runtimeOptions, cache } = {}) {
    return this.#call('load', { url, runtimeOptions, cache });
  }

  /** One `Float32Array` per text; its buffer was moved, not copied, out of the worker. */
  async embed(texts) {
    return (await this.#call('embed', { texts })).vectors;
  }

  terminate() {
    this.#worker.terminate();
  }
}

const $ = (id) => document.getElementById(id);
const MODEL = new URL('../../www/models/all-MiniLM-L6-v2', location.href).href;

// The longest gap between 50 ms ticks: if the model ran on this thread, it would be seconds.
const ticker = { started: performance.now(), last: performance.now(), ticks: 0, longestPauseMs: 0 };
setInterval(() => {
  const now = performance.now();
  ticker.longestPauseMs = Math.max(ticker.longestPauseMs, now - ticker.last);
  ticker.last = now;
  ticker.ticks += 1;
  $('ticker').textContent = `${ticker.ticks} ticks, longest pause ${Math.round(ticker.longestPauseMs)} ms`;
}, 50);

function showSimilarity(texts, vectors) {
  const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
  $('similarity').tBodies[0].replaceChildren(...texts.map((text, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.textContent = text;
    tr.append(th, ...vectors.map((v) => {
      const td = document.createElement('td');
      td.textContent = dot(vectors[i], v).toFixed(3);
      return td;
    }));
    return tr;
  }));
}

async function compare() {
  const texts = $('sentences').value.split('\n').map((t) => t.trim()).filter(Boolean);
  $('status').textContent = 'embedding in the worker…';
  const started = performance.now();
  const vectors = await embeddings.embed(texts);
  $('status').textContent = `${texts.length} embeddings in ${Math.round(performance.now() - started)} ms`;
  showSimilarity(texts, vectors);
}

function fail(error) {
  $('error').hidden = false;
  $('error').textContent = `${error.code ?? error.name}: ${error.message}`;
  document.body.dataset.model = 'error';
}

// `?vram=cpu` (or any other VRAM flag) is passed to Runtime.create; the default is 'auto'.
const vram = new URLSearchParams(location.search).get('vram') ?? 'auto';
const embeddings = new EmbeddingWorker({
  onProgress: ({ loaded, total }) => { $('progress').max = total || 1; $('progress').value = loaded; },
});
// For the devtools console and tests/e2e/worker.test.mjs.
window.embeddings = embeddings;
window.ticker = ticker;

try {
  const { vramState, adapter } = await embeddings.load(MODEL, { runtimeOptions: { vram } });
  $('state').textContent = `${vramState} (${adapter.vendor || 'no adapter'} ${adapter.architecture || ''})`;
  document.body.dataset.model = 'ready';
  $('compare').disabled = false;
  $('compare').onclick = () => compare().catch(fail);
} catch (error) {
  fail(error);
}
