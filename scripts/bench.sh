#!/usr/bin/env bash
# The CPU speed record: worker-orcd next to llama.cpp on this machine, printed as markdown tables.
#
#   scripts/bench.sh [--threads 1,2] [--rounds 3] [--isa avx2|avx512] [--no-http] [--profile]
#
# 1. pp512 and tg128 per model and thread count, worker-orcd alternated with llama-bench (flash attention off
#    and on), medians of --rounds (scripts/bench_cpu.py says exactly what is timed). Models: SmolLM2-135M in
#    Q4_0, Q4_1, Q8_0 and F16 (Q4_1 is the test model; the others are made from it once by the pinned
#    llama-quantize, into the git-ignored models/bench/) and Gemma 3 270M Q4_K_M.
# 2. Aggregate decode through HTTP at 1, 4 and 8 concurrent jobs, next to llama-server (scripts/bench_http.py),
#    at the largest thread count; skipped with --no-http.
# 3. --profile: where worker-orcd's time goes (perf, SmolLM2 Q4_1, largest thread count), pp512 and tg128.
#
# --isa avx2 runs worker-orcd with WC_ISA=avx2 against a llama.cpp built for AVX2 only
# (parity/setup-llama-server.sh --isa avx2); the HTTP part then runs the native builds as usual.
# --isa avx512 runs both against a llama.cpp built for AVX-512 without AMX (--isa avx512 there), for AMX hosts
# where the native llama.cpp crashes in its AMX matmul (parity/results/2026-12-02-cpu-bench-intel-xeon-avx512-amx.md).
# llama.cpp's tools are built once from the pinned sdist (about 7 minutes each tree on 2 cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
threads=1,2
rounds=3
isa=""
http=1
profile=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --isa) isa=$2; shift 2 ;;
    --no-http) http=0; shift ;;
    --profile) profile=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
max_threads=$(tr ',' '\n' <<<"$threads" | sort -n | tail -1)

cargo build --release --locked --quiet
bin=target/release/worker-orcd
./scripts/fetch-test-model.sh >/dev/null
./scripts/fetch-gemma3.sh >/dev/null
llama_isa=()
[ -n "$isa" ] && [ "$isa" != native ] && llama_isa=(--isa "$isa")
http_isa=()
[ "$isa" = avx512 ] && http_isa=(--isa avx512)
llama_bench=$(parity/setup-llama-server.sh --target llama-bench "${llama_isa[@]}" | tail -1)
quantize=$(parity/setup-llama-quantize.sh | tail -1)

q4_1=models/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p models/bench
for t in Q4_0 Q8_0 F16; do
  out=models/bench/SmolLM2-135M-Instruct.$t.gguf
  if [ ! -f "$out" ]; then
    "$quantize" --allow-requantize "$q4_1" "$out.tmp" "$t" >/dev/null 2>&1 || { echo "llama-quantize $t failed" >&2; exit 1; }
    mv "$out.tmp" "$out"
  fi
done

isa_arg=()
[ -n "$isa" ] && isa_arg=(--isa "$isa")
echo "## pp512 / tg128, worker-orcd vs llama-bench"
echo
python3 scripts/bench_cpu.py --llama-bench "$llama_bench" --threads "$threads" --rounds "$rounds" "${isa_arg[@]}" \
  Q4_0=models/bench/SmolLM2-135M-Instruct.Q4_0.gguf Q4_1=$q4_1 Q8_0=models/bench/SmolLM2-135M-Instruct.Q8_0.gguf \
  F16=models/bench/SmolLM2-135M-Instruct.F16.gguf "Gemma3-270M Q4_K_M=models/gemma-3-270m.Q4_K_M.gguf"

if [ "$http" = 1 ]; then
  echo
  echo "## Aggregate decode through HTTP, worker-orcd vs llama-server ($max_threads threads)"
  echo
  python3 scripts/bench_http.py --concurrency 1,4,8 --threads "$max_threads" --runs "$rounds" --no-load-ttft \
    --llama-server "$(parity/setup-llama-server.sh "${http_isa[@]}" | tail -1)"
fi

if [ "$profile" = 1 ]; then
  echo
  echo "## Where the time goes (perf, SmolLM2 Q4_1, $max_threads threads${isa:+, WC_ISA=$isa})"
  tmp=$(mktemp -d)
  for phase in "pp512:--prompt-tokens 512 --gen-tokens 1" "tg128:--prompt-tokens 1 --gen-tokens 512"; do
    name=${phase%%:*}
    # shellcheck disable=SC2086
    WC_ISA=${isa:-} perf record -q -o "$tmp/$name.data" -F 999 -- "$bin" bench --model "$q4_1" --threads "$max_threads" \
      ${phase#*:} --repeat 3 >/dev/null 2>&1
    echo
    note=""
    [ "$name" = tg128 ] && note=" (decode timed over 512 tokens for more samples)"
    echo "$name$note: share of cycles by symbol, top 12"
    echo
    echo '```'
    perf report -q -i "$tmp/$name.data" --no-children --sort symbol --percent-limit 0.5 --stdio 2>/dev/null \
      | sed -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' -e 's/[[:space:]]*$//' -e '/^$/d' | head -12
    echo '```'
  done
  rm -rf "$tmp"
fi
