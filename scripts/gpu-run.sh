#!/usr/bin/env bash
# Runs on the GPU machine (no Rust, no network), from the repository root, with what
# scripts/prepare-gpu-run.sh made here. That machine keeps files only while it stays warm (~30 s
# after a call) and a call carries at most 64 MiB, so the work is two calls sent back to back:
#
#   call 1  carry .gpu-carry/bin .gpu-carry/model-a .whl    scripts/gpu-run.sh kit
#           complete by itself: kernels against their CPU twins, tiny random models of every weight
#           type (logits, greedy decoding, graph replay), synthetic benchmark models made there
#           (SmolLM2-135M's shapes and types, a 1.04 B Llama in Q4_0 and in a Q4_K_M mix) and the
#           decode table at --parallel 1, 8, 64 with and without CUDA graphs (Q4_K_M: 1 and 8, graphs). It also stashes the binaries and
#           model part A in /tmp/worker-orcd for call 2.
#   call 2  carry .gpu-carry/model-b                         scripts/gpu-run.sh model
#           joins the real model from the stash and part B, then: SmolLM2 against llama.cpp's
#           dumps, greedy decoding against the CPU, graph replay, HTTP serving, batch invariance
#           through the daemon, the KV-pool memory test, and SmolLM2's own decode table.
#   If call 2 finds no stash (the machine went cold), send
#           carry .gpu-carry/bin .gpu-carry/model-a               scripts/gpu-run.sh stash
#   and call 2 again right after it.
#
# GPU_RUN_SKIP_1B=1 skips the 1.04 B model (for a dry run on a small machine).
# Every step runs under `timeout`, inside an overall deadline (GPU_RUN_BUDGET seconds, default
# 540, under the tool's 600 s limit); its output goes to a log of its own. After each step
# $OUT/summary.md and $OUT/results.tar.gz (every step's log, the bench JSON) are rewritten, so a
# command cut off at its limit still returns what it did; $OUT/gpu-run.log is the whole output.
# (The tool returns at most 8 files from $OUT, hence one archive rather than one file per step.)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
mode=${1:-}
start=$(date +%s)
deadline=$((start + ${GPU_RUN_BUDGET:-540}))
keep=/tmp/worker-orcd
out=${OUT:-/tmp/worker-orcd-out}
work=/tmp/gpu-results/$mode
mkdir -p "$keep" "$out" "$work"

case "$mode" in
  kit|model|stash) ;;
  *) echo "usage: $0 kit | model | stash" >&2; exit 2 ;;
esac

exec > >(tee -a "$out/gpu-run.log") 2>&1
summary=$work/summary.md
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
publish() {
  cp "$summary" "$out/summary.md" 2>/dev/null
  tar -czf "$out/results.tar.gz.tmp" -C "$work" . 2>/dev/null && mv "$out/results.tar.gz.tmp" "$out/results.tar.gz"
}
left() { echo $((deadline - $(date +%s))); }

