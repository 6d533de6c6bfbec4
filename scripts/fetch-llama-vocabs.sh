#!/usr/bin/env bash
# Extracts llama.cpp's tokenizer test files (vendor/llama.cpp/models/ggml-vocab-*.gguf with their
# .inp/.out case files) from the pinned llama-cpp-python sdist (parity/reference/PIN.json,
# sha256-checked) into .cache/llama-vocabs/ (git-ignored). Idempotent. Prints the folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pin=$root/parity/reference/PIN.json
read -r name version sdist sha < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["package"], p["version"], p["sdist"], p["sdist_sha256"])' "$pin")
cache=$root/.cache
out=$cache/llama-vocabs
if [ -f "$out/.done-$version" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/sdist" "$out"
tarball=$cache/sdist/$sdist
# parity/setup-reference.sh may have fetched it already.
[ -f "$tarball" ] || [ ! -f "$root/parity/.cache/$sdist" ] || cp "$root/parity/.cache/$sdist" "$tarball"
if ! echo "$sha  $tarball" | sha256sum --check --status 2>/dev/null; then
  echo "fetch-llama-vocabs: downloading $name==$version (sdist)" >&2
  python3 -m pip download --quiet --no-deps --no-binary "$name" -d "$cache/sdist" "$name==$version" >&2
fi
echo "$sha  $tarball" | sha256sum --check --quiet || { echo "sha256 mismatch for $tarball" >&2; exit 1; }
tar xzf "$tarball" -C "$out" --strip-components=4 --wildcards "*/vendor/llama.cpp/models/ggml-vocab-*"
touch "$out/.done-$version"
echo "$out"
