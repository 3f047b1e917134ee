// A module worker that owns the webvram runtime: fetching weights, tokenising and the forward pass
// all run here, so the page's main thread only posts texts and receives vectors.
//
// With the installed package and a bundler this import is `from 'webvram'`. Import maps do not
// apply inside workers, so this example, served straight from the repository, uses the path.
import init, { Runtime } from '../../pkg/index.js';

let runtime;
let model;

// Each handler resolves to [result, transfer list].
const handlers = {
  async load({ url, runtimeOptions = {}, cache = true }) {
    await init();
    // The first load starts the runtime; later loads replace the model and reuse it.
    runtime ??= await Runtime.create(runtimeOptions);
    await model?.unload();
    model = undefined;
    model = await runtime.loadModel(url, {
      cache,
      // Progress events cross to the page as plain objects (they must be structured-cloneable).
      onProgress: ({ phase, loaded, total }) => postMessage({ type: 'progress', phase, loaded, total }),
    });
    const { vendor, architecture, isFallbackAdapter } = runtime.adapter;
    return [{ vramState: runtime.vramState, adapter: { vendor, architecture, isFallbackAdapter }, info: model.info }, []];
  },

  async embed({ texts }) {
    if (!model) throw Object.assign(new Error('send a load message first'), { code: 'INVALID_STATE' });
    const vectors = await model.embed(texts);
    // Each vector owns its ArrayBuffer (a copy out of wasm memory), so handing the buffers over
    // instead of copying them is safe; the Set guards against arrays that share one buffer.
    return [{ vectors }, [...new Set(vectors.map((v) => v.buffer))]];
  },
};

// One request at a time: the runtime owns one device and one model, and a load must finish before
// an embed that was posted right after it.
let queue = Promise.resolve();

self.onmessage = ({ data: { id, type, ...args } }) => {
  queue = queue.then(async () => {
    try {
      const handler = handlers[type];
      if (!handler) throw Object.assign(new Error(`unknown message type ${type}`), { code: 'INVALID_INPUT' });
      const [result, transfer] = await handler(args);
      postMessage({ id, type: 'result', result }, transfer);
    } catch (error) {
      // An Error's `code` does not survive structured cloning, so send the fields that matter.
      const { name = 'Error', code, message = String(error) } = error ?? {};
      postMessage({ id, type: 'error', error: { name, code, message } });
    }
  });
};
