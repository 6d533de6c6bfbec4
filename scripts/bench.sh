#!/usr/bin/env bash
# Benchmarks worker-orcd next to llama.cpp on the same model and thread count and prints a
# markdown table (prefill = pp512, decode = tg128, medians of 3 runs).
#   scripts/bench.sh [--threads N] [--model PATH]
# llama.cpp is measured through the pinned llama-cpp-python in parity/.venv
# (parity/setup-reference.sh); without it, only our row is printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=$(nproc)
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release --quiet
ours=$(./target/release/worker-orcd bench --model "$model" --threads "$threads" --prompt-tokens 512 --gen-tokens 128 --repeat 3)
theirs=""
if [ -x parity/.venv/bin/python ] && parity/.venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  theirs=$(parity/.venv/bin/python parity/bench_llamacpp.py --model "$model" --threads "$threads" | tail -n 1)
fi
python3 - "$ours" "$theirs" "$model" "$threads" <<'PY'
import json, platform, subprocess, sys, datetime
ours, theirs, model, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"machine: {cpu}, {threads} threads; date: {datetime.date.today()}; commit: {commit}; model: {model}\n")
print("| engine | prefill tok/s (pp512) | decode tok/s (tg128) |")
print("| --- | ---: | ---: |")
o = json.loads(ours)
print(f"| worker-orcd ({o['backend']}) | {o['prefill_tok_s']:.1f} | {o['decode_tok_s']:.1f} |")
if theirs:
    t = json.loads(theirs)
    print(f"| llama.cpp ({t.get('backend', 'cpu')}) | {t['prefill_tok_s']:.1f} | {t['decode_tok_s']:.1f} |")
    print(f"| ratio ours/llama.cpp | {o['prefill_tok_s']/t['prefill_tok_s']:.2f} | {o['decode_tok_s']/t['decode_tok_s']:.2f} |")
PY
