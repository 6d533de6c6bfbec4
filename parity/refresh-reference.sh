#!/usr/bin/env bash
# Re-dumps the llama.cpp reference with the pinned llama-cpp-python (parity/setup-reference.sh)
# into parity/.cache/refresh/, compares it with the committed dumps, and replaces them only with
# --replace. Use it after changing PIN.json or prompts.json; the comparison shows what moved.
#   parity/refresh-reference.sh [--replace]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
model=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf
committed=$here/reference/smollm2-135m-q4_1
fresh=$here/.cache/refresh/smollm2-135m-q4_1
"$here/setup-reference.sh"
rm -rf "$fresh" && mkdir -p "$fresh"
py=$here/.venv/bin/python
"$py" "$here/dump_reference.py" --model "$model" --prompts "$committed/prompts.json" --out-dir "$fresh"
cp "$committed/prompts.json" "$fresh/"
"$py" "$here/dump_tokenizer.py" --model "$model" --cases "$here/reference/tokenizer-cases.json" --out "$fresh/tokenize.json"
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
cmp -s "$committed/tokenize.json" "$fresh/tokenize.json" || { echo "== tokenize.json changed"; status=1; }
if [ "${1:-}" = "--replace" ]; then
  cp "$fresh"/* "$committed/"
  echo "replaced the committed reference with the fresh dumps; review with git diff" >&2
elif [ $status -ne 0 ]; then
  echo "the fresh reference differs; re-run with --replace to adopt it" >&2
fi
