// The webvram package entry (scripts/build.sh copies it into pkg/ with the snippet path filled in).
import { Runtime } from './webvram.js';

export * from './webvram.js';
export { default } from './webvram.js';
export * from '@ERRORS@';

// wasm-bindgen points Symbol.dispose at `free`, which on Runtime is ComfyUI's /free: disposing a
// runtime should destroy it.
function destroy() { return this.destroy(); }
if (Symbol.asyncDispose) Runtime.prototype[Symbol.asyncDispose] = destroy;
if (Symbol.dispose) Runtime.prototype[Symbol.dispose] = destroy;
