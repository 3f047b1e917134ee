#!/usr/bin/env bash
# The wasm tests in headless Chromium; webdriver.json carries the SwiftShader WebGPU flags.
# --release shares compiled dependencies with `scripts/build.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
wasm-pack test --release --headless --chrome --chromedriver /usr/bin/chromedriver "$@"
