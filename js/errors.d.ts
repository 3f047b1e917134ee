/** Every error webvram throws: an `Error` with a `code` and fields naming what failed. */
export class WebvramError extends Error {
  readonly code: ErrorCode;
  /** The file, shard or tensor involved, where there is one. */
  readonly url?: string;
  readonly shard?: string;
  readonly tensor?: string;
  readonly status?: string;
  readonly kind?: string;
  [field: string]: unknown;
}
export type ErrorCode =
  | 'OOM' | 'DEVICE_LOST' | 'FETCH' | 'INTEGRITY' | 'FORMAT' | 'ABORTED' | 'UNSUPPORTED' | 'BROWSER'
  | 'INVALID_OPTION' | 'INVALID_INPUT' | 'INVALID_STATE' | 'EXECUTION' | 'PANIC';
export class OutOfMemoryError extends WebvramError {}
export class DeviceLostError extends WebvramError {}
export class FetchError extends WebvramError {}
export class FormatError extends WebvramError {}
/** `name` is `"AbortError"`, as for an aborted `fetch`. */
export class AbortError extends WebvramError {}
export class UnsupportedError extends WebvramError {}
export class InvalidOptionError extends WebvramError {}
export class InvalidInputError extends WebvramError {}
export class InvalidStateError extends WebvramError {}
/** Rust panicked earlier in this page (`PANIC`): every later call fails; reload the page. */
export class PanicError extends WebvramError {}
