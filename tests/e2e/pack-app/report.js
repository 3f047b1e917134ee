// Puts what the test checks on `window.result`: plain arrays, or the error's code and message.
export function report(promise) {
  promise.then(
    ({ vectors, ...rest }) => {
      window.result = {
        ...rest,
        float32: vectors.every((v) => v instanceof Float32Array),
        vectors: vectors.map((v) => Array.from(v)),
      };
    },
    (e) => { window.result = { error: `${e.code ?? e.name}: ${e.message}` }; },
  );
}
