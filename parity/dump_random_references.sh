#!/usr/bin/env bash
# Regenerates the committed llama.cpp dumps of the random-weight models (tests/model_coverage.rs):
# the pinned reference (parity/setup-reference.sh), the models from scripts/make_random_models.py
# (sha256-checked against parity/reference/random/models.json), then for each model and each
# token-id prompt of parity/reference/random/prompts.json (the long one exceeds every model's
# 32-token sliding window) parity/dump_reference.py writes parity/reference/random/<model>/.
# A few minutes on 2 cores.
#   parity/dump_random_references.sh [--only NAME ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
parity/setup-reference.sh
py=parity/.venv/bin/python
models=$root/models/random
"$py" scripts/make_random_models.py --out-dir "$models" --check "$@"
only=("$@")
[ "${only[0]:-}" = --only ] && only=("${only[@]:1}") || only=($("$py" scripts/make_random_models.py --list))
for name in "${only[@]}"; do
  out=parity/reference/random/$name
  rm -rf "$out"
  "$py" parity/dump_reference.py --model "$models/$name.gguf" --prompts parity/reference/random/prompts.json \
    --out-dir "$out" --gen 8 --top-k 40 --threads "$(nproc)"
done
