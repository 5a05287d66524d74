#!/usr/bin/env bash
# Fault injection for the writing verbs (issue 9, item 6): kill -9 at random moments of hf2mobile
# and convert (to a new path and replacing an existing output), ENOSPC on a small tmpfs, a
# read-only output directory, truncation of the input while it is read, and concurrent writers to
# one bundle. After each case it checks that the destination holds a complete old or new artifact
# (`verify --bundle-only` / `inspect` pass) or nothing, that the next run leaves no temporaries of
# ours, and that the input is byte-for-byte untouched. One line per case, then a summary line:
#   faults: N cases, P passed, F failed, S skipped
# Usage: bench/faults.sh [--short]   (--short: tiny model, few repetitions; what the test suite runs)
# Environment: MLCONVERT (command to run, default ./mlconvert), FAULTS_SEED (random seed).
# The tmpfs cases need root (mount); without it they print "skip".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r -a mlc <<< "${MLCONVERT:-$root/mlconvert}"
short=0
[ "${1:-}" = "--short" ] && short=1
if [ "$short" = 1 ]; then preset=tiny-llama; reps=2; else preset=mobilellm-125m; reps=10; fi
seed="${FAULTS_SEED:-$$}"
RANDOM=$seed
work="$(mktemp -d "${TMPDIR:-/tmp}/mlc-faults.XXXXXX")"
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

