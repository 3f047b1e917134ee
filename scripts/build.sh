#!/usr/bin/env bash
# Builds the npm package into pkg/: the full module (WebGPU + CPU) in pkg/, the CPU-only module
# (`--no-default-features`, a third of the size: no GPU kernel compiler) in pkg/cpu/, and the same
# with relaxed SIMD kernels (`--features relaxed-simd`; its dependencies are pkg/cpu's, so only
# the crate itself compiles again) in pkg/cpu-relaxed/, each by wasm-pack (release, --target web)
# and then wasm-opt from the `binaryen` npm package. (Debian 12's
# binaryen 108 produces a module Chromium rejects: it rewrites wasm-bindgen's reference-typed tables
# wrongly. Without any wasm-opt the package still works.) pkg/select.js picks one for the browser.
# Skips all work when pkg/ is newer than every input.
set -euo pipefail
cd "$(dirname "$0")/.."

full=pkg/webvram_bg.wasm
cpu=pkg/cpu/webvram_bg.wasm
relaxed=pkg/cpu-relaxed/webvram_bg.wasm
inputs="src js Cargo.toml Cargo.lock scripts/build.sh"
up_to_date() {
  for wasm in "$full" "$cpu" "$relaxed"; do
    [ -f "$wasm" ] && [ -z "$(find $inputs -newer "$wasm" -print -quit)" ] || return 1
  done
  [ -f pkg/select.js ]
}
if up_to_date; then
  echo "[build] pkg/ is up to date"
  exit 0
fi

# One module: wasm-pack into $1 (extra cargo arguments after it), then the package entry around it.
module() {
  local out=$1
  shift
  echo "[build] wasm-pack build --release --target web --out-dir $out $*"
  wasm-pack build --release --target web --out-dir "$out" --out-name webvram --no-pack ${1:+-- "$@"}
  # npm applies wasm-pack's .gitignore ("*") inside the folder and would leave the snippets out of
  # the tarball; the repository's own .gitignore already ignores /pkg.
  rm -f "$out/.gitignore"
  # The entry: wasm-bindgen's module plus the error classes (a wasm-bindgen snippet, under a hashed
  # folder); `await using rt = …` destroys the runtime.
  local errors
  errors=$(cd "$out" && find snippets -path '*/js/errors.js' | head -n 1)
  [ -n "$errors" ] || { echo "[build] no js/errors.js snippet in $out/" >&2; exit 1; }
  cp js/errors.d.ts "$out/errors.d.ts"
  sed "s#@ERRORS@#./$errors#" js/index.js > "$out/index.js"
  cp js/index.d.ts "$out/index.d.ts"
}
opt=node_modules/.bin/wasm-opt
level=${WASM_OPT_LEVEL:--O3}
# wasm-opt on one module, in place, in the background (its pid in $!). No --enable flags: binaryen
# reads the features rustc declared in the module.
optimise() {
  if [ -x "$opt" ] && [ "$level" != none ]; then
    echo "[build] wasm-opt $level $1 ($(stat -c %s "$1") bytes before; minutes)"
    { "$opt" "$level" "$1" -o "$1.opt" && mv "$1.opt" "$1"; } &
  else
    true &
  fi
}

# The full module first: its wasm-pack writes into pkg/, which holds cpu/ and cpu-relaxed/. Its
# wasm-opt (one core, ~6 min on this machine) runs while the CPU-only modules compile; theirs
# (about 1.5 min each) run one after the other beside it.
module pkg
optimise "$full"
full_pid=$!
module pkg/cpu --no-default-features
optimise "$cpu"
cpu_pid=$!
module pkg/cpu-relaxed --no-default-features --features relaxed-simd
wait "$cpu_pid"
optimise "$relaxed"
relaxed_pid=$!
cp js/select.js pkg/select.js
cp js/select.d.ts pkg/select.d.ts
wait "$full_pid"
wait "$relaxed_pid"
for wasm in "$full" "$cpu" "$relaxed"; do
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  awk -v w="$wasm" -v r="$raw" -v g="$gz" 'BEGIN { printf "[build] %s: %.1f MB, %.1f MB gzipped\n", w, r / 1e6, g / 1e6 }'
done
