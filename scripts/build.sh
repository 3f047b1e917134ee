#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release, --target web), then wasm-opt -Oz from the
# `binaryen` npm package. (Debian 12's binaryen 108 produces a module Chromium rejects: it rewrites
# wasm-bindgen's reference-typed tables wrongly. Without any wasm-opt the package still works.)
# Skips all work when pkg/ is newer than every input.
set -euo pipefail
cd "$(dirname "$0")/.."

wasm=pkg/webvram_bg.wasm
if [ -f "$wasm" ] && [ -f pkg/index.js ] && [ -z "$(find src js Cargo.toml Cargo.lock scripts/build.sh -newer "$wasm" -print -quit)" ]; then
  echo "[build] pkg/ is up to date"
  exit 0
fi
echo "[build] wasm-pack build --release --target web"
wasm-pack build --release --target web --out-dir pkg --out-name webvram --no-pack
# npm applies wasm-pack's pkg/.gitignore ("*") inside pkg/ and would leave the snippets out of the
# tarball; the repository's own .gitignore already ignores /pkg.
rm -f pkg/.gitignore
# The package entry: wasm-bindgen's module plus the error classes (a wasm-bindgen snippet, under a
# hashed folder); `await using rt = …` destroys the runtime.
errors=$(cd pkg && find snippets -path '*/js/errors.js' | head -n 1)
[ -n "$errors" ] || { echo "[build] no js/errors.js snippet in pkg/" >&2; exit 1; }
cp js/errors.d.ts pkg/errors.d.ts
sed "s#@ERRORS@#./$errors#" js/index.js > pkg/index.js
cp js/index.d.ts pkg/index.d.ts
opt=node_modules/.bin/wasm-opt
level=${WASM_OPT_LEVEL:--O3}
if [ -x "$opt" ] && [ "$level" != none ]; then
  echo "[build] wasm-opt $level ($(stat -c %s "$wasm") bytes before; about a minute)"
  # No --enable flags: binaryen reads the features rustc declared in the module.
  "$opt" "$level" "$wasm" -o "$wasm.opt" && mv "$wasm.opt" "$wasm"
fi
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v w="$wasm" -v r="$raw" -v g="$gz" 'BEGIN { printf "[build] %s: %.1f MB, %.1f MB gzipped\n", w, r / 1e6, g / 1e6 }'
