#!/usr/bin/env bash
# Every test, from a fresh clone: installs the outside checkers (node-llama-cpp for llama.cpp) and
# runs the xunit suite, which drives llama.cpp and ONNX Runtime against what we emit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
npm ci --prefix tests/oracles --no-audit --no-fund --loglevel=error
dotnet test MobileLlmConvert.sln -c Release --nologo -v quiet -clp:ErrorsOnly --logger "console;verbosity=normal" "$@"
