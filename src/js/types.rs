//! The TypeScript shapes of the plain objects the API takes and returns; wasm-bindgen writes this
//! text into `webvram.d.ts` next to the classes, whose methods name these types.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** ComfyUI's VRAM states. */
export type VramState = 'DISABLED' | 'NO_VRAM' | 'LOW_VRAM' | 'NORMAL_VRAM' | 'HIGH_VRAM' | 'SHARED';

/** `Runtime.create` options: ComfyUI's flags (`--lowvram` is `vram: 'low'`), sizes in bytes. */
export interface RuntimeOptions {
  /** `'auto'` (default) picks from the adapter: CPU on a software adapter (SwiftShader,
   * lavapipe), SHARED on integrated GPUs, LOW/NORMAL on discrete ones. The others force a state;
   * `'shared'` uses even a software adapter. */
  vram?: 'auto' | 'high' | 'normal' | 'low' | 'none' | 'cpu' | 'shared';
  /** Bytes of the budget never used for weights (`--reserve-vram`). */
  reserveVram?: number;
  /** The GPU budget in bytes, instead of the adapter-derived estimate. */
  vramBudget?: number;
  /** Bytes of weights kept in wasm memory at most. */
  hostBudget?: number;
  /** ComfyUI's smart memory: keep models loaded between calls (default true). */
  smartMemory?: boolean;
  /** Unload models idle this long. */
  idleUnloadMs?: number;
  /** Keep a wasm copy of GPU layers (default: only on discrete GPUs). */
  keepHostCopy?: boolean;
  /** What weights are held in: `'auto'` (default) is f16 on adapters with `shader-f16`, else
   * f32. f16 halves the memory weights take; compute stays f32 (outputs move ~1e-3). */
  weightDtype?: 'auto' | 'f32' | 'f16';
  powerPreference?: 'high-performance' | 'low-power';
  /** Apply and store budgets learned from out-of-memory events (localStorage; default true). */
  rememberBudget?: boolean;
  /** Fail uploads as out of memory beyond this many device bytes: to test OOM handling. */
  simulatedGpuCapacity?: number;
}

export interface AdapterProfile {
  available: boolean;
  unavailableReason: string | null;
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  backend: string;
  features: string[];
  limits: Record<string, number>;
  deviceMemoryGib: number | null;
  hardwareConcurrency: number | null;
  userAgent: string | null;
}

export interface Reason { signal: string; value: string; effect: string }

/** The VRAM decision and why. */
export interface Decision {
  state: VramState;
  cpuState: string;
  deviceClass: string;
  lowResource: boolean;
  unifiedMemory: boolean;
  estimateBytes: number;
  budgetBytes: number;
  reserveBytes: number;
  minInferenceBytes: number;
  minWeightRatioPermille: number;
  hostBudgetBytes: number;
  oomCount: number;
  /** What weights are held in, as chosen from `weightDtype` and the adapter. */
  weightDtype: 'f32' | 'f16';
  fingerprint: string;
  reasons: Reason[];
}

export type Tier = 'gpu' | 'host' | 'cache' | 'remote';

export interface LayerEntry {
  model: number;
  layer: number;
  name: string;
  bytes: number;
  tier: Tier;
  hostCopy: boolean;
  cached: boolean;
}

export interface MemoryMap {
  models: { model: number; name: string; sizeBytes: number; tierBytes: [number, number, number, number];
    hostCopyBytes: number;
    /** Bytes kept in wasm memory outside the layers (a table gathered on the host). */
    pinnedHostBytes: number; loaded: boolean; holders: number; lastUsedMs: number }[];
  layers: LayerEntry[];
  gpuBytes: number;
  hostBytes: number;
}

/** The manager's books against the allocator's pool (GPU) and the wasm copies held (host). */
export interface BooksCheck {
  bookedGpuBytes: number; heldGpuBytes: number; poolInUseBytes: number; poolPaddingBytes: number;
  poolReservedBytes: number; bookedHostBytes: number; heldHostBytes: number; hostRetainedBytes: number;
  toleranceBytes: number; hostToleranceBytes: number; hostAgrees: boolean; agrees: boolean;
}

/** ComfyUI's `/system_stats`, with its field names, plus webvram's `policy`, `books`, `memory_map`. */
export interface SystemStats {
  system: { os: string; ram_total: number; ram_free: number;
    /** The module's `WebAssembly.Memory` byte length. */
    wasm_memory_bytes: number; webvram_version: string; user_agent: string };
  devices: { name: string; type: string; index: number; vram_total: number; vram_free: number;
    torch_vram_total: number; torch_vram_free: number }[];
  vram_state: VramState;
  policy: Decision;
  books: BooksCheck;
  memory_map: MemoryMap;
}

export interface LoadProgress {
  phase: 'header' | 'download' | 'cache' | 'upload';
  loaded: number;
  total: number;
  shard: string;
  tensor: string | null;
}

export interface LoadModelOptions {
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /** Keep files in Cache Storage (default true); `'revalidate'` checks them with the server. */
  cache?: boolean | 'revalidate';
  chunkSize?: number;
  maxRetries?: number;
  retryBackoffMs?: number;
  /** Expected sha256 per shard file name, hex. */
  sha256?: Record<string, string>;
  allowExternal?: boolean;
}

export interface ModelInfo {
  id: number;
  url: string;
  fileBytes: number;
  /** Bytes of the weights as held (what the books count). */
  weightBytes: number;
  weightDtype: 'f32' | 'f16';
  layers: number;
  dimension: number;
  shards: string[];
}

export interface ForwardStats {
  layers: number; streamedLayers: number; residentBytes: number; uploadedBytes: number;
  fetchedBytes: number; peakStreamedBytes: number; streamedBoundBytes: number;
  poolInUseBefore: number; peakPoolInUse: number;
}

/** `embed` options. */
export interface EmbedOptions {
  /** Cut texts longer than the model's `max_seq_length` (default true, as sentence-transformers
   * does); `false` rejects them with an `InvalidInputError` naming the text and its tokens. */
  truncate?: boolean;
  /** Called after each batch: a call is split into batches that fit the inference budget
   * (longest texts first, at most 32 per batch), and the vectors come back in input order. */
  onProgress?: (progress: EmbedProgress) => void;
  /** Aborting rejects the call with an `AbortError` (`ABORTED`) before its next batch. */
  signal?: AbortSignal;
}

/** What `onProgress` hears after each batch of an `embed` call. */
export interface EmbedProgress { done: number; total: number; batch: number; batches: number }

export interface EmbedStats {
  forward: ForwardStats; steppedDown: boolean; deviceReplaced: boolean;
  /** Batches the call was split into (`forward` sums their counts and keeps their peaks). */
  batches: number;
  /** How many texts were cut at `max_seq_length`, and which (indices into the texts). */
  truncated: number; truncatedTexts: number[];
}

export type RuntimeEventType = 'statechange' | 'oom' | 'devicelost' | 'layermove' | 'error';

/** `event.detail` of each runtime event. */
export type RuntimeEventDetail =
  | { type: 'statechange'; from: VramState; to: VramState; budgetBytes: number }
  | { type: 'oom'; learned: { fingerprint: string; budgetBytes: number; state: VramState; oomCount: number; updatedMs: number } }
  | { type: 'devicelost'; replaced: boolean }
  | { type: 'layermove'; model: number; layer: string; bytes: number; from: Tier; to: Tier }
  | { type: 'error'; code: 'PANIC'; message: string };
"#;
