# Helpers the fetch scripts share; `source` it after setting LOG_TAG (e.g. fetch-model).

log() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }

# The sha256 of a file, in hex (sha256sum where there is one, else Python).
sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | awk '{print $1}'
  else python3 -c 'import hashlib,sys;h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
  for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; fi
}
