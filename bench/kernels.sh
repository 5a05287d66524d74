#!/usr/bin/env bash
# Kernel microbenchmark (issue 14): GB/s of weights through the decode kernels per type and ISA level
# (AVX2 vs AVX-512, f16's old tile path beside), interleaved in one process. Not a test; not in .ci/run.
#   bench/kernels.sh [--rounds N] [--types q4_0,q8_0,f16] [--rows-large N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_OUT:-$root/bench/out}/kernels"
dotnet build "$root/bench/kernels/MobileLlmConvert.KernelBench.csproj" -c Release -o "$out" --nologo -v quiet >&2
exec dotnet "$out/MobileLlmConvert.KernelBench.dll" "$@"
