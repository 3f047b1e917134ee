// An independent reader of safetensors files for tests: per-tensor FNV-1a 64 checksums of the
// bytes on disk, to compare with what the wasm loader computed from the network.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = (1n << 64n) - 1n;

function fnv1a(bytes) {
  let hash = FNV_OFFSET;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK;
  return hash.toString(16).padStart(16, '0');
}

/** `{tensorName: fnvHex}` for every `.safetensors` file in `dir`, and the files' total size. */
export function expectedChecksums(dir) {
  const tensors = {};
  let total = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
    const file = readFileSync(join(dir, name));
    total += file.length;
    const headerLen = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8'));
    const data = file.subarray(8 + headerLen);
    for (const [tensor, info] of Object.entries(header)) {
      if (tensor === '__metadata__') continue;
      const [start, end] = info.data_offsets;
      tensors[tensor] = fnv1a(data.subarray(start, end));
    }
  }
  return { tensors, total };
}
