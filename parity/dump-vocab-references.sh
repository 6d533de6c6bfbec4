#!/usr/bin/env bash
# Dumps llama.cpp's tokenization of parity/reference/tokenizer-cases.json for every vocabulary
# tests/tokenizer_vocabs.rs claims (llama.cpp's own vocab-only test GGUFs, extracted by
# scripts/fetch-llama-test-data.sh) into parity/reference/vocabs/<name>.tokenize.json. Long id lists
# are stored as digests. Needs the pinned reference (parity/setup-reference.sh). Gemma 3's vocabulary comes from
# the real model (scripts/fetch-gemma3.sh), as gemma-3.tokenize.json.
#   parity/dump-vocab-references.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
"$here/setup-reference.sh"
vocabs=$("$root/scripts/fetch-llama-test-data.sh")
out=$here/reference/vocabs
mkdir -p "$out"
for name in gpt-2 llama-bpe qwen2 deepseek-llm deepseek-coder starcoder falcon refact mpt command-r llama-spm phi-3; do
  "$here/.venv/bin/python" "$here/dump_tokenizer.py" --model "$vocabs/ggml-vocab-$name.gguf" \
    --cases "$here/reference/tokenizer-cases.json" --out "$out/$name.tokenize.json" --digest-over 256
done
"$root/scripts/fetch-gemma3.sh"
"$here/.venv/bin/python" "$here/dump_tokenizer.py" --model "$root/models/gemma-3-270m.Q4_K_M.gguf" \
  --cases "$here/reference/tokenizer-cases.json" --out "$out/gemma-3.tokenize.json" --digest-over 256
