#!/usr/bin/env bash
# Fuzzes safetensors header + index parsing for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]     (default 60)
#
# Needs `cargo install cargo-fuzz` and a C++ compiler (libfuzzer-sys builds libFuzzer). cargo-fuzz passes
# nightly-only flags (-Zsanitizer=address, …); on a stable toolchain this script sets RUSTC_BOOTSTRAP=1 so
# stable rustc accepts them. Findings land in fuzz/artifacts/header/, the growing corpus in
# fuzz/corpus/header/ (seeded from fuzz/seeds/header/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
mkdir -p fuzz/corpus/header
cp -n fuzz/seeds/header/* fuzz/corpus/header/ 2>/dev/null || true
exec cargo fuzz run header fuzz/corpus/header -- \
    -max_total_time="$seconds" -max_len=4096 -dict=fuzz/header.dict -print_final_stats=1
