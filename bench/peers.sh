#!/usr/bin/env bash
# webvram vs transformers.js / onnxruntime-web on the peer benchmark protocol (../shared/peer-bench, README
# "Benchmarking another runtime"): all-MiniLM-L6-v2 embeddings in headless Chromium, same sentences, same
# timing loop, same cosine checks. Runs the peers, then webvram (bench/minilm.html on pkg/, so build first),
# one after the other on this machine, each config in a fresh Chromium; prints a markdown table. webvram runs as
# webvram:auto (default options), webvram:wasm (vram 'cpu'), webvram.cpu:auto and webvram.relaxed:auto (the
# CPU-only modules, webvram/cpu and webvram/cpu-relaxed), webvram.select:auto (webvram/select's pick) and with
# --webgpu webvram:webgpu (vram 'shared').
#   bash bench/peers.sh [--webgpu] [peer-bench run.mjs options, e.g. --reps 7]
#   --webgpu  also tjs:webgpu and webvram:webgpu (SwiftShader here: slow, sections on a 60 s budget)
# env: PEER_BENCH (default ../shared/peer-bench), DATA, CHROMIUM (see its README).
# Results: bench/out/peers.json, bench/out/webvram.json. Exit 1 if a wasm configuration failed its check.
set -uo pipefail
cd "$(dirname "$0")/.."
peer=${PEER_BENCH:-../shared/peer-bench}
peers=tjs:wasm,ort:wasm mine=webvram:auto,webvram:wasm,webvram.cpu:auto,webvram.relaxed:auto,webvram.select:auto
if [ "${1:-}" = --webgpu ]; then shift; peers+=,tjs:webgpu; mine+=,webvram:webgpu; fi
mkdir -p bench/out && rm -f bench/out/peers.json bench/out/webvram.json
status=0
"$peer/run.sh" --configs "$peers" --out bench/out/peers.json "$@" >/dev/null || status=1
"$peer/run.sh" --root repo=. --page /repo/bench/minilm.html --configs "$mine" --out bench/out/webvram.json "$@" >/dev/null || status=1
node bench/peers-table.mjs bench/out/peers.json bench/out/webvram.json
exit $status
