#!/usr/bin/env bash
# Every test, from a fresh clone: installs the outside checkers (node-llama-cpp for llama.cpp) and
# runs the xunit suite, which drives llama.cpp against what we emit, then the NuGet package consumer
# (tests/package-consumer.sh). Ends with one plain
# "N passed, N failed" line and the test run's exit code.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
npm ci --prefix tests/oracles --no-audit --no-fund --loglevel=error
# Headless Chromium checks that the diff report renders (tests/MobileLlmConvert.Reports.Tests); those
# tests are skipped, saying so, when it is missing and cannot be installed here (not root, no sudo).
if ! command -v chromium >/dev/null 2>&1; then
  as_root=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; fi
  if [ "$(id -u)" -eq 0 ] || [ -n "$as_root" ]; then
    apt_install() { $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
    apt_install || { $as_root apt-get update -q >/dev/null && apt_install; } ||
      echo "run-tests: chromium could not be installed; the report render tests will be skipped" >&2
  fi
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test MobileLlmConvert.sln -c Release --nologo --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log" || status=$?
# One summary per test assembly: add them up.
passed=$(sed -n 's/^[[:space:]]*Passed:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(sed -n 's/^[[:space:]]*Failed:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
# The package consumer (one more test): pack the libraries into artifacts/packages from the build the
# test run just made, then build and run tests/MobileLlmConvert.PackageConsumer against that feed.
consumer=0
./tests/package-consumer.sh || consumer=$?
if [ "$consumer" -eq 0 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  [ "$status" -ne 0 ] || status=1
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
