#!/usr/bin/env bash
# Installs the CUDA 13.0 compiler toolchain from PyPI wheels into .cache/cuda-toolchain (git-ignored),
# enough to build `--features cuda` on a machine without a GPU or a system CUDA install. Pinned to
# 13.0 to match the GPU machines' driver (CUDA 13.0). Idempotent. Prints the CUDA_HOME to use:
#   export CUDA_HOME=$(scripts/install-cuda-toolchain.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.cache/cuda-toolchain
pins=("nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*")
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
home=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))' 2>/dev/null || true)
if [ -z "$home" ] || [ ! -x "$home/bin/nvcc" ]; then
  echo "install-cuda-toolchain: installing ${pins[*]}" >&2
  "$venv/bin/pip" install --quiet "${pins[@]}" >&2
  home=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
fi
[ -x "$home/bin/nvcc" ] || { echo "install-cuda-toolchain: nvcc missing under $home" >&2; exit 1; }
echo "$home"
