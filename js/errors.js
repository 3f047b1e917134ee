// The errors webvram throws. Every one is a `WebvramError` (an `Error`) with a `code`; the class
// tells the kind apart for `instanceof`, the code for `switch`. Extra fields (`url`, `status`,
// `shard`, `tensor`, …) name what failed.

export class WebvramError extends Error {
  constructor(message, code, fields) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (fields) Object.assign(this, fields);
  }
}

/** The device ran out of memory, even after stepping the budget down (`OOM`). */
export class OutOfMemoryError extends WebvramError {}
/** The GPU device was lost and could not be replaced (`DEVICE_LOST`). */
export class DeviceLostError extends WebvramError {}
/** A download failed: network, HTTP status, size or integrity (`FETCH`, `INTEGRITY`). */
export class FetchError extends WebvramError {}
/** A file is not what it claims: a malformed header, config or tokenizer (`FORMAT`). */
export class FormatError extends WebvramError {}
/** The caller's `AbortSignal` fired (`ABORTED`); `name` is `"AbortError"` as for `fetch`. */
export class AbortError extends WebvramError {}
/** The browser or adapter cannot do what was asked (`UNSUPPORTED`, `BROWSER`). */
export class UnsupportedError extends WebvramError {}
/** An option has an unknown key, a wrong type or an impossible value (`INVALID_OPTION`). */
export class InvalidOptionError extends WebvramError {}
/** A call's arguments cannot be used (`INVALID_INPUT`). */
export class InvalidInputError extends WebvramError {}
/** The model was unloaded, the runtime destroyed, or a plan cannot run (`INVALID_STATE`). */
export class InvalidStateError extends WebvramError {}
/** Rust panicked earlier in this page (`PANIC`): webvram's state cannot be trusted, so every
 * later call fails with this; reload the page. Each runtime also fires an `error` event. */
export class PanicError extends WebvramError {}

const BY_CODE = {
  OOM: OutOfMemoryError,
  DEVICE_LOST: DeviceLostError,
  FETCH: FetchError,
  INTEGRITY: FetchError,
  FORMAT: FormatError,
  ABORTED: AbortError,
  UNSUPPORTED: UnsupportedError,
  BROWSER: UnsupportedError,
  INVALID_OPTION: InvalidOptionError,
  INVALID_INPUT: InvalidInputError,
  INVALID_STATE: InvalidStateError,
  PANIC: PanicError,
};

/** Called from wasm: the error for `code`, with `fields` copied onto it. */
export function makeError(message, code, fields) {
  const Kind = BY_CODE[code] ?? WebvramError;
  return new Kind(message, code, fields);
}
