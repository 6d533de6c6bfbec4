#!/usr/bin/env bash
# Prepares, on this GPU-less machine, what a GPU machine without a Rust toolchain or network
# needs for scripts/gpu-run.sh, in git-ignored folders the device tool carries:
#   .gpu-carry/bin       worker-orcd and the tests/gpu.rs binary (release, --features cuda, stripped),
#                        the commit, and this machine's libstdc++/libgcc_s (used there only if its
#                        own are older than GLIBCXX_3.4.30)
#   .gpu-carry/model-a   the test model's first part, as large as call 1 leaves room for
#   .gpu-carry/model-b   the rest
#   .whl                 the `gguf` wheel (pure Python; numpy, pyyaml, tqdm, requests are there)
# Every call carries the working tree too (tracked and untracked-not-ignored files) and at most
# 64 MiB in all; the sizes are checked below and the two calls printed.
#   scripts/prepare-gpu-run.sh [--no-build]    (--no-build: reuse target/release as built)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=1
[ "${1:-}" = --no-build ] && build=0
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || scripts/fetch-test-model.sh
limit=$((64 << 20))
slack=$((3 << 20))  # what the tool counts beyond file sizes, and files added before the call

test_bin_of() {  # the tests/gpu.rs executable cargo builds (or has built) with the cuda feature
  cargo test --release --locked --features cuda --test gpu --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])'
}
CUDA_HOME=$(scripts/install-cuda-toolchain.sh)
export CUDA_HOME NVCC="$CUDA_HOME/bin/nvcc"
if [ $build = 1 ]; then
  cargo build --release --locked --features cuda
fi
test_bin=$(test_bin_of)
[ -x "$test_bin" ] || { echo "prepare-gpu-run: no tests/gpu.rs binary built" >&2; exit 1; }
if grep -q "built without CUDA support" target/release/worker-orcd; then
  echo "prepare-gpu-run: target/release/worker-orcd has no CUDA backend (build with --features cuda)" >&2
  exit 1
fi

rm -rf .gpu-carry
mkdir -p .gpu-carry/bin/lib .gpu-carry/model-a .gpu-carry/model-b
cp target/release/worker-orcd .gpu-carry/bin/
cp "$test_bin" .gpu-carry/bin/gpu-tests
strip .gpu-carry/bin/worker-orcd .gpu-carry/bin/gpu-tests
echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo -dirty), built $(date -u +%Y-%m-%dT%H:%MZ)" > .gpu-carry/bin/commit
for so in libstdc++.so.6 libgcc_s.so.1; do
  src=$(ldd .gpu-carry/bin/worker-orcd | awk -v so="$so" '$1 == so {print $3}')
  [ -n "$src" ] && cp -L "$src" ".gpu-carry/bin/lib/$so"
done
echo "needs: $(objdump -T .gpu-carry/bin/worker-orcd | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)," \
  "$(objdump -T .gpu-carry/bin/worker-orcd | grep -o 'GLIBCXX_[0-9.]*' | sort -Vu | tail -1)" | tee .gpu-carry/bin/needs

mkdir -p .whl
[ -n "$(ls .whl/gguf-*.whl 2>/dev/null)" ] || python3 -m pip download --quiet --no-deps --only-binary=:all: -d .whl "gguf==0.19.0"

# What travels with every call: the working tree as the tool sends it.
# (Deleted but still indexed files have no size: stat skips them.)
tree=$( { git ls-files -z --cached --others --exclude-standard; if [ -d shared ]; then find shared -type f -print0; fi; } |
  { xargs -0 stat -c %s 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
size() { du -sb "$@" | awk '{s += $1} END {print s + 0}'; }
bins=$(size .gpu-carry/bin)
whl=$(size .whl)
total=$(stat -c %s "$model")
part_a=$(( (limit - slack - tree - bins - whl) / 4096 * 4096 ))
part_b=$(( total - part_a ))
if [ "$part_a" -le 0 ] || [ $((tree + part_b + slack)) -gt "$limit" ]; then
  echo "prepare-gpu-run: the model ($total bytes) does not fit two calls beside the tree ($tree) and binaries ($bins)" >&2
  exit 1
fi
head -c "$part_a" "$model" > .gpu-carry/model-a/part
tail -c +"$((part_a + 1))" "$model" > .gpu-carry/model-b/part
for p in model-a model-b; do
  sha256sum ".gpu-carry/$p/part" | cut -d' ' -f1 > ".gpu-carry/$p/part.sha256"
  sha256sum "$model" | cut -d' ' -f1 > ".gpu-carry/$p/model.sha256"
done

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
call1=$((tree + bins + whl + $(size .gpu-carry/model-a)))
call2=$((tree + $(size .gpu-carry/model-b)))
cat <<EOF

sizes: tree $(mib "$tree"), binaries $(mib "$bins") ($(cat .gpu-carry/bin/commit)), gguf wheel $(mib "$whl"),
       model $(mib "$total") = part A $(mib "$part_a") + part B $(mib "$part_b")

Two device calls, the second sent as soon as the first returns (the machine keeps the stash ~30 s):
  1. run  carry [".gpu-carry/bin", ".gpu-carry/model-a", ".whl"]  timeout_s 600
          command "scripts/gpu-run.sh kit"          travels $(mib "$call1") of 64 MiB
  2. run  carry [".gpu-carry/model-b"]  timeout_s 600
          command "scripts/gpu-run.sh model"        travels $(mib "$call2") of 64 MiB
If call 2 reports the stash missing: "scripts/gpu-run.sh stash" carrying [".gpu-carry/bin", ".gpu-carry/model-a"],
then call 2 again at once. Each call leaves \$OUT/summary.md, \$OUT/gpu-run.log and \$OUT/results.tar.gz.
EOF
