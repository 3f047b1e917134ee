// An independent reader of safetensors files for tests: per-tensor WordHash (FNV-1a step over u64 words) checksums of the
// bytes on disk, to compare with what the wasm loader computed from the network.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;

/** webvram's WordHash: FNV-1a's step over little-endian u64 words, a trailing 1–7 bytes one by one. */
function wordHash(bytes) {
  let hash = FNV_OFFSET;
  const words = Math.floor(bytes.length / 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words; i += 1) hash = ((hash ^ view.getBigUint64(i * 8, true)) * FNV_PRIME) & MASK;
  for (let i = words * 8; i < bytes.length; i += 1) hash = ((hash ^ BigInt(bytes[i])) * FNV_PRIME) & MASK;
  return hash.toString(16).padStart(16, '0');
}

/**
 * `{tensorName: fnvHex}` for every `.safetensors` file in `dir`, the files' total size, the shard
 * names, and the size of `model.safetensors.index.json` (0 when there is none).
 */
export function expectedChecksums(dir) {
  const tensors = {};
  let total = 0;
  const shardNames = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
  const index = join(dir, 'model.safetensors.index.json');
  const indexBytes = existsSync(index) ? statSync(index).size : 0;
  for (const name of shardNames) {
    const file = readFileSync(join(dir, name));
    total += file.length;
    const headerLen = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8'));
    const data = file.subarray(8 + headerLen);
    for (const [tensor, info] of Object.entries(header)) {
      if (tensor === '__metadata__') continue;
      const [start, end] = info.data_offsets;
      tensors[tensor] = wordHash(data.subarray(start, end));
    }
  }
  return { tensors, total, shards: shardNames.length, shardNames, indexBytes };
}
