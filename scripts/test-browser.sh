#!/usr/bin/env bash
# The wasm tests in headless Chromium; webdriver.json carries the SwiftShader WebGPU flags.
# --release shares compiled dependencies with `scripts/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
# SwiftShader runs the executor tests at CPU speed; the default 20 s per test is too tight on 2 cores.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
wasm-pack test --release --headless --chrome --chromedriver /usr/bin/chromedriver "$@"
