// The webvram package entry (scripts/build.sh copies it into pkg/ with the snippet path filled in).
import { Model, Runtime } from './webvram.js';

export * from './webvram.js';
export { default } from './webvram.js';
export * from '@ERRORS@';

// wasm-bindgen points Symbol.dispose at `free`, which on Runtime is ComfyUI's /free: disposing a
// runtime should destroy it.
function destroy() { return this.destroy(); }
if (Symbol.asyncDispose) Runtime.prototype[Symbol.asyncDispose] = destroy;
if (Symbol.dispose) Runtime.prototype[Symbol.dispose] = destroy;

// `model.stream(prompt, options)`: `generate` as an async iterator of `{token, text}`. Leaving
// the loop early (break, return, throw) aborts the generation; the caller's own `signal` and
// `onToken` still work. Option errors surface from the first `next()`, as generate's would.
Model.prototype.stream = function stream(prompt, options) {
  const plain = options !== null && typeof options === 'object' && !Array.isArray(options);
  const own = new AbortController();
  const outer = plain ? options.signal : undefined;
  if (outer instanceof AbortSignal) {
    if (outer.aborted) own.abort(outer.reason);
    else outer.addEventListener('abort', () => own.abort(outer.reason), { once: true });
  }
  const queue = [];
  let wake = null;
  let settled = null;
  const onToken = (chunk) => {
    queue.push(chunk);
    if (plain && typeof options.onToken === 'function') options.onToken(chunk);
    wake?.();
  };
  // Options of the wrong type go through unchanged, so generate reports them (INVALID_OPTION).
  const signal = outer === undefined || outer instanceof AbortSignal ? own.signal : outer;
  const callback = !plain || options.onToken === undefined || typeof options.onToken === 'function' ? onToken : options.onToken;
  const merged = plain ? { ...options, signal, onToken: callback } : options;
  const done = this.generate(prompt, merged).then(
    (result) => { settled = { result }; wake?.(); },
    (error) => { settled = { error }; wake?.(); },
  );
  let stopped = false;
  return {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      for (;;) {
        if (queue.length) return { value: queue.shift(), done: false };
        if (settled?.error && !stopped) throw settled.error;
        if (settled || stopped) return { value: undefined, done: true };
        await new Promise((resolve) => { wake = resolve; });
        wake = null;
      }
    },
    async return() {
      stopped = true;
      queue.length = 0;
      own.abort();
      await done;
      return { value: undefined, done: true };
    },
  };
};
