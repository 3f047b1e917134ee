// An HTTP server on 127.0.0.1 that serves a folder with injectable faults, for loader tests.
//
// URLs look like /<mode>/<path>, where <mode> is one of MODES below; `ok` behaves like a good
// static server with Range support. Each fault applies to files whose name contains `target`
// (default: every file), and "once" faults fire on the first matching request only. Every request
// is recorded (path, range, status) so tests can assert what the client asked for.
import { createServer } from 'node:http';
import { open, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';

export const MODES = [
  'ok', 'not-found', 'error-once', 'drop-once', 'ignore-range', 'trickle', 'length-long', 'length-short',
];

const CHUNK = 64 * 1024;
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Start the server; resolves to `{ url, requests, close() }`. */
export async function startFaultServer({ root, target = '', trickleBytes = 997, trickleDelayMs = 1 }) {
  const base = resolve(root);
  const requests = [];
  const fired = new Set();
  const once = (key) => (fired.has(key) ? false : (fired.add(key), true));

  const server = createServer(async (req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-allow-headers', 'range');
    res.setHeader('access-control-expose-headers', 'content-length, content-range, etag, accept-ranges');
    if (req.method === 'OPTIONS') return res.writeHead(204).end();
    const [, mode, ...rest] = new URL(req.url, 'http://x').pathname.split('/');
    const rel = decodeURIComponent(rest.join('/'));
    const record = { mode, path: rel, range: req.headers.range ?? null, status: 0 };
    requests.push(record);
    const file = normalize(join(base, rel));
    const hit = rel.includes(target);
    const reply = (status, headers = {}) => { record.status = status; res.writeHead(status, headers); };
    if (!MODES.includes(mode) || !file.startsWith(base + sep)) return reply(400), res.end('bad url');
    let size;
    try { size = (await stat(file)).size; } catch { return reply(404), res.end('not found'); }
    if (hit && mode === 'not-found') return reply(404), res.end('not found (injected)');
    if (hit && mode === 'error-once' && once(rel)) return reply(500), res.end('server error (injected)');

    let [start, end] = [0, size - 1];
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const honourRange = range && !(hit && mode === 'ignore-range');
    if (honourRange) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) return reply(416, { 'content-range': `bytes */${size}` }), res.end();
    }
    let length = end - start + 1;
    let claimed = length;
    if (hit && mode === 'length-long') claimed = length + 1000;
    if (hit && mode === 'length-short') claimed = Math.max(0, length - 1000);
    const headers = { 'content-length': claimed, etag: `"${size}"`, 'accept-ranges': 'bytes', 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' };
    if (honourRange) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    reply(honourRange ? 206 : 200, headers);
    if (req.method === 'HEAD') return res.end();
    if (hit && mode === 'length-short') length = claimed;
    const dropAt = hit && mode === 'drop-once' && length > CHUNK && once(rel) ? Math.floor(length / 2) : -1;
    const handle = await open(file, 'r');
    try {
      let sent = 0;
      const buffer = Buffer.alloc(CHUNK);
      while (sent < length) {
        const piece = hit && mode === 'trickle' ? trickleBytes : CHUNK;
        const want = Math.min(piece, length - sent, dropAt >= 0 ? dropAt - sent : Infinity);
        if (want <= 0) { record.dropped = sent; res.socket.destroy(); return; }
        const { bytesRead } = await handle.read(buffer, 0, want, start + sent);
        if (bytesRead === 0) break;
        if (!res.write(buffer.subarray(0, bytesRead)) && !res.destroyed) {
          await new Promise((ok) => {
            const done = () => { res.off('drain', done); res.off('close', done); ok(); };
            res.on('drain', done);
            res.on('close', done);
          });
        }
        if (res.destroyed) return; // the client went away (abort)
        sent += bytesRead;
        // Trickle, and pace a connection about to drop so the client has read part of it.
        if (hit && (mode === 'trickle' || dropAt >= 0)) await new Promise((ok) => setTimeout(ok, trickleDelayMs));
      }
      if (hit && mode === 'length-long') { record.dropped = sent; res.socket.destroy(); return; }
      res.end();
    } finally {
      await handle.close();
    }
  });
  await new Promise((ok, fail) => server.listen(0, '127.0.0.1', ok).on('error', fail));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }),
  };
}
