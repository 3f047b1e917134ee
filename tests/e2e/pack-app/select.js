// `webvram/select` with default options: in this browser (no WebGPU adapter, relaxed SIMD) it must pick the
// relaxed-SIMD CPU-only module, and only that module's wasm may be fetched.
import { chooseBuild, importWebvram } from 'webvram/select';
import { embedWith } from './run.js';
import { report } from './report.js';

report((async () => {
  const choice = await chooseBuild();
  const webvram = await importWebvram();
  const result = await embedWith(webvram);
  // A GPU state asked of the CPU-only module: still a runtime, on the CPU, saying why.
  const forced = await webvram.Runtime.create({ vram: 'high' });
  const explicit = { cpu: await chooseBuild({ vram: 'cpu' }), high: await chooseBuild({ vram: 'high' }) };
  return { ...result, choice, explicit, forcedState: forced.vramState };
})());
