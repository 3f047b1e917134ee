import { report } from './report.js';

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
report(new Promise((resolve, reject) => {
  worker.onmessage = ({ data }) => (data.error ? reject(data.error) : resolve(data));
  worker.onerror = (event) => reject(new Error(event.message || 'the worker failed to start'));
}));
