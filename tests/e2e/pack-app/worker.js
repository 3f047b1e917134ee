// A module worker importing the package: Vite bundles it with its own copy of the glue.
import { embed } from './embed.js';

embed().then(
  (result) => postMessage(result, result.vectors.map((v) => v.buffer)),
  (e) => postMessage({ error: { code: e.code, name: e.name, message: e.message } }),
);
