#!/usr/bin/env bash
# The C++ core under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer, part of ASan
# on Linux), with the tests that drive it hardest through the C ABI:
#   - the ABI and kernel lib tests (src/ffi/abi_tests.rs, src/ffi/type_kernel_tests.rs),
#   - tests/gguf_rejection.rs (every malformed-file refusal),
#   - tests/parity.rs (full forward passes on SmolLM2 against llama.cpp's logits),
#   - tests/fuzz_regressions.rs (the inputs the fuzzers once broke, the loader's among them),
#   - tests/daemon_http.rs (the daemon binary, itself sanitized, serving real jobs), minus its
#     deadline test (see below).
# Builds into target/sanitize (WC_SANITIZE makes build.rs add the flags; a separate target dir
# keeps the normal build untouched). .specs/reliability.md states the measured times.
#
#   scripts/sanitize.sh [--no-daemon]     (--no-daemon skips tests/daemon_http.rs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
daemon=1
[ "${1:-}" = --no-daemon ] && daemon=0

export WC_SANITIZE=address,undefined
export CARGO_TARGET_DIR=$root/target/sanitize
# detect_leaks: LeakSanitizer reports at exit (the default on Linux x86-64; stated to be sure).
# abort_on_error + halt_on_error: a finding kills the test process, so the test fails with the
# report on stderr. The Rust side is not instrumented: ASan sees its heap through malloc only.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export WORKER_ORCD_REQUIRE_MODEL=${WORKER_ORCD_REQUIRE_MODEL:-1}

step() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@"
  echo "sanitize.sh: $name: $((SECONDS - t0)) s" >&2
}
tests=(--lib --test gguf_rejection --test parity --test fuzz_regressions)
[ "$daemon" = 1 ] && tests+=(--test daemon_http)
# Only what runs below (integration tests build the worker binary with them).
step build cargo test --locked --no-run "${tests[@]}"
step "lib ffi tests" cargo test --locked --lib ffi:: -- --test-threads=1
step gguf_rejection cargo test --locked --test gguf_rejection -- --test-threads=1
step parity cargo test --locked --test parity -- --test-threads=1
step fuzz_regressions cargo test --locked --test fuzz_regressions -- --test-threads=1
if [ "$daemon" = 1 ]; then
  # Minus the one test that times inference against a 3 s deadline: under ASan a forward pass is
  # several times slower, so its "quick" job misses the deadline too (a timing assumption, not a
  # sanitizer finding; it runs in the normal suite).
  step daemon_http cargo test --locked --test daemon_http -- --test-threads=1 \
    --skip a_job_past_its_deadline_ends_with_inference_timeout_and_the_next_job_works
fi
echo "sanitize.sh: no sanitizer finding" >&2
