#!/usr/bin/env bash
# The main job at full size: generates a MobileLLM-125M-shaped checkpoint (random weights; pass
# --layer-sharing for the LS variant), runs `hf2mobile` with default options twice, and prints the
# bundle size, bytes per stored parameter, wall time, peak RSS, and whether the rerun is byte-identical.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out}"
extra=()
name=mobilellm-125m
if [ "${1:-}" = "--layer-sharing" ]; then extra=(--layer-sharing); name=mobilellm-125m-ls; shift; fi
mkdir -p "$out"
ckpt="$out/$name"
[ -f "$ckpt/config.json" ] || "$root/mlconvert" synth --preset mobilellm-125m "${extra[@]}" -o "$ckpt"
"$root/mlconvert" inspect "$ckpt" --json > "$out/$name.inspect.json"
stored=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).parameters.stored)' "$out/$name.inspect.json")
for run in 1 2; do
  /usr/bin/time -f "%e %M" -o "$out/$name.time.$run" "$root/mlconvert" hf2mobile "$ckpt" -o "$out/$name-bundle-$run" "$@" >&2
done
read -r wall rss_kb < "$out/$name.time.1"
bytes=$(stat -c %s "$out/$name-bundle-1/model.mlcm")
if cmp -s "$out/$name-bundle-1/model.mlcm" "$out/$name-bundle-2/model.mlcm" && cmp -s "$out/$name-bundle-1/manifest.json" "$out/$name-bundle-2/manifest.json"; then same=yes; else same=NO; fi
node -e '
  const [name, stored, bytes, wall, rss, same] = process.argv.slice(1);
  console.log(`${name}: ${Number(stored).toLocaleString("en")} stored parameters`);
  console.log(`bundle model file: ${Number(bytes).toLocaleString("en")} bytes = ${(bytes / stored).toFixed(4)} bytes per stored parameter`);
  console.log(`hf2mobile wall time: ${wall} s, peak RSS: ${(rss / 1024).toFixed(0)} MiB`);
  console.log(`rerun byte-identical: ${same}`);
' "$name" "$stored" "$bytes" "$wall" "$rss_kb" "$same"
