// A small static file server for the demo and the tests: 127.0.0.1 only, correct MIME types for
// wasm, single `Range` requests (the loader reads a safetensors header first), no caching so a
// rebuilt package is always what the page loads.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

/** `[start, end]` (inclusive) for a single `bytes=` range, 'unsatisfiable', or null for the whole file. */
function byteRange(header, size) {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return null;
  const [start, end] = match[1] === ''
    ? [Math.max(0, size - Number(match[2])), size - 1]
    : [Number(match[1]), Math.min(size - 1, match[2] === '' ? size - 1 : Number(match[2]))];
  return start > end || start >= size ? 'unsatisfiable' : [start, end];
}

/** Serve `root` on 127.0.0.1:`port` (0 = any free port); resolves to `{ server, url }`. */
export async function startServer({ root, port = 0 } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end('outside the served folder');
      return;
    }
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      const headers = {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        'accept-ranges': 'bytes',
      };
      const range = byteRange(req.headers.range, info.size);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${info.size}` }).end();
      } else if (range) {
        const [start, end] = range;
        res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${info.size}` });
        createReadStream(file, { start, end }).pipe(res);
      } else {
        res.writeHead(200, { ...headers, 'content-length': info.size });
        createReadStream(file).pipe(res);
      }
    } catch {
      res.writeHead(404).end(`not found: ${path}`);
    }
  });
  await new Promise((ok, fail) => server.listen(port, '127.0.0.1', ok).on('error', fail));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const port = Number(process.env.PORT ?? 8080);
  const { url } = await startServer({ root, port });
  console.log(`webvram demo: ${url}/www/`);
}
