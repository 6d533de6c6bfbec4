#!/usr/bin/env bash
# What scripts/fuzz.sh needs besides scripts/setup.sh's clang: a nightly Rust toolchain (cargo-fuzz
# builds with -Zsanitizer/-Cpasses flags only nightly accepts) and the pinned cargo-fuzz.
# Idempotent: a second run only checks.
set -euo pipefail
CARGO_FUZZ_VERSION=0.13.2
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "install-fuzz-tools: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  echo "install-fuzz-tools: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >&2
fi
command -v clang++ >/dev/null || { echo "install-fuzz-tools: clang++ missing; run scripts/setup.sh" >&2; exit 1; }
