#!/usr/bin/env bash
# Installs the pinned llama.cpp reference (llama-cpp-python, built from its sdist, CPU only) into
# parity/.venv (git-ignored), after the pinned `numpy` and `gguf` packages that write and read GGUF files
# (scripts/make_random_models.py). The sdist's sha256 must match parity/reference/PIN.json, so the
# reference never floats to "latest". Idempotent; a build takes about 10 minutes on 2 cores.
#   parity/setup-reference.sh [--gguf-only] [PIN.json]
# --gguf-only stops after numpy and gguf (seconds): what the tests need to regenerate the random models.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gguf_only=0
if [ "${1:-}" = --gguf-only ]; then gguf_only=1; shift; fi
pin=${1:-$here/reference/PIN.json}
# parity/.venv may be a symlink to a shared folder; `python -m venv` refuses a symlinked path, so resolve it.
venv=$(realpath -m "$here/.venv")
read -r name version sdist sha < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["package"], p["version"], p["sdist"], p["sdist_sha256"])' "$pin")
read -r -a py_pins < <(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(" ".join(f"{k}=={v}" for k, v in p["python_packages"].items()))' "$pin")

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
have_pins() { "$venv/bin/python" - "${py_pins[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
}
have_pins || "$venv/bin/pip" install --quiet "${py_pins[@]}"
if [ "$gguf_only" = 1 ]; then
  echo "gguf ready: ${py_pins[*]} in $venv" >&2
  exit 0
fi
have=$("$venv/bin/python" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || true)
if [ "$have" = "$version" ]; then
  echo "reference ready: $name $version, ${py_pins[*]} in $venv" >&2
  exit 0
fi
cache=$here/.cache
mkdir -p "$cache"
if ! echo "$sha  $cache/$sdist" | sha256sum --check --status 2>/dev/null; then
  "$venv/bin/pip" download --quiet --no-deps --no-binary "$name" -d "$cache" "$name==$version"
fi
echo "$sha  $cache/$sdist" | sha256sum --check --quiet || { echo "sha256 mismatch for $cache/$sdist (pinned $sha)" >&2; exit 1; }
# The pins go along as constraints so llama-cpp-python's own numpy requirement cannot move numpy.
CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  "$venv/bin/pip" install --quiet "$cache/$sdist" -c <(printf '%s\n' "${py_pins[@]}")
have_pins || { echo "llama-cpp-python's install moved a pinned package (${py_pins[*]})" >&2; exit 1; }
"$venv/bin/python" -c 'import llama_cpp; print("reference ready:", llama_cpp.__version__)'
