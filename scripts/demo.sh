#!/usr/bin/env bash
# Starts the worker daemon on the test model (CPU), waits until /health is 200, streams one
# /execute request with curl, and stops the worker with SIGTERM.
#   scripts/demo.sh [PROMPT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prompt=${1:-Write a haiku about GPUs.}
port=${PORT:-18080}
cargo build --release --locked --quiet
./target/release/worker-orcd --worker-id 5c0ffee0-0000-4000-8000-000000000001 \
  --model models/SmolLM2-135M-Instruct.Q4_1.gguf --device cpu --port "$port" &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done
curl -s "http://127.0.0.1:$port/health"; echo
body=$(python3 -c 'import json,sys; print(json.dumps({"job_id": "demo-1", "max_tokens": 64, "temperature": 0,
  "prompt": "<|im_start|>user\n" + sys.argv[1] + "<|im_end|>\n<|im_start|>assistant\n"}))' "$prompt")
curl -sN "http://127.0.0.1:$port/execute" -H 'content-type: application/json' -d "$body"
