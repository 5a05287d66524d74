#!/usr/bin/env bash
# Every test, from a fresh clone: installs the outside checkers (node-llama-cpp for llama.cpp) and
# runs the xunit suite, which drives llama.cpp against what we emit. Ends with one plain
# "N passed, N failed" line and the test run's exit code.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
npm ci --prefix tests/oracles --no-audit --no-fund --loglevel=error
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test MobileLlmConvert.sln -c Release --nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
passed=$(sed -n 's/^[[:space:]]*Passed:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$log" | tail -1)
failed=$(sed -n 's/^[[:space:]]*Failed:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$log" | tail -1)
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
