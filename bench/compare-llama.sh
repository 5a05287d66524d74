#!/usr/bin/env bash
# Our executor against llama.cpp's own llama-bench on the same GGUF files, thread counts and run shape,
# interleaved over rounds (issue 14), with each decode shown as a fraction of the memory-bandwidth ceiling.
#
#   bench/compare-llama.sh [--rounds N] [--threads "1 2"] [--quants "q4_0 q8_0 f16"]
#                          [--models "125m 125m-ls 1b"] [--prompt-tokens P] [--gen-tokens G] [--depths "0 128"]
#
# Lists take spaces or commas (--models 125m,125m-ls,1b). Every cell runs at every depth (--depth D is
# --depths D): by default prefill P and decode G from an empty cache, and both again after 128 cached
# positions (the decode there is what a chat turn costs); one table per depth.
#
# Models are random-weight checkpoints of the real shapes made at run time by `mlconvert synth`
# (125m = mobilellm-125m, 125m-ls = the same with --layer-sharing, 1b = mobilellm-1b, or the largest
# MobileLLM preset this build has), converted once by `mlconvert convert --to gguf --quant Q`.
# llama-bench is built once from the llama.cpp source node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle) with cmake + ninja; LLAMA_CPP_BUILD names an
# existing build directory to reuse (one with bin/llama-bench). Semantics match: prefill = P tokens in
# one batch after D cached positions (llama-bench -p P -d D), decode = G single-token steps after D cached
# positions (-n G -d D); our `mlconvert bench --depth D` measures the same two things.
# Each round runs every (model, quant, threads) cell once with each tool, alternating which goes first,
# so load from other processes falls on both; the table shows medians over rounds and the ratio ours /
# llama.cpp. Bandwidth: a C loop summing a 1 GiB buffer (cc -O2 -march=native), 1 and 2 threads, best
# of 5; the ceiling of a decode is bandwidth / (bytes of weights read per token), counting each tensor
# once per executed step that uses it, so a layer-shared block counts twice (what a runtime that cannot
# keep it in cache reads; above 100% means the second pass came from cache). Not part of .ci/run. Output and caches: BENCH_OUT (default bench/out).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=5; threads_list="1 2"; quants="q4_0 q8_0 f16"; models="125m 125m-ls 1b"
prompt=128; gen=64; depths="0 128"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --threads) threads_list="${2//,/ }"; shift 2 ;;
    --quants) quants="${2//,/ }"; shift 2 ;;
    --models) models="${2//,/ }"; shift 2 ;;
    --prompt-tokens) prompt="$2"; shift 2 ;;
    --gen-tokens) gen="$2"; shift 2 ;;
    --depth|--depths) depths="${2//,/ }"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--threads \"1 2\"] [--quants \"q4_0 q8_0 f16\"] [--models \"125m 125m-ls 1b\"] [--prompt-tokens P] [--gen-tokens G] [--depths \"0 128\"]" >&2; exit 2 ;;
  esac
done
out="${BENCH_OUT:-$root/bench/out}"
mkdir -p "$out"
mlc="$root/mlconvert"
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# --- llama-bench -----------------------------------------------------------------------------------
build="${LLAMA_CPP_BUILD:-$out/llama.cpp/build}"
if [ ! -x "$build/bin/llama-bench" ]; then
  [ -d "$root/tests/oracles/node_modules/node-llama-cpp" ] || npm ci --prefix "$root/tests/oracles" --no-audit --no-fund --loglevel=error
  bundle="$root/tests/oracles/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  src="$out/llama.cpp/src"
  command -v cmake >/dev/null && command -v ninja >/dev/null || { echo "compare-llama: needs cmake and ninja (apt-get install cmake ninja-build)" >&2; exit 3; }
  if [ ! -d "$src/.git" ]; then
    rm -rf "$src"
    git clone --quiet "$bundle" "$src"
  fi
  echo "compare-llama: building llama-bench in $build (once) ..." >&2
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >"$out/llama.cpp/configure.log" 2>&1
  ninja -C "$build" llama-bench >"$out/llama.cpp/build.log" 2>&1 || { tail -20 "$out/llama.cpp/build.log" >&2; exit 3; }
