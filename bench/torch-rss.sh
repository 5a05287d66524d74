#!/usr/bin/env bash
# Peak RSS of `mlconvert hf2mobile` on a MobileLLM-125M-shaped checkpoint stored as safetensors and
# as pytorch_model.bin (the same weights, made by bench/st2bin.py with Debian's python3-torch).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out}/torch-rss"
mkdir -p "$out"
[ -f "$out/st/config.json" ] || "$root/mlconvert" synth --preset mobilellm-125m -o "$out/st"
[ -f "$out/bin/pytorch_model.bin" ] || /usr/bin/python3 "$root/bench/st2bin.py" "$out/st" "$out/bin" --alias-head
for src in st bin; do
  rm -rf "$out/$src-bundle"
  /usr/bin/time -f "%e %M" -o "$out/$src.time" "$root/mlconvert" hf2mobile "$out/$src" -o "$out/$src-bundle" >&2
  read -r wall rss_kb < "$out/$src.time"
  echo "$src: hf2mobile wall ${wall} s, peak RSS $((rss_kb / 1024)) MiB"
done
