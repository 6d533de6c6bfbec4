#!/usr/bin/env bash
# Re-dumps the llama.cpp reference of a real model with the pinned llama-cpp-python
# (parity/setup-reference.sh) into parity/.cache/refresh/, compares it with the committed dumps,
# and replaces them only with --replace. Use it after changing PIN.json or a prompts.json; the
# comparison shows what moved. The random-weight models have parity/dump_random_references.sh.
#   parity/refresh-reference.sh [--model smollm2|gemma3] [--replace]
#     smollm2 (default): SmolLM2-135M-Instruct Q4_1, dumps and tokenize.json, 512-token batches
#     gemma3: Gemma 3 270M Q4_K_M (scripts/fetch-gemma3.sh), 1024-token batches (its long prompt
#             exceeds the 512-token sliding window)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
which=smollm2
if [ "${1:-}" = --model ]; then which=$2; shift 2; fi
case $which in
  smollm2) model=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf; set_dir=smollm2-135m-q4_1; batch=512 ;;
  gemma3) model=$root/models/gemma-3-270m.Q4_K_M.gguf; set_dir=gemma-3-270m-q4_k_m; batch=1024 ;;
  *) echo "unknown --model $which (smollm2, gemma3)" >&2; exit 2 ;;
esac
committed=$here/reference/$set_dir
fresh=$here/.cache/refresh/$set_dir
"$here/setup-reference.sh"
rm -rf "$fresh" && mkdir -p "$fresh"
py=$here/.venv/bin/python
"$py" "$here/dump_reference.py" --model "$model" --prompts "$committed/prompts.json" --out-dir "$fresh" --batch "$batch"
cp "$committed/prompts.json" "$fresh/"
if [ "$which" = smollm2 ]; then
  "$py" "$here/dump_tokenizer.py" --model "$model" --cases "$here/reference/tokenizer-cases.json" --out "$fresh/tokenize.json"
fi
status=0
for ref in "$fresh"/*.meta.json; do
  name=$(basename "$ref" .meta.json)
  if [ -f "$committed/$name.jsonl" ]; then
    echo "== $name: committed vs fresh"
    python3 "$here/compare.py" logits "$committed/$name.jsonl" "$fresh/$name.jsonl" || status=1
  else
    echo "== $name: new"
  fi
done
if [ -f "$fresh/tokenize.json" ]; then
  cmp -s "$committed/tokenize.json" "$fresh/tokenize.json" || { echo "== tokenize.json changed"; status=1; }
fi
if [ "${1:-}" = "--replace" ]; then
  cp "$fresh"/* "$committed/"
  echo "replaced the committed reference with the fresh dumps; review with git diff" >&2
elif [ $status -ne 0 ]; then
  echo "the fresh reference differs; re-run with --replace to adopt it" >&2
fi
