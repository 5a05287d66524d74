#!/usr/bin/env bash
# Packs the libraries under src/ into artifacts/packages and runs tests/MobileLlmConvert.PackageConsumer,
# which references the package MobileLlmConvert from that local feed (not the projects), on a testdata
# checkpoint. Reuses the Release build of the solution when there is one (run-tests.sh has just made
# it); pass --build to build first. Exit 0 when the consumer's checks pass. Leaves only artifacts/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build=(--no-build)
[ "${1:-}" = "--build" ] && build=()
rm -rf artifacts/packages artifacts/consumer
dotnet pack MobileLlmConvert.sln -c Release --nologo -v quiet "${build[@]}" -o artifacts/packages
if [ ! -f src/MobileLlmConvert/MobileLlmConvert.csproj ]; then
  echo "package consumer: FAILED: src/MobileLlmConvert/MobileLlmConvert.csproj (the package it consumes) is not in this tree" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
consumer=tests/MobileLlmConvert.PackageConsumer
dotnet build "$consumer" -c Release --nologo -v quiet --artifacts-path artifacts/consumer
dotnet run --project "$consumer" -c Release --no-build --artifacts-path artifacts/consumer -- \
  testdata/models/mobilellm-ls-trained "$work"
