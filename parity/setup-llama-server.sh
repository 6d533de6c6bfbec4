#!/usr/bin/env bash
# Builds llama.cpp's llama-server (CPU only, GGML_NATIVE=ON, Release, flash attention left to the run-time flag)
# from the llama.cpp vendored in the pinned llama-cpp-python sdist -- the same sdist, sha256-checked against
# parity/reference/PIN.json, that parity/setup-reference.sh builds the Python reference from, so the server and
# the logits reference are one llama.cpp. Everything goes under parity/.cache/ (git-ignored):
#   parity/.cache/<sdist>                  the sdist (downloaded once, shared with setup-reference.sh)
#   parity/.cache/tools-venv/              cmake and ninja from PyPI when the machine has no cmake >= 3.18
#   parity/.cache/llama-server/src/        vendor/llama.cpp out of the sdist
#   parity/.cache/llama-server/build/bin/llama-server
# Idempotent: a second run only checks the stamp and that the binary runs. The last line on stdout is the path
# of the llama-server binary (everything else goes to stderr). A build takes about 7 minutes on 2 cores.
# --target NAME builds another tool of the same build tree instead (parity/setup-llama-quantize.sh: llama-quantize);
# a tree already configured from the same sdist and flags is reused, so that costs only the tool's own files.
# --isa avx2 builds for AVX2 + FMA + F16C only (GGML_NATIVE=OFF, no AVX-512) into parity/.cache/llama-server-avx2/,
# to compare with worker-orcd's WC_ISA=avx2 path on an AVX-512 machine (scripts/bench.sh --isa avx2).
# --isa avx512 builds for AVX-512 (F, BW, DQ, VL, VNNI, VBMI, BF16) without AMX into parity/.cache/llama-server-avx512/:
# on an AMX host (Sapphire Rapids and later) the native build's AMX matmul can crash (it did, SIGSEGV in
# ggml_backend_amx_mul_mat, on a 2-vCPU Xeon VM on 2026-12-02); this is the best llama.cpp that runs there.
#   parity/setup-llama-server.sh [--target NAME] [--isa avx2|avx512] [PIN.json]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=llama-server
isa=native
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --isa) isa=$2; shift 2 ;;
    *) break ;;
  esac
done
case "$isa" in native|avx2|avx512) ;; *) echo "setup-llama-server.sh: --isa is native, avx2 or avx512, not $isa" >&2; exit 2 ;; esac
pin=${1:-$here/reference/PIN.json}
cache=$here/.cache
dir=$cache/llama-server
[ "$isa" = native ] || dir=$cache/llama-server-$isa
src=$dir/src
build=$dir/build
bin=$build/bin/$target
stamp=$dir/stamp
read -r name version sdist sha < <(python3 -c 'import json, sys; p = json.load(open(sys.argv[1]))
print(p["package"], p["version"], p["sdist"], p["sdist_sha256"])' "$pin")

isa_flags=(-DGGML_NATIVE=ON)
[ "$isa" = avx2 ] && isa_flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF)
[ "$isa" = avx512 ] && isa_flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON
  -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
cmake_flags=(
  -DCMAKE_BUILD_TYPE=Release
  "${isa_flags[@]}" -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF
  -DBUILD_SHARED_LIBS=OFF
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_APP=OFF
  # No network at build time: no web UI (npm, or a download from a Hugging Face bucket), no HTTPS client.
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF
  # The sources are not a git checkout; say which llama.cpp this is instead of "unknown".
  "-DLLAMA_BUILD_COMMIT=$name-$version" -DLLAMA_BUILD_NUMBER=0
)
want_stamp="$sha ${cmake_flags[*]}"

# llama-server says its version; other tools (llama-quantize) have no such flag, being there is enough.
runs() { if [ "$target" = llama-server ]; then "$bin" --version >/dev/null 2>&1; else [ -x "$bin" ]; fi; }
configured() { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && [ -f "$build/CMakeCache.txt" ]; }