fi
lbench="$build/bin/llama-bench"
# Read the help text whole first: `grep -q` in a pipeline exits at the first match, and under pipefail
# llama-bench's SIGPIPE would then read as "no -d".
lbench_help="$("$lbench" --help 2>&1 || true)"
case "$lbench_help" in *--n-depth*) has_depth=1 ;; *) has_depth=0 ;; esac
if [ "$has_depth" = 0 ] && [ "$depths" != 0 ]; then
  echo "compare-llama: this llama-bench has no -d; measuring both tools at depth 0 only" >&2
  depths=0
fi

# --- memory read bandwidth -------------------------------------------------------------------------
bw="$out/bandwidth"
if [ ! -x "$bw" ]; then
  cat >"$out/bandwidth.c" <<'EOF'
/* Memory read bandwidth: T threads each sum their slice of a 1 GiB buffer (AVX-512/AVX2 via
   -march=native), best of 5 passes, in GB/s (1e9 bytes/s). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define BYTES (1ul << 30)
static uint64_t *buf; static size_t per; static volatile uint64_t sink;
static void *run(void *arg) {
  const uint64_t *p = buf + (size_t)arg * per; uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i < per; i += 4) { a += p[i]; b += p[i + 1]; c += p[i + 2]; d += p[i + 3]; }
  sink += a + b + c + d; return 0;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1; if (threads < 1 || threads > 64) return 2;
  buf = aligned_alloc(64, BYTES); if (!buf) return 3; memset(buf, 1, BYTES);
  per = BYTES / 8 / threads; double best = 0;
  for (int r = 0; r < 5; r++) {
    pthread_t t[64]; double t0 = now();
    for (long i = 0; i < threads; i++) pthread_create(&t[i], 0, run, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
    double gbs = (double)per * 8 * threads / (now() - t0) / 1e9; if (gbs > best) best = gbs;
  }
  printf("%.2f\n", best); return 0;
}
EOF
  cc -O2 -march=native -pthread -o "$bw" "$out/bandwidth.c"
fi
declare -A bandwidth
for t in $threads_list; do bandwidth[$t]=$("$bw" "$t"); done

# --- models ----------------------------------------------------------------------------------------
presets=$("$mlc" synth --help 2>&1 | tr ' ,' '\n\n' | grep -E '^mobilellm-' || true)
model_preset() {
  case "$1" in
    125m|125m-ls) echo mobilellm-125m ;;
    1b) for p in mobilellm-1b mobilellm-600m mobilellm-350m; do grep -qx "$p" <<<"$presets" && { echo "$p"; return; }; done ;;
    *) echo "compare-llama: unknown model $1" >&2; exit 2 ;;
  esac
}
ggufs=()
for m in $models; do
  preset=$(model_preset "$m")
  ls_flag=(); [ "$m" = 125m-ls ] && ls_flag=(--layer-sharing)
  ckpt="$out/ckpt-$m"
  [ -f "$ckpt/config.json" ] || "$mlc" synth --preset "$preset" "${ls_flag[@]}" -o "$ckpt" >&2
  for q in $quants; do
    g="$out/$m-$q.gguf"
    [ -f "$g" ] || "$mlc" convert "$ckpt" --to gguf --quant "$q" -o "$g" >/dev/null 2>&1
    ggufs+=("$m $q $g")
  done
done

# Bytes of weights a decode step reads (the step map and tensor sizes from `mlconvert inspect --json`).
declare -A step_bytes
for entry in "${ggufs[@]}"; do
  read -r m q g <<<"$entry"
  step_bytes[$m.$q]=$("$mlc" inspect "$g" --json | "$py" -c '
import json, sys
# Each tensor is read once per executed step that uses it; the head (the tied embedding too) once per
# token; an embedding used only for lookup reads one row (left out).
d = json.load(sys.stdin)
print(sum(t["bytes"] * max(len(t["steps"]), 1 if "output" in t["roles"] else 0) for t in d["tensors"]))')
done

# --- runs ------------------------------------------------------------------------------------------
results="$out/compare-results.tsv"
: >"$results"
ours() { # m q g threads depth -> "prefill decode"
  "$mlc" bench "$3" --threads "$4" --prompt-tokens "$prompt" --gen-tokens "$gen" --depth "$5" --json |
    "$py" -c 'import json,sys; d=json.load(sys.stdin); print(d["prefill_tokens_per_s"], d["decode_tokens_per_s"])'
}
theirs() {
  local dflag=(); [ "$has_depth" = 1 ] && dflag=(-d "$5")
  "$lbench" -m "$3" -t "$4" -p "$prompt" -n "$gen" "${dflag[@]}" -r 1 -o json 2>/dev/null |
    "$py" -c '
import json, sys
rows = json.load(sys.stdin)
pp = [r["avg_ts"] for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0]
tg = [r["avg_ts"] for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0]
print(pp[0], tg[0])'
}
for ((r = 1; r <= rounds; r++)); do
  echo "compare-llama: round $r of $rounds" >&2
  for entry in "${ggufs[@]}"; do
    read -r m q g <<<"$entry"
    for t in $threads_list; do
      for d in $depths; do
        if (( r % 2 )); then a=$(ours "$m" "$q" "$g" "$t" "$d"); b=$(theirs "$m" "$q" "$g" "$t" "$d")
        else b=$(theirs "$m" "$q" "$g" "$t" "$d"); a=$(ours "$m" "$q" "$g" "$t" "$d"); fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$q" "$t" "$d" "$a" "$b" >>"$results"
      done
    done
  done
done

# --- table -----------------------------------------------------------------------------------------
{
  for t in $threads_list; do echo "bandwidth $t ${bandwidth[$t]}"; done
  for k in "${!step_bytes[@]}"; do echo "bytes $k ${step_bytes[$k]}"; done
} | "$py" -c '
import statistics, sys
bw, step = {}, {}
for line in open(0):
    kind, k, v = line.split()
    (bw if kind == "bandwidth" else step)[k] = float(v)
runs = {}
for line in open(sys.argv[1]):
    m, q, t, d, ours, theirs = line.rstrip("\n").split("\t")
    op, od = map(float, ours.split()); lp, ld = map(float, theirs.split())
    runs.setdefault(int(d), {}).setdefault((m, q, t), []).append((op, od, lp, ld))
print("memory read bandwidth: " + ", ".join(f"{t} thread(s) {v:.1f} GB/s" for t, v in sorted(bw.items())))
for d, cells in sorted(runs.items()):
    print()
    print(f"prefill {sys.argv[2]} tokens, decode {sys.argv[3]} tokens, both at depth {d}; medians of {sys.argv[4]} interleaved rounds")
    print("{:8} {:5} {:>3} | {:>12} {:>9} {:>5} | {:>11} {:>9} {:>5} | {:>8} {:>7} {:>5} {:>5}".format(
        "model", "quant", "thr", "prefill ours", "llama.cpp", "ratio", "decode ours", "llama.cpp", "ratio", "MB/token", "ceiling", "ours", "llama"))
    for (m, q, t), v in cells.items():
        med = [statistics.median(x[i] for x in v) for i in range(4)]
        mb = step[f"{m}.{q}"] / 1e6
        ceiling = bw[t] * 1e3 / mb
        print(f"{m:8} {q:5} {t:>3} | {med[0]:12.1f} {med[2]:9.1f} {med[0]/med[2]:5.2f} | {med[1]:11.1f} {med[3]:9.1f} {med[1]/med[3]:5.2f} | {mb:8.1f} {ceiling:7.1f} {med[1]/ceiling:5.0%} {med[3]/ceiling:5.0%}")
' "$results" "$prompt" "$gen" "$rounds"
