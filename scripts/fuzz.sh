#!/usr/bin/env bash
# Builds and runs the fuzz targets, each for a given time, and prints what each run did.
#
#   scripts/fuzz.sh [--seconds N] [--no-build] [target ...]     (default: 60 s, every target)
#
# Targets: the cargo-fuzz ones of fuzz/Cargo.toml (tokenizer_gguf_bpe, tokenizer_gguf_spm,
# chat_template, execute_request, openai_request, stream_stop) and gguf_load, the C++ loader's
# libFuzzer harness (fuzz/build-cpp.sh, ASan + UBSan). Each run starts from the committed seeds
# (fuzz/seeds/<target>/, plus the llama.cpp test files where scripts/fetch-llama-test-data.sh put
# them) and grows a git-ignored working corpus (fuzz/corpus/<target>/) that later runs reuse.
# One process per target (-workers=1): the build machine's cores are shared.
#
# The table: executions, exec/s, libFuzzer's coverage figures from its final status line (`cov`:
# covered edges, `ft`: features), the working corpus's size, and crashes (a crash, panic, failed
# assertion, timeout or out-of-memory; libFuzzer stops at the first). Exits 1 when any target
# found one, after printing the reproducer's path (fuzz/artifacts/<target>/). Logs:
# fuzz/artifacts/<target>/run.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=60
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
rust_all=(tokenizer_gguf_bpe tokenizer_gguf_spm chat_template execute_request openai_request stream_stop)
[ ${#targets[@]} -gt 0 ] || targets=("${rust_all[@]}" gguf_load)

# Pinned in scripts/install-fuzz-tools.sh, which also checks nightly and clang.
./scripts/install-fuzz-tools.sh >&2
# The vocabularies and templates the targets read.
./scripts/fetch-test-model.sh >/dev/null
./scripts/fetch-llama-test-data.sh >/dev/null

triple=$(rustc -vV | sed -n 's/^host: //p')
rust_bin=fuzz/target/$triple/release
wants_rust=0
for t in "${targets[@]}"; do [ "$t" = gguf_load ] || wants_rust=1; done
if [ "$build" = 1 ]; then
  if [ "$wants_rust" = 1 ]; then
    # No sanitizer for the Rust targets (safe Rust; the C++ core they link is fuzzed by gguf_load
    # under ASan), but debug assertions and overflow checks on: an overflow is a finding.
    cargo +nightly fuzz build --fuzz-dir fuzz --sanitizer none --debug-assertions >&2
  fi
  for t in "${targets[@]}"; do [ "$t" != gguf_load ] || ./fuzz/build-cpp.sh >/dev/null; done
fi

# Seed directories of a target: the committed ones, then the test files that exist.
seed_dirs() {
  local t=$1
  echo "fuzz/seeds/$t"
  case "$t" in
    chat_template) [ -d .cache/llama-templates ] && echo .cache/llama-templates ;;
    tokenizer_gguf_*)
      # llama.cpp's tokenizer cases, one file per case (written once).
      local d=fuzz/corpus/.seeds-$t
      if [ ! -d "$d" ] && [ -d .cache/llama-vocabs ]; then
        mkdir -p "$d"
        python3 - "$d" .cache/llama-vocabs/*.inp <<'PY'
import sys, hashlib, pathlib
out = pathlib.Path(sys.argv[1])
for inp in sys.argv[2:]:
    for case in open(inp, "rb").read().split(b"\n__ggml_vocab_test__\n"):
        if case:
            (out / hashlib.sha1(case).hexdigest()).write_bytes(case)
PY
      fi
      [ -d "$d" ] && echo "$d" ;;
  esac
  return 0
}

found=0
rows=()
for t in "${targets[@]}"; do
  if [ "$t" = gguf_load ]; then
    bin=fuzz/cpp/build/gguf_load_fuzz
  else
    bin=$rust_bin/$t
  fi
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is not built (unknown target '$t'?)" >&2; exit 2; }
  corpus=fuzz/corpus/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  log=$artifacts/run.log
  mapfile -t seeds < <(seed_dirs "$t")
  echo "fuzz.sh: $t for ${seconds}s" >&2
  set +e
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: 2 GB is far beyond any input's need.
  # ASAN_OPTIONS (gguf_load): leaks are findings; the scratch file's directory is the harness's.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  status=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  files=$(find "$corpus" -type f | wc -l)
  crash=0
  if [ "$rc" -ne 0 ]; then
    crash=1
    found=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz.sh: $t FAILED (exit $rc): ${artifact:-no artifact; see $log}" >&2
    grep -m3 -E 'panicked|ERROR: |SUMMARY|timeout|out-of-memory' "$log" >&2 || tail -20 "$log" >&2
  fi
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$files" "$crash")")
done
# The C++ harness's per-process scratch files, should a run have been killed.
rm -f /dev/shm/wc-gguf-fuzz-*.gguf 2>/dev/null || true

echo "| target | executions | exec/s | cov | ft | corpus files | crashes |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
exit "$found"