# --- what was carried, what is stashed -------------------------------------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
stash_carried() {
  if [ -x .gpu-carry/bin/worker-orcd ]; then
    rm -rf "${keep:?}/bin" && cp -r .gpu-carry/bin "$keep/bin" && echo "stashed the binaries ($(cat "$keep/bin/commit"))"
  fi
  for part in model-a model-b; do
    [ -f ".gpu-carry/$part/part" ] || continue
    if [ "$(sha ".gpu-carry/$part/part")" = "$(cat ".gpu-carry/$part/part.sha256")" ]; then
      cp ".gpu-carry/$part/part" "$keep/$part.part" && cp .gpu-carry/"$part"/*.sha256 "$keep/" 2>/dev/null
      echo "stashed $part ($(stat -c %s "$keep/$part.part") bytes)"
    else
      echo "ERROR: .gpu-carry/$part/part does not match its checksum"
    fi
  done
}

note "# gpu-run.sh $mode, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
stash_carried | tee -a "$summary"
if [ "$mode" = stash ]; then
  ls -l "$keep" | tee -a "$summary"
  publish
  exit 0
fi

bin=$keep/bin
if [ ! -x "$bin/worker-orcd" ]; then
  note "ERROR: no binaries: carry .gpu-carry/bin (call 1, or the stash call) first"
  publish
  exit 1
fi
note "commit $(cat "$bin/commit"), budget $(left) s"

# --- the machine, and whether our binaries run on it ------------------------------------------------
{
  echo "## machine"
  uname -m
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem --format=csv,noheader 2>&1
  echo "glibc $(getconf GNU_LIBC_VERSION 2>&1)"
  echo "python3 $(python3 --version 2>&1)"
} | tee -a "$summary"
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1 '; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/local/cuda/compat; do
    [ -e "$d/libcuda.so.1" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" && note "libcuda.so.1 from $d"
  done
fi
if ! "$bin/worker-orcd" --version > "$work/version.log" 2>&1; then
  note "worker-orcd does not run as built: $(head -3 "$work/version.log")"
  # Built against Debian 12: needs GLIBC_2.34 and GLIBCXX_3.4.30. An older libstdc++ is replaced
  # by the carried one; an older glibc cannot be.
  if [ -d "$bin/lib" ]; then
    export LD_LIBRARY_PATH="$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "$bin/worker-orcd" --version > "$work/version.log" 2>&1 && note "runs with the carried libstdc++ (LD_LIBRARY_PATH=$bin/lib)"
  fi
fi
if ! "$bin/worker-orcd" --version >> "$work/version.log" 2>&1; then
  note "ERROR: the binaries cannot run here:"; tail -5 "$work/version.log" | tee -a "$summary"
  publish
  exit 1
fi
note "$(head -1 "$work/version.log")"
publish

export WORKER_ORCD_BIN=$bin/worker-orcd WORKER_ORCD_ROOT=$root RUST_BACKTRACE=1
[ "$mode" = model ] && export WORKER_ORCD_REQUIRE_MODEL=1

# --- steps ------------------------------------------------------------------------------------------
n_step=0
failed=0
# step SLUG LIMIT_S COMMAND...: runs under timeout (at most the time left), output to NN-SLUG.log.
step() {
  local slug=$1 limit=$2 t0 rc status log remaining
  shift 2
  n_step=$((n_step + 1))
  log=$(printf '%s/%02d-%s.log' "$work" "$n_step" "$slug")
  remaining=$(( $(left) - 15 ))
  if [ "$remaining" -lt 20 ]; then
    note "| $slug | not run: out of time | |"
    return 0
  fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  echo "== $slug (limit ${limit} s)"
  t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$log" 2>&1
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit} s"; failed=$((failed + 1))
  elif [ $rc -ne 0 ]; then status="FAIL (exit $rc)"; failed=$((failed + 1))
  elif grep -q '^running 0 tests' "$log"; then status="FAIL: no test of that name"; failed=$((failed + 1))
  elif grep -q 'SKIP:' "$log"; then status="pass, with a skip: $(grep -o -m1 'SKIP:.*' "$log" | cut -c1-110)"
  else status=pass; fi
  note "| $slug | $status | $(( $(date +%s) - t0 )) s |"
  if [ "${status#pass}" = "$status" ]; then
    echo "---- last lines of $(basename "$log"):"
    tail -30 "$log"
    echo "----"
  fi
  publish
}
# test NAME LIMIT_S: one test of tests/gpu.rs.
gpu_test() { step "$1" "$2" "$bin/gpu-tests" --exact "$1" --test-threads=1 --nocapture; }

# bench SLUG LABEL MODEL PARALLEL ARGS...: one row of the decode table.
bench_rows=$work/bench-rows.md
bench() {
  local slug=$1 label=$2 model=$3 par=$4 shape
  shift 4
  case "$par" in
    1) shape=(--prompt-tokens 512 --gen-tokens 128 --repeat 3) ;;
    8) shape=(--prompt-tokens 128 --gen-tokens 64 --repeat 2) ;;
    *) shape=(--prompt-tokens 128 --gen-tokens 32 --repeat 2) ;;
  esac
  step "bench-$slug" 150 "$bin/worker-orcd" bench --model "$model" --gpu-device 0 --parallel "$par" "${shape[@]}" "$@"
  local log
  log=$(printf '%s/%02d-bench-%s.log' "$work" "$n_step" "$slug")
  local line
  line=$(grep '"decode_tok_s"' "$log" 2>/dev/null | tail -1)
  [ -n "$line" ] || return 0
  echo "$line" > "$work/bench-$slug.json"
  python3 -c 'import json, sys
o = json.loads(sys.argv[2])
print("| %s | %d | %s | %d+%d | %.1f | %.1f | %.1f |" % (sys.argv[1], o["parallel"], "graph" if o["cuda_graph"] else "eager",
      o["prompt_tokens"], o["gen_tokens"], o["prefill_tok_s"], o["decode_tok_s"], o.get("decode_tok_s_per_sequence", o["decode_tok_s"])))' \
    "$label" "$line" >> "$bench_rows"
}
bench_table() {
  [ -s "$bench_rows" ] || return 0
  {
    echo
    echo "## decode table ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), commit $(cat "$bin/commit"))"
    echo "| model | parallel | launch | prompt+gen tokens | prefill tok/s | decode tok/s (all sequences) | decode tok/s per sequence |"
    echo "| --- | ---: | --- | --- | ---: | ---: | ---: |"
    cat "$bench_rows"
  } | tee -a "$summary"
  publish
}
bench_model() {  # SLUG LABEL MODEL: N = 1, 8, 64, each with the graph and with eager launches
  local n
  for n in 1 8 64; do
    bench "$1-p$n-graph" "$2" "$3" "$n"
    bench "$1-p$n-eager" "$2" "$3" "$n" --no-cuda-graph
  done
}

note ""
note "| step | result | time |"
note "| --- | --- | --- |"

if [ "$mode" = kit ]; then
  # Synthetic benchmark models, made while the tests run.
  syn_log=$work/synthetic-models.log
  (
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/gguf-*.whl &&
      export PYTHONPATH=/tmp/site &&
      mkdir -p models &&
      python3 scripts/make_synthetic_llama.py --preset 135m --type Q4_1 --embd-type Q8_0 --out models/synthetic-135m.gguf &&
      { [ -n "${GPU_RUN_SKIP_1B:-}" ] || { python3 scripts/make_synthetic_llama.py --preset 1b --type Q4_0 --out models/synthetic-1b-q4_0.gguf &&
        python3 scripts/make_synthetic_llama.py --preset 1b --type Q4_K_M --embd-type Q8_0 --out models/synthetic-1b-q4_k_m.gguf; }; }
  ) > "$syn_log" 2>&1 &
  syn_pid=$!

  gpu_test every_op_the_op_check_reports_has_a_tolerance_and_the_cpu_matches_itself 120
  gpu_test every_kernel_matches_its_cpu_twin 180
  gpu_test every_weight_type_matches_the_cpu_backend_on_tiny_models 180
  gpu_test greedy_decoding_on_the_gpu_follows_the_cpu_on_tiny_models 180
  gpu_test the_decode_graph_replays_exactly_what_the_kernels_compute 120
  step nvidia-smi-after-tests 20 nvidia-smi

  echo "== waiting for the synthetic models"
  while kill -0 "$syn_pid" 2>/dev/null && [ "$(left)" -gt 60 ]; do sleep 2; done
  if kill -0 "$syn_pid" 2>/dev/null; then
    kill "$syn_pid"; note "| synthetic models | TIMEOUT | |"
  elif wait "$syn_pid"; then
    note "| synthetic models | made: $(tail -2 "$syn_log" | tr '\n' ' ') | |"
  else
    note "| synthetic models | FAIL | |"; tail -5 "$syn_log"
  fi
  publish
  [ -f models/synthetic-135m.gguf ] && bench_model syn135m "synthetic SmolLM2-135M shape (Q4_1, Q8_0 embd)" models/synthetic-135m.gguf
  [ -f models/synthetic-1b-q4_0.gguf ] && bench_model syn1b "synthetic Llama 1.04 B Q4_0" models/synthetic-1b-q4_0.gguf
  # The K-quants' integer mat-vec (Q4_K layers, Q6_K attn_v/ffn_down): graphs only, to fit the call.
  if [ -f models/synthetic-1b-q4_k_m.gguf ]; then
    bench syn1b-q4km-p1-graph "synthetic Llama 1.04 B Q4_K_M" models/synthetic-1b-q4_k_m.gguf 1
    bench syn1b-q4km-p8-graph "synthetic Llama 1.04 B Q4_K_M" models/synthetic-1b-q4_k_m.gguf 8
  fi
  bench_table
fi

if [ "$mode" = model ]; then
  mkdir -p models
  model=models/SmolLM2-135M-Instruct.Q4_1.gguf
  if [ ! -f "$keep/model-a.part" ] || [ ! -f "$keep/model-b.part" ]; then
    note "ERROR: model parts missing from $keep ($(ls "$keep" | tr '\n' ' ')): the machine went cold since call 1."
    note "Send: carry .gpu-carry/bin .gpu-carry/model-a, scripts/gpu-run.sh stash; then this call again at once."
    publish
    exit 1
  fi
  cat "$keep/model-a.part" "$keep/model-b.part" > "$model"
  if [ "$(sha "$model")" != "$(cat "$keep/model.sha256")" ]; then
    note "ERROR: the joined model does not match its checksum"; publish; exit 1
  fi
  note "| join the model | $(stat -c %s "$model") bytes, sha256 ok | |"
  gpu_test device_info_and_residency_on_the_cpu_and_the_gpu 60
  gpu_test smollm2_matches_llama_cpp_through_cuda 120
  gpu_test greedy_decoding_of_smollm2_on_the_gpu_follows_the_cpu 180
  gpu_test the_decode_graph_replays_exactly_what_the_kernels_compute 120
  gpu_test batching_on_the_gpu_never_changes_a_result 240
  gpu_test serving_on_the_gpu_streams_reproduces_and_cancels 120
  gpu_test the_kv_pool_is_sized_at_start_up_refused_reduced_or_shared_and_jobs_queue_for_it 240
  gpu_test a_gpu_that_cannot_start_is_one_json_line_and_exit_1 60
  step nvidia-smi-after-tests 20 nvidia-smi
  bench_model smollm2 "SmolLM2-135M-Instruct Q4_1" "$model"
  bench_table
fi

note ""
note "$mode: $failed step(s) failed or timed out, $(( $(date +%s) - start )) s"
publish
[ "$failed" -eq 0 ]
