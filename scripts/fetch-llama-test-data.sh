#!/usr/bin/env bash
# Extracts llama.cpp's test data from the pinned llama-cpp-python sdist (parity/reference/PIN.json,
# sha256-checked) into .cache/ (git-ignored): the tokenizer test files
# (vendor/llama.cpp/models/ggml-vocab-*.gguf with their .inp/.out cases) into .cache/llama-vocabs/
# and the chat templates (vendor/llama.cpp/models/templates/*.jinja) into .cache/llama-templates/.
# Idempotent. Prints the vocabulary folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pin=$root/parity/reference/PIN.json
read -r name version sdist sha < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["package"], p["version"], p["sdist"], p["sdist_sha256"])' "$pin")
cache=$root/.cache
out=$cache/llama-vocabs
templates=$cache/llama-templates
if [ -f "$out/.done-$version" ] && [ -f "$templates/.done-$version" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/sdist" "$out" "$templates"
tarball=$cache/sdist/$sdist
# parity/setup-reference.sh may have fetched it already.
[ -f "$tarball" ] || [ ! -f "$root/parity/.cache/$sdist" ] || cp "$root/parity/.cache/$sdist" "$tarball"
if ! echo "$sha  $tarball" | sha256sum --check --status 2>/dev/null; then
  echo "fetch-llama-test-data: downloading $name==$version (sdist)" >&2
  python3 -m pip download --quiet --no-deps --no-binary "$name" -d "$cache/sdist" "$name==$version" >&2
fi
echo "$sha  $tarball" | sha256sum --check --quiet || { echo "sha256 mismatch for $tarball" >&2; exit 1; }
tar xzf "$tarball" -C "$out" --strip-components=4 --wildcards "*/vendor/llama.cpp/models/ggml-vocab-*"
tar xzf "$tarball" -C "$templates" --strip-components=5 --wildcards "*/vendor/llama.cpp/models/templates/*.jinja"
touch "$out/.done-$version" "$templates/.done-$version"
echo "$out"
