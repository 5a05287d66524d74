#!/bin/sh
# Regenerates ggml-vectors.txt from ggml's reference quantizers, compiled from the llama.cpp source that
# node-llama-cpp ships (tests/oracles/node_modules/node-llama-cpp/llama/gitRelease.bundle, run npm ci
# in tests/oracles first). Plain -O2 without -march: no FMA contraction, so the C float arithmetic is
# the IEEE single-precision sequence our C# port performs. Takes about 20 s (ggml-quants.c is large);
# --gc-sections drops the parts of it that need the rest of ggml.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bundle="${LLAMA_BUNDLE:-$here/../../tests/oracles/node_modules/node-llama-cpp/llama/gitRelease.bundle}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$bundle" "$work/llama" 2>/dev/null
g="$work/llama/ggml"
cc -O2 -std=c11 -ffunction-sections -fdata-sections -I "$g/include" -I "$g/src" -c "$g/src/ggml-quants.c" -o "$work/ggml-quants.o"
cc -O2 -std=c11 -I "$g/include" -I "$g/src" "$here/ggml_vectors.c" "$work/ggml-quants.o" -Wl,--gc-sections -lm -o "$work/ggml_vectors" 2>&1
"$work/ggml_vectors" > "$here/ggml-vectors.txt"
