#!/usr/bin/env bash
# Builds parity/chat/render_chat_template.cpp against llama.cpp's own Jinja engine
# (common/jinja, with common/json and common/unicode) from the pinned llama-cpp-python sdist,
# into parity/.cache/render_chat_template. Needs g++ only (no CMake, no ggml). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$here/.cache/render_chat_template
if [ -x "$out" ] && [ "$out" -nt "$here/chat/render_chat_template.cpp" ]; then
  echo "$out"
  exit 0
fi
"$root/scripts/fetch-llama-test-data.sh" >/dev/null
version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$here/reference/PIN.json")
tarball=$(ls "$root/.cache/sdist/"*"$version"*.tar.gz)
src=$here/.cache/llama-jinja-src
rm -rf "$src" && mkdir -p "$src/shim"
tar xzf "$tarball" -C "$src" --strip-components=3 --wildcards \
  "*/vendor/llama.cpp/common/jinja/*" "*/vendor/llama.cpp/common/json.*" "*/vendor/llama.cpp/common/unicode.*" \
  "*/vendor/llama.cpp/vendor/nlohmann/*"
# common/json.cpp takes only GGML_ASSERT from ggml.h
cat > "$src/shim/ggml.h" <<'H'
#pragma once
#include <cstdio>
#include <cstdlib>
#define GGML_ASSERT(x) do { if (!(x)) { std::fprintf(stderr, "assertion failed: %s\n", #x); std::abort(); } } while (0)
H
g++ -std=c++17 -O1 -I"$src/shim" -I"$src/common" -I"$src/vendor" -o "$out" \
  "$here/chat/render_chat_template.cpp" "$src"/common/jinja/*.cpp "$src/common/json.cpp" "$src/common/unicode.cpp"
echo "$out"
