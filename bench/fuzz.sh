#!/usr/bin/env bash
# Long fuzz runs of every reader (or one): builds the harness (tests/MobileLlmConvert.Fuzz) and runs
# each target for a time or input budget, printing inputs/s and the rules reached per target.
# Findings are written to artifacts/fuzz/ and the exit code is 1. Options pass through:
#   bench/fuzz.sh --seconds 600                      every target, ten minutes each
#   bench/fuzz.sh --target gguf --inputs 1000000     one target, a million inputs
#   bench/fuzz.sh --target gguf --seed 20261201 --replay 4711   re-create and read one input of a run
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/tests/MobileLlmConvert.Fuzz/MobileLlmConvert.Fuzz.csproj"
dotnet build "$project" -c Release --nologo -v quiet >&2
exec dotnet "$root/tests/MobileLlmConvert.Fuzz/bin/Release/net10.0/MobileLlmConvert.Fuzz.dll" "$@"
