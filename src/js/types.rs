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
  /** Cap the device's maxStorageBufferBindingSize (bytes) below the adapter's, as a phone's
   *  128 MiB: larger weights are then stored and read in row blocks. Browsers do not go below
   *  WebGPU's default of 128 MiB. */
  maxBindingBytes?: number;
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
    wasm_memory_bytes: number; webvram_version: string;
    /** The package module: `'gpu'` `webvram`, `'cpu'` `webvram/cpu`, `'cpu-relaxed'` `webvram/cpu-relaxed`. */
    webvram_build: 'gpu' | 'cpu' | 'cpu-relaxed'; user_agent: string };
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
  /** What the model is for: `embed` (sentence-embedding) or `generate` and friends (causal-lm). */
  kind: 'sentence-embedding' | 'causal-lm';
  url: string;
  fileBytes: number;
  /** Bytes of the weights as held (what the books count). */
  weightBytes: number;
  weightDtype: 'f32' | 'f16';
  layers: number;
  /** Width of the embeddings (an encoder's output; a decoder's hidden states). */
  dimension: number;
  /** A causal LM's vocabulary size: the length of `logits()`. */
  vocabSize?: number;
  /** A causal LM's longest context (prompt + new tokens). */
  contextLength?: number;
  shards: string[];
  /** Lookup tables left in their files because they did not fit `hostBudget` (a sentence
   *  encoder's word table): each call reads only its tokens' rows from Cache Storage. */
  rowReadTables: string[];
}

/** One turn of a conversation, rendered with the model's chat template. */
export interface ChatMessage { role: 'system' | 'user' | 'assistant' | string; content: string }

/** `generate` / `stream` options. */
export interface GenerateOptions {
  /** Tokens to generate at most (default 128; cut at the model's context). */
  maxNewTokens?: number;
  /** 0 (default) is greedy; higher samples more freely. */
  temperature?: number;
  /** Sample among the `topK` most likely tokens only (0: all). */
  topK?: number;
  /** Sample among the most likely tokens whose probabilities sum to `topP` (1: all). */
  topP?: number;
  /** Above 1, tokens already in the prompt or output become less likely (as transformers). */
  repetitionPenalty?: number;
  /** The sampler's seed: the same seed gives the same text. */
  seed?: number;
  /** Texts that end the generation (left out of `text`). */
  stop?: string | string[];
  /** Ids never generated (e.g. the end-of-sequence ids, to always get `maxNewTokens`). */
  suppressTokens?: number[];
  /** Aborting rejects the call with an `AbortError` (`ABORTED`) before its next token; the
   * error's `partial` holds the `Generation` so far (`finishReason: 'abort'`). */
  signal?: AbortSignal;
  /** Hears each token with the text it adds (held back inside a UTF-8 sequence or a possible stop text). */
  onToken?: (chunk: TokenChunk) => void;
}

/** One generated token and the text it adds. */
export interface TokenChunk { token: number; text: string }

export interface GenerateStats {
  promptTokens: number; generatedTokens: number;
  /** Milliseconds of the prompt's forward pass (tokenizing excluded). */
  prefillMs: number;
  /** Milliseconds from the first generated token to the last, and steps per second. */
  decodeMs: number; decodeTokensPerS: number;
  /** Weight bytes uploaded per decode step (layers streamed because they are not resident). */
  streamedBytesPerToken: number;
  /** Bytes of the KV cache at the end. */
  peakKvCacheBytes: number;
  /** Layers run per step, and how many were uploaded for the last one. */
  layers: number; streamedLayers: number;
  /** Where the output projection ran (`'host'`: on the token table kept in wasm memory). */
  head: 'host';
  /** Milliseconds in the output projection, over all steps. */
  headMs: number;
  deviceReplaced: boolean;
  /** Where the decode steps ran the layers the GPU does not hold (measured on the first
   * generation with enough steps, then remembered by the model). */
  decodeSplit: DecodeSplit;
  /** Where the prompt ran them: uploaded, unless the model's measured decode steps bound the
   * CPU to be faster (`tokens × cpuStepMs < uploadStepMs`). */
  prefillSplit: { nonResidentOn: 'gpu' | 'cpu' | 'none'; reason: string };
  forward: ForwardStats;
}

/** llama.cpp's `-ngl` split, measured: non-resident layers uploaded per decode step (`'gpu'`)
 * or computed on the CPU from wasm memory (`'cpu'`); `'none'` when there was nothing to choose. */
export interface DecodeSplit {
  nonResidentOn: 'gpu' | 'cpu' | 'none';
  reason: string;
  uploadStepMs?: number; cpuStepMs?: number;
}

/** What `generate` resolves to. */
export interface Generation {
  text: string;
  /** The generated ids (an end-of-sequence id included when it ended the generation). */
  tokens: number[];
  /** `'stop'`: an end-of-sequence token or a `stop` text; `'length'`: `maxNewTokens` reached. */
  /** `'abort'` only in an `AbortError`'s `partial` (the result when the signal fired). */
  finishReason: 'stop' | 'length' | 'abort';
  stats: GenerateStats;
}

export interface Model {
  /** `generate` as an async iterator of `{token, text}`; leaving the loop early aborts the generation. */
  stream(prompt: string | ChatMessage[], options?: GenerateOptions): AsyncIterableIterator<TokenChunk>;
}

export interface ForwardStats {
  layers: number; streamedLayers: number; residentBytes: number; uploadedBytes: number;
  fetchedBytes: number; peakStreamedBytes: number; streamedBoundBytes: number;
  /** Streamed layers whose read started one layer before their upload (each at most the
   * `hostBudget` in size; the bytes wait outside wasm memory), and the most bytes so waiting. */
  readAheadLayers: number; peakReadAheadBytes: number;
  poolInUseBefore: number; peakPoolInUse: number;
  /** Layers computed on the CPU from wasm memory while the rest ran on the GPU, and how often
   * the activation crossed between the two. */
  cpuLayers: number; deviceMoves: number;
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
