// What the `webvram` pages of the packaged-app test run, on the main thread or in a worker.
import * as webvram from 'webvram';
import { embedWith } from './run.js';

// The CPU backend ({vram: 'cpu'}): these pages test packaging, and SwiftShader's WebGPU takes
// seconds per batch (model.test.mjs and worker.test.mjs cover the GPU paths).
export function embed() {
  return embedWith(webvram, { vram: 'cpu' });
}
