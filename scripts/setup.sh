#!/usr/bin/env bash
# Installs what building and testing worker-orcd needs on a fresh Debian/Ubuntu machine, then
# fetches the pinned test model. Idempotent: a second run only checks.
#   - libclang (bindgen generates the Rust bindings of include/worker_core.h from it)
#   - a C++17 compiler (g++), python3 + venv (test model fetch, parity comparison, the CUDA
#     toolchain wheels of scripts/install-cuda-toolchain.sh, the manifest validator of
#     deploy/validate.sh), curl (scripts/demo.sh)
#   - Debian's nginx (tests/nginx_front.rs runs it, as the test's user, in front of two workers;
#     the packaged service is stopped again so nothing is left listening on port 80)
#   - clang with its libFuzzer and sanitizer runtimes (libclang-rt-dev): the C++ fuzz harness of
#     fuzz/build-cpp.sh (scripts/fuzz.sh; nightly Rust and cargo-fuzz: scripts/install-fuzz-tools.sh)
#   - the test model, models/SmolLM2-135M-Instruct.Q4_1.gguf (sha256-pinned)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

need_apt=()
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1; then
  need_apt+=(libclang-dev)
fi
command -v g++ >/dev/null || need_apt+=(g++)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v curl >/dev/null || need_apt+=(curl)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v clang++ >/dev/null || need_apt+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need_apt+=(libclang-rt-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
  if [[ " ${need_apt[*]} " == *" nginx "* ]]; then
    # The package starts its service where an init system lets it; the tests start their own.
    if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
      $sudo_cmd systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
    if [ -s /run/nginx.pid ]; then
      $sudo_cmd /usr/sbin/nginx -s stop 2>/dev/null || true
    fi
  fi
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs) and re-run" >&2
  exit 1
fi
"$root/scripts/fetch-test-model.sh"
