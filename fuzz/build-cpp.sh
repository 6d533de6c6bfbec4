#!/usr/bin/env bash
# Builds the C++ libFuzzer harness for the GGUF loader (fuzz/cpp/gguf_load_fuzz.cpp) together with
# the core's CPU sources, with clang's libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer,
# into fuzz/cpp/build/gguf_load_fuzz (git-ignored). Flags follow build.rs (C++17, AVX2/FMA/F16C/
# BMI2 baseline, AVX-512 flags only for *_avx512.cpp, no CUDA). Objects are rebuilt only when
# their source or a header changed. Prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=fuzz/cpp/build
mkdir -p "$out/obj"
command -v clang++ >/dev/null || { echo "build-cpp: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }
# -O1 keeps the sanitizers' reports readable and the build short; -gline-tables-only gives
# file:line in stack traces. UBSan findings abort (no recovery) so libFuzzer records them.
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention) drops the loader's 100 ms
# file-stability wait (cuda/core/mapped_file.cpp), pointless for a file the harness just wrote.
common=(-std=c++17 -O1 -gline-tables-only -fno-omit-frame-pointer -fno-math-errno
        -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
        -Iinclude -Icuda -mavx2 -mfma -mf16c -mbmi2)
wide=(-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni)
newest_header=$(find include cuda -name '*.h' -newer "$out/.stamp" 2>/dev/null | head -1 || true)
[ -f "$out/.stamp" ] || newest_header=all
# Other flags than last time: everything again.
[ "$(cat "$out/.flags" 2>/dev/null)" = "${common[*]} ${wide[*]}" ] || newest_header=all
objs=()
jobs=()
for src in $(find cuda/core cuda/cpu cuda/models -name '*.cpp' | sort) fuzz/cpp/gguf_load_fuzz.cpp; do
  obj="$out/obj/$(echo "${src%.cpp}" | tr '/' '_').o"
  objs+=("$obj")
  if [ -n "$newest_header" ] || [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    flags=("${common[@]}")
    [[ "$src" == *_avx512.cpp ]] && flags+=("${wide[@]}")
    clang++ "${flags[@]}" -c "$src" -o "$obj" &
    jobs+=($!)
    # Two compilers at a time: the build machine's cores are shared.
    if [ ${#jobs[@]} -ge 2 ]; then wait "${jobs[0]}"; jobs=("${jobs[@]:1}"); fi
  fi
done
for j in "${jobs[@]}"; do wait "$j"; done
clang++ -fsanitize=fuzzer,address,undefined "${objs[@]}" -lpthread -o "$out/gguf_load_fuzz"
touch "$out/.stamp"
echo "${common[*]} ${wide[*]}" >"$out/.flags"
echo "$root/$out/gguf_load_fuzz"
