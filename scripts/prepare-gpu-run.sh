#!/usr/bin/env bash
# Prepares, on this GPU-less machine, everything a GPU machine without a Rust toolchain or network
# needs to run the GPU tests and benchmarks (scripts/gpu-run.sh), in git-ignored folders that the
# device tool carries, each under its 64 MiB limit:
#   .gpu-carry/model-a, .gpu-carry/model-b   the test model in two parts (carry one per call)
#   .gpu-carry/bin                            worker-orcd and the tests/gpu.rs binary (release, --features cuda)
#   .whl                                      the `gguf` wheel for the synthetic 1B model
# Then, on the GPU machine, back to back while it stays warm:
#   1. carry .gpu-carry/model-a: scripts/gpu-run.sh stash model-a
#   2. carry .gpu-carry/model-b: scripts/gpu-run.sh stash model-b
#   3. carry .gpu-carry/bin and .whl: scripts/gpu-run.sh all   (results land in $OUT)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || scripts/fetch-test-model.sh
CUDA_HOME=$(scripts/install-cuda-toolchain.sh)
export CUDA_HOME NVCC="$CUDA_HOME/bin/nvcc"

rm -rf .gpu-carry
mkdir -p .gpu-carry/model-a .gpu-carry/model-b .gpu-carry/bin
half=$(( ($(stat -c %s "$model") + 1) / 2 ))
head -c "$half" "$model" > .gpu-carry/model-a/part
tail -c +"$((half + 1))" "$model" > .gpu-carry/model-b/part
sha256sum "$model" | cut -d' ' -f1 > .gpu-carry/model-b/sha256

cargo build --release --locked --features cuda
cp target/release/worker-orcd .gpu-carry/bin/
test_bin=$(cargo test --release --locked --features cuda --test gpu --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])')
cp "$test_bin" .gpu-carry/bin/gpu-tests
strip .gpu-carry/bin/worker-orcd .gpu-carry/bin/gpu-tests
git rev-parse --short HEAD > .gpu-carry/bin/commit

mkdir -p .whl
[ -n "$(ls .whl/gguf-*.whl 2>/dev/null)" ] || python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "gguf==0.19.0"
du -sh .gpu-carry/* .whl
