/** What `chooseBuild` decided: the module to import, and the signal that decided it. */
export interface BuildChoice {
  /**
   * `'gpu'`: `webvram` (WebGPU and the CPU); `'cpu'`: `webvram/cpu` (the CPU only, smaller);
   * `'cpu-relaxed'`: `webvram/cpu-relaxed` (the CPU only with relaxed SIMD, where it validates).
   */
  build: 'gpu' | 'cpu' | 'cpu-relaxed';
  reason: string;
}

/** Which module `Runtime.create(options)` needs in this browser; reads `vram` and `powerPreference`. */
export function chooseBuild(options?: { vram?: string; powerPreference?: string }): Promise<BuildChoice>;

/** Whether this engine validates relaxed SIMD, which `webvram/cpu-relaxed` needs. */
export function hasRelaxedSimd(): boolean;

/** The module `chooseBuild(options)` picks, imported (all three have one API). */
export function importWebvram(options?: { vram?: string; powerPreference?: string }): Promise<typeof import('./index.js')>;
