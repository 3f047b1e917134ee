// What every page of the packaged-app test runs, on the main thread or in a worker.
import init, { Runtime } from 'webvram';

export const TEXTS = ['A cat sits on the mat.', 'A kitten is resting on a rug.', 'The stock market fell sharply today.'];

// The CPU backend ({vram: 'cpu'}): these pages test packaging, and SwiftShader's WebGPU takes
// seconds per batch (model.test.mjs and worker.test.mjs cover the GPU paths).
export async function embed() {
  await init();
  const rt = await Runtime.create({ vram: 'cpu' });
  const model = await rt.loadModel('/models/all-MiniLM-L6-v2', { cache: false });
  return { vramState: rt.vramState, vectors: await model.embed(TEXTS) };
}
