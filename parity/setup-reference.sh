#!/usr/bin/env bash
# Installs the pinned llama.cpp reference (llama-cpp-python, built from its sdist, CPU only) into
# parity/.venv (git-ignored). The sdist's sha256 must match parity/reference/PIN.json, so the
# reference never floats to "latest". Idempotent; a build takes about 10 minutes on 2 cores.
#   parity/setup-reference.sh [PIN.json]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pin=${1:-$here/reference/PIN.json}
venv=$here/.venv
read -r name version sdist sha < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["package"], p["version"], p["sdist"], p["sdist_sha256"])' "$pin")

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
have=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || true)
if [ "$have" = "$version" ]; then
  echo "reference ready: $name $version in $venv" >&2
  exit 0
fi
cache=$here/.cache
mkdir -p "$cache"
if ! echo "$sha  $cache/$sdist" | sha256sum --check --status 2>/dev/null; then
  "$venv/bin/pip" download --quiet --no-deps --no-binary "$name" -d "$cache" "$name==$version"
fi
echo "$sha  $cache/$sdist" | sha256sum --check --quiet || { echo "sha256 mismatch for $cache/$sdist (pinned $sha)" >&2; exit 1; }
CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  "$venv/bin/pip" install --quiet "$cache/$sdist"
"$venv/bin/python" -c 'import llama_cpp; print("reference ready:", llama_cpp.__version__)'
