#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with what scripts/prepare-gpu-run.sh made.
#   scripts/gpu-run.sh stash model-a|model-b   keep one half of the test model in /tmp/worker-orcd
#   scripts/gpu-run.sh all                     tests, parity and benchmarks; the record goes to $OUT
# Everything is written to $OUT/gpu-run.log as it runs, so a command cut off at its limit still
# returns what it did.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
keep=/tmp/worker-orcd
out=${OUT:-/tmp/worker-orcd-out}
mkdir -p "$keep" "$out"

case "${1:-}" in
  stash)
    cp ".gpu-carry/$2/"* "$keep/" 2>/dev/null
    for f in ".gpu-carry/$2/"*; do mv "$keep/$(basename "$f")" "$keep/$2.$(basename "$f")"; done
    ls -l "$keep"
    exit 0 ;;
  all) ;;
  *) echo "usage: $0 stash model-a|model-b | all" >&2; exit 2 ;;
esac

log="$out/gpu-run.log"
exec > >(tee -a "$log") 2>&1
mkdir -p models
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
cat "$keep/model-a.part" "$keep/model-b.part" > "$model"
[ "$(sha256sum "$model" | cut -d' ' -f1)" = "$(cat "$keep/model-b.sha256")" ] || { echo "model checksum mismatch"; exit 1; }
bin=.gpu-carry/bin
commit=$(cat $bin/commit)
export WORKER_ORCD_BIN=$root/$bin/worker-orcd WORKER_ORCD_REQUIRE_MODEL=1

echo "## device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"

echo "## GPU tests (tests/gpu.rs)"
# The test binary finds parity/ and models/ from the repository root.
WORKER_ORCD_ROOT=$root $bin/gpu-tests --test-threads=1 --nocapture
echo "gpu tests exit $?"

echo "## benchmarks (pp512 / tg128, median of 3)"
bench() {  # file slug, table label, model, extra args
  local line
  line=$($bin/worker-orcd bench --model "$3" --gpu-device 0 --prompt-tokens 512 --gen-tokens 128 --repeat 3 "${@:4}") || return
  echo "$line" > "$out/bench-$1.json"
  python3 -c 'import json, sys
o = json.loads(sys.argv[2])
print("| %s | %.1f | %.1f |" % (sys.argv[1], o["prefill_tok_s"], o["decode_tok_s"]))' "$2" "$line"
}
echo "| model, decode launch | prefill tok/s | decode tok/s |"
echo "| --- | ---: | ---: |"
bench smollm2-graph "SmolLM2-135M Q4_1, CUDA graph" "$model"
bench smollm2-eager "SmolLM2-135M Q4_1, kernel launches" "$model" --no-cuda-graph
if python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/gguf-*.whl; then
  syn=models/synthetic-1b-q4_0.gguf
  if PYTHONPATH=/tmp/site python3 scripts/make_synthetic_llama.py --preset 1b --type Q4_0 --out "$syn" 2>"$out/synthetic.log"; then
    bench synthetic1b-graph "synthetic Llama 1.04B Q4_0, CUDA graph" "$syn"
    bench synthetic1b-eager "synthetic Llama 1.04B Q4_0, kernel launches" "$syn" --no-cuda-graph
  else
    tail -3 "$out/synthetic.log"
  fi
fi
echo "done"
