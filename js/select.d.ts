/** What `chooseBuild` decided: the module to import, and the signal that decided it. */
export interface BuildChoice {
  /** `'gpu'`: `webvram` (WebGPU and the CPU); `'cpu'`: `webvram/cpu` (the CPU only, smaller). */
  build: 'gpu' | 'cpu';
  reason: string;
}

/** Which module `Runtime.create(options)` needs in this browser; reads `vram` and `powerPreference`. */
export function chooseBuild(options?: { vram?: string; powerPreference?: string }): Promise<BuildChoice>;

/** `webvram` or `webvram/cpu`, whichever `chooseBuild(options)` picks, imported (one API). */
export function importWebvram(options?: { vram?: string; powerPreference?: string }): Promise<typeof import('./index.js')>;
