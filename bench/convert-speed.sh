#!/usr/bin/env bash
# Conversion speed and memory (issue 14): for MobileLLM shapes (random weights from `mlconvert synth`),
# `hf2mobile` (default q4 bundle) and `convert --to gguf` at q4_0 and q8_0, and llama.cpp's
# llama-quantize on the F16 GGUF of the same weights beside them. Prints per run: wall seconds, GB/s
# of source bytes (input file size / wall), CPU seconds, peak RSS (VmHWM) and its sampled anonymous
# and file-backed parts (bench/rss-sample.sh). Not part of .ci/run.
#   bench/convert-speed.sh [125m 350m 600m 1b 1.5b]     (default: all five)
# Env: BENCH_OUT (default bench/out), ROUNDING (passed as --rounding, e.g. rtn for llama-quantize's
# round-to-nearest; default: our default, scale search), LLAMA_CPP_BUILD (a llama.cpp build
# directory with bin/llama-quantize; default /work/llama/build, else built here from node-llama-cpp's
# bundled source), MLCONVERT (the command to run, default ./mlconvert, e.g. "dotnet path/mlconvert.dll").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out}/convert-speed"
mkdir -p "$out"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(125m 350m 600m 1b 1.5b)
rounding=(); [ -n "${ROUNDING:-}" ] && rounding=(--rounding "$ROUNDING")
sample="$root/bench/rss-sample.sh"
read -r -a mlconvert <<<"${MLCONVERT:-$root/mlconvert}"

quantize="${LLAMA_CPP_BUILD:-/work/llama/build}/bin/llama-quantize"
if [ ! -x "$quantize" ]; then
  bundle="$root/tests/oracles/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  [ -f "$bundle" ] || npm ci --prefix "$root/tests/oracles" --no-audit --no-fund --loglevel=error
  src="$out/llama-src"
  [ -d "$src" ] || git clone -q "$bundle" "$src"
  cmake -S "$src" -B "$out/llama-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON >&2
  cmake --build "$out/llama-build" --target llama-quantize >&2
  quantize="$out/llama-build/bin/llama-quantize"
fi

# run NAME BYTES COMMAND...: one table row. BYTES is a count, or @FILE for the size of FILE after the run.
run() {
  local name=$1 bytes=$2; shift 2
  local log="$out/last.log"
  if ! "$sample" "$@" > "$log" 2>&1; then cat "$log" >&2; echo "$name: FAILED" >&2; return 1; fi
  [ "${bytes#@}" != "$bytes" ] && bytes=$(stat -c %s "${bytes#@}")
  read -r wall cpu hwm anon file < <(tail -n 1 "$log")
  awk -v n="$name" -v b="$bytes" -v w="$wall" -v c="$cpu" -v h="$hwm" -v a="$anon" -v f="$file" 'BEGIN {
    printf "%-34s %8.2f %8.3f %8.2f %9.0f %9.0f %9.0f\n", n, w, b / w / 1e9, c, h / 1024, a / 1024, f / 1024 }'
}

printf '%-34s %8s %8s %8s %9s %9s %9s\n' run "wall s" "GB/s" "CPU s" "peak MiB" "anon MiB" "file MiB"
for size in "${sizes[@]}"; do
  ckpt="$out/mobilellm-$size"
  if [ ! -f "$ckpt/config.json" ]; then
    rm -rf "$ckpt"
    run "synth mobilellm-$size (GB/s of output)" "@$ckpt/model.safetensors" "${mlconvert[@]}" synth --preset "mobilellm-$size" -o "$ckpt"
  fi
  bytes=$(stat -c %s "$ckpt/model.safetensors")
  # synth writes large files with O_DIRECT, so they are not in the page cache; llama-quantize below reads
  # the F16 GGUF our convert has just written (cached). Read the checkpoint once so both tools start warm.
  cat "$ckpt"/*.safetensors > /dev/null
  echo "mobilellm-$size: $(numfmt --to=iec "$bytes") of safetensors"
  run "  hf2mobile (q4 bundle)" "$bytes" "${mlconvert[@]}" hf2mobile "$ckpt" -o "$out/$size-bundle" --force "${rounding[@]}"
  run "  hf2mobile again" "$bytes" "${mlconvert[@]}" hf2mobile "$ckpt" -o "$out/$size-bundle-2" --force "${rounding[@]}"
  cmp -s "$out/$size-bundle/model.mlcm" "$out/$size-bundle-2/model.mlcm" || echo "  hf2mobile rerun NOT byte-identical" >&2
  for q in q4_0 q8_0; do
    run "  convert --to gguf $q" "$bytes" "${mlconvert[@]}" convert "$ckpt" --to gguf --quant "$q" -o "$out/$size-$q.gguf" --force "${rounding[@]}"
  done
  run "  convert --to gguf (f16)" "$bytes" "${mlconvert[@]}" convert "$ckpt" --to gguf -o "$out/$size-f16.gguf" --force
  f16=$(stat -c %s "$out/$size-f16.gguf")
  for q in Q4_0 Q8_0; do
    run "  llama-quantize f16 -> $q" "$f16" "$quantize" "$out/$size-f16.gguf" "$out/$size-llama-$q.gguf" "$q" 2
  done
  rm -f "$out/$size"-*.gguf
  rm -rf "$out/$size-bundle" "$out/$size-bundle-2"
done