cases=0 passed=0 failed=0 skipped=0
report() { # STATUS NAME DETAIL
  cases=$((cases + 1))
  case "$1" in
    PASS) passed=$((passed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
  printf '%s %s: %s\n' "$1" "$2" "$3"
}

tree_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16); }
leftovers() { find "$1" -maxdepth 1 -name '*.mlconvert*' -printf '%f ' 2>/dev/null; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# A destination is fine when it is absent or a complete artifact our own checker accepts.
dest_state() { # KIND DEST -> prints absent|valid|BROKEN
  if [ ! -e "$2" ]; then echo absent; return; fi
  if [ "$1" = bundle ]; then
    "${mlc[@]}" verify "$2" --bundle-only >/dev/null 2>&1 && echo valid || echo BROKEN
  else
    "${mlc[@]}" inspect "$2" --raw >/dev/null 2>&1 && echo valid || echo BROKEN
  fi
}

# One line on stderr and exit 2, or success: never a signal, a trace or an internal error.
clean_exit() { # CODE STDERR_FILE
  [ "$1" = 0 ] && return 0
  [ "$1" = 2 ] && [ "$(grep -c '' "$2")" = 1 ] && grep -q '^mlconvert: error: ' "$2"
}

ckpt="$work/ckpt"
"${mlc[@]}" synth --preset "$preset" -o "$ckpt" 2>/dev/null || { echo "faults: cannot synthesize a checkpoint with ${mlc[*]}"; exit 2; }
input_hash="$(tree_hash "$ckpt")"

write_cmd() { # KIND DEST EXTRA...
  local kind=$1 dest=$2; shift 2
  if [ "$kind" = bundle ]; then echo hf2mobile "$ckpt" -o "$dest" "$@"; else echo convert "$ckpt" --to gguf -o "$dest" "$@"; fi
}

# Time one full run so kill moments spread over the whole of it.
t0=$(now_ms)
"${mlc[@]}" $(write_cmd bundle "$work/timing") >/dev/null 2>&1
run_ms=$(( $(now_ms) - t0 + 1 ))
rm -rf "$work/timing"

kill_case() { # KIND MODE(new|replace) REP
  local kind=$1 mode=$2 rep=$3 out="$work/k-$1-$2-$3"
  mkdir -p "$out"
  local dest="$out/dest"
  [ "$kind" = file ] && dest="$out/dest.gguf"
  if [ "$mode" = replace ]; then "${mlc[@]}" $(write_cmd "$kind" "$dest" --quant q8) >/dev/null 2>&1; fi
  local delay=$(( RANDOM % run_ms ))
  "${mlc[@]}" $(write_cmd "$kind" "$dest") >/dev/null 2>&1 &
  local pid=$!
  sleep "$(printf '0.%03d' "$delay")"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  local state after rerun_ok=yes left
  state=$(dest_state "$kind" "$dest")
  [ "$mode" = replace ] && [ "$state" = absent ] && state="ABSENT(old lost)"
  "${mlc[@]}" $(write_cmd "$kind" "$dest") >/dev/null 2>&1 || rerun_ok=NO
  after=$(dest_state "$kind" "$dest")
  left=$(leftovers "$out")
  local detail="killed at ${delay} ms of ~${run_ms}: dest $state; rerun ${rerun_ok} (dest $after); leftovers [${left% }]; input $( [ "$(tree_hash "$ckpt")" = "$input_hash" ] && echo unchanged || echo CHANGED)"
  if [[ "$state" =~ ^(absent|valid)$ ]] && [ "$rerun_ok" = yes ] && [ "$after" = valid ] && [ -z "$left" ] && [[ "$detail" == *"input unchanged" ]]; then
    report PASS "kill9-$kind-$mode#$rep" "$detail"
  else
    report FAIL "kill9-$kind-$mode#$rep" "$detail"
  fi
}

for kind in bundle file; do
  for mode in new replace; do
    for ((i = 1; i <= reps; i++)); do kill_case "$kind" "$mode" "$i"; done
  done
done

# A small tmpfs: writing fails with ENOSPC part way; the old bundle must survive, nothing partial stays.
small_mount() { # DIR SIZE [ro]
  mkdir -p "$1"
  [ "$(id -u)" = 0 ] || return 1
  mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null || return 1
  mounts+=("$1")
}
"${mlc[@]}" hf2mobile "$ckpt" -o "$work/q4" --quant q4 >/dev/null 2>&1
q4_kb=$(( $(du -sk "$work/q4" | cut -f1) + 48 ))
if small_mount "$work/full" "${q4_kb}k"; then
  "${mlc[@]}" hf2mobile "$ckpt" -o "$work/full/b" --quant q4 >/dev/null 2>&1
  before=$(dest_state bundle "$work/full/b")
  "${mlc[@]}" hf2mobile "$ckpt" -o "$work/full/b" --quant f32 >/dev/null 2>"$work/enospc.err"
  code=$?
  state=$(dest_state bundle "$work/full/b")
  left=$(leftovers "$work/full")
  detail="exit $code ($(head -c 120 "$work/enospc.err")); old bundle $before -> $state; leftovers [${left% }]"
  if [ "$code" = 2 ] && clean_exit "$code" "$work/enospc.err" && [ "$state" = "$before" ] && [ -z "$left" ]; then
    report PASS enospc-replace "$detail"
  else
    report FAIL enospc-replace "$detail"
  fi
  "${mlc[@]}" convert "$ckpt" --to gguf --dtype f32 -o "$work/full/m.gguf" >/dev/null 2>"$work/enospc2.err"
  code=$?
  left=$(leftovers "$work/full")
  detail="exit $code; dest $(dest_state file "$work/full/m.gguf"); leftovers [${left% }]"
  if clean_exit "$code" "$work/enospc2.err" && [ "$code" = 2 ] && [ ! -e "$work/full/m.gguf" ] && [ -z "$left" ]; then
    report PASS enospc-convert "$detail"
  else
    report FAIL enospc-convert "$detail"
  fi
else
  report SKIP enospc-replace "needs root to mount a small tmpfs"
  report SKIP enospc-convert "needs root to mount a small tmpfs"
fi

# A read-only output directory: one line, exit 2, nothing written.
if small_mount "$work/ro" 1m && mount -o remount,ro "$work/ro" 2>/dev/null; then
  "${mlc[@]}" hf2mobile "$ckpt" -o "$work/ro/b" >/dev/null 2>"$work/ro.err"
  code=$?
  detail="exit $code ($(head -c 120 "$work/ro.err")); entries: $(ls -A "$work/ro" | wc -l)"
  if [ "$code" = 2 ] && clean_exit "$code" "$work/ro.err" && [ -z "$(ls -A "$work/ro")" ]; then
    report PASS read-only-output "$detail"
  else
    report FAIL read-only-output "$detail"
  fi
else
  report SKIP read-only-output "needs root to mount a read-only tmpfs"
fi

# Truncation of the input at a random moment of the read: exit 0 (finished first) or one line and
# exit 2, never a signal; no temporary left; the destination absent or complete.
for ((i = 1; i <= reps; i++)); do
  copy="$work/trunc-src-$i"; out="$work/trunc-$i"
  cp -r "$ckpt" "$copy"; mkdir -p "$out"
  weights="$copy/model.safetensors"
  [ -f "$weights" ] || weights=$(ls "$copy"/*.safetensors | head -1)
  size=$(stat -c %s "$weights")
  delay=$(( RANDOM % run_ms ))
  "${mlc[@]}" hf2mobile "$copy" -o "$out/b" >/dev/null 2>"$out.err" &
  pid=$!
  sleep "$(printf '0.%03d' "$delay")"
  truncate -s $(( size / 3 )) "$weights"
  wait "$pid"
  code=$?
  left=$(leftovers "$out")
  state=$(dest_state bundle "$out/b")
  detail="truncated at ${delay} ms: exit $code ($(head -c 100 "$out.err" | tr '\n' ' ')); dest $state; leftovers [${left% }]"
  if clean_exit "$code" "$out.err" && [[ "$state" =~ ^(absent|valid)$ ]] && [ -z "$left" ]; then
    report PASS "truncate-input#$i" "$detail"
  else
    report FAIL "truncate-input#$i" "$detail"
  fi
done

# Concurrent writers to one bundle: every run ends cleanly and one complete bundle remains.
pids=()
for q in q8 q4 q8 q4; do
  "${mlc[@]}" hf2mobile "$ckpt" -o "$work/shared" --quant "$q" >/dev/null 2>>"$work/shared.err" &
  pids+=($!)
done
codes=""
for p in "${pids[@]}"; do wait "$p"; codes+="$? "; done
left=$(leftovers "$work")
state=$(dest_state bundle "$work/shared")
detail="exits [${codes% }]; dest $state; leftovers [${left% }]"
if [ "${codes// /}" = 0000 ] && [ "$state" = valid ] && [ -z "$left" ]; then
  report PASS concurrent-writers "$detail"
else
  report FAIL concurrent-writers "$detail"
fi

echo "faults: $cases cases, $passed passed, $failed failed, $skipped skipped (seed $seed, $preset)"
[ "$failed" = 0 ]
