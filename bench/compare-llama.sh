#!/usr/bin/env bash
# Our executor vs llama.cpp on the same GGUF files and thread count (issue: quantization targets).
# Generates a MobileLLM-125M-shaped checkpoint with random weights (nothing large is committed),
# converts it to Q8_0 and Q4_0 GGUF, and prints prefill/decode tokens/s of both side by side.
#   bench/compare-llama.sh [--threads N] [--prompt-tokens P] [--gen-tokens G]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=2; prompt=128; gen=32
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --prompt-tokens) prompt="$2"; shift 2 ;;
    --gen-tokens) gen="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--prompt-tokens P] [--gen-tokens G]" >&2; exit 2 ;;
  esac
done
out="${BENCH_OUT:-$root/bench/out}"
mkdir -p "$out"
[ -d "$root/tests/oracles/node_modules" ] || npm ci --prefix "$root/tests/oracles" --no-audit --no-fund --loglevel=error
ckpt="$out/mobilellm-125m"
[ -f "$ckpt/config.json" ] || "$root/mlconvert" synth --preset mobilellm-125m -o "$ckpt"
printf '%-8s %-10s %14s %14s %12s\n' quant runtime "prefill tok/s" "decode tok/s" "peak RSS"
for q in q8_0 q4_0; do
  gguf="$out/mobilellm-125m-$q.gguf"
  [ -f "$gguf" ] || "$root/mlconvert" convert "$ckpt" --to gguf --quant "$q" -o "$gguf" >&2
  ours=$("$root/mlconvert" bench "$gguf" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" --json)
  theirs=$(node "$root/tests/oracles/llama-bench.mjs" "$gguf" --threads "$threads" --prompt-tokens "$prompt" --gen-tokens "$gen" 2>/dev/null)
  node -e '
    const [q, a, b] = process.argv.slice(1); const o = JSON.parse(a), l = JSON.parse(b);
    const f = x => x.toFixed(1).padStart(14);
    console.log(`${q.padEnd(8)} ${"mlconvert".padEnd(10)} ${f(o.prefill_tokens_per_s)} ${f(o.decode_tokens_per_s)} ${(o.peak_working_set_bytes/1048576).toFixed(0).padStart(8)} MiB`);
    console.log(`${q.padEnd(8)} ${"llama.cpp".padEnd(10)} ${f(l.prefill_tokens_per_s)} ${f(l.decode_tokens_per_s)}`);
    console.log(`${q.padEnd(8)} ${"ratio".padEnd(10)} ${f(o.prefill_tokens_per_s / l.prefill_tokens_per_s)} ${f(o.decode_tokens_per_s / l.decode_tokens_per_s)}`);
  ' "$q" "$ours" "$theirs"
done