if [ -x "$bin" ] && configured && runs; then
  echo "$target ready ($name $version, vendored llama.cpp): $bin" >&2
  [ "$target" = llama-server ] && "$bin" --version 2>&1 | sed 's/^/  /' >&2
  echo "$bin"
  exit 0
fi

# Build tools from PyPI live in their own venv under parity/.cache (not parity/.venv, the reference's).
tools=$cache/tools-venv
tools_venv() { [ -x "$tools/bin/pip" ] || python3 -m venv "$tools" >&2; }

if configured; then
  # Same sdist and flags already configured here: build only the missing tool.
  cmake=$(grep -m1 '^CMAKE_COMMAND:' "$build/CMakeCache.txt" | cut -d= -f2)
  [ -x "$cache/tools-venv/bin/ninja" ] && export PATH="$cache/tools-venv/bin:$PATH"
  t0=$(date +%s)
  GIT_CEILING_DIRECTORIES=$dir "$cmake" --build "$build" --target "$target" --parallel "$(nproc)" >&2
  echo "$target built in $(( $(date +%s) - t0 )) s" >&2
  runs || { echo "$bin was not built" >&2; exit 1; }
  echo "$bin"
  exit 0
fi

# 1. The pinned sdist, the same file and check as setup-reference.sh.
mkdir -p "$cache"
if ! echo "$sha  $cache/$sdist" | sha256sum --check --status 2>/dev/null; then
  echo "downloading $name==$version sdist into $cache" >&2
  tools_venv
  "$tools/bin/pip" download --quiet --no-deps --no-binary "$name" -d "$cache" "$name==$version" >&2
fi
echo "$sha  $cache/$sdist" | sha256sum --check --quiet \
  || { echo "sha256 mismatch for $cache/$sdist (pinned $sha)" >&2; exit 1; }

# 2. The vendored llama.cpp, which must carry the server.
top=${sdist%.tar.gz}
rm -rf "$src"
mkdir -p "$src"
tar -xzf "$cache/$sdist" -C "$src" --strip-components=3 "$top/vendor/llama.cpp"
if [ -f "$src/tools/server/CMakeLists.txt" ]; then
  server_dir=tools/server
elif [ -f "$src/examples/server/CMakeLists.txt" ]; then
  server_dir=examples/server
else
  echo "the vendored llama.cpp in $sdist has no tools/server or examples/server" >&2
  exit 1
fi
echo "vendored llama.cpp has $server_dir" >&2

# 3. cmake (>= 3.18) and ninja: the machine's, else from PyPI into a venv under parity/.cache.
cmake=$(command -v cmake || true)
if [ -n "$cmake" ]; then
  have=$("$cmake" --version | awk 'NR==1 {print $3}')
  [ "$(printf '%s\n' 3.18 "$have" | sort -V | head -1)" = 3.18 ] || cmake=""
fi
if [ -z "$cmake" ]; then
  tools_venv
  [ -x "$tools/bin/cmake" ] && [ -x "$tools/bin/ninja" ] \
    || "$tools/bin/pip" install --quiet 'cmake>=3.18,<5' 'ninja>=1.11' >&2
  cmake=$tools/bin/cmake
  export PATH="$tools/bin:$PATH"
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
echo "cmake: $cmake ($("$cmake" --version | head -1))" >&2

# 4. Configure and build only the wanted target. GIT_CEILING_DIRECTORIES keeps llama.cpp's build-info
#    from picking up the commit of the repository this cache lives in.
rm -rf "$build"
t0=$(date +%s)
GIT_CEILING_DIRECTORIES=$dir "$cmake" -S "$src" -B "$build" "${generator[@]}" "${cmake_flags[@]}" >&2
GIT_CEILING_DIRECTORIES=$dir "$cmake" --build "$build" --target "$target" --parallel "$(nproc)" >&2
echo "$target built in $(( $(date +%s) - t0 )) s" >&2
runs || { echo "$bin does not run" >&2; exit 1; }
[ "$target" = llama-server ] && "$bin" --version 2>&1 | sed 's/^/  /' >&2
echo "$want_stamp" > "$stamp"
echo "$bin"
