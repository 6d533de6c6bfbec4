#!/usr/bin/env bash
# Builds llama.cpp's llama-quantize from the llama.cpp vendored in the pinned llama-cpp-python sdist (the same
# sdist, flags and build tree as parity/setup-llama-server.sh), so the quantized random-weight models
# (scripts/make_random_models.py) come from the reference's own quantizer. Idempotent; the last line on stdout
# is the binary's path. About 1 minute when the llama-server tree is already built, else about 7.
#   parity/setup-llama-quantize.sh [PIN.json]
set -euo pipefail
exec "$(cd "$(dirname "$0")" && pwd)/setup-llama-server.sh" --target llama-quantize "$@"
