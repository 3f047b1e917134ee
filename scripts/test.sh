#!/usr/bin/env bash
# `npm test`: every test layer, none skipped. Each layer can also run alone (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== native tests (cargo test, wgpu on Vulkan)"
cargo test --all-targets
echo "== browser tests (wasm-pack test, headless Chromium + SwiftShader WebGPU)"
bash scripts/test-browser.sh
echo "== build the package"
bash scripts/build.sh
echo "== end-to-end tests (playwright-core + Chromium)"
node --test tests/e2e/
