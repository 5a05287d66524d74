#!/usr/bin/env bash
# Regenerates trained-c.imatrix.gguf and trained-c.imatrix.dat: llama.cpp's own importance matrix of
# the trained fixture (testdata/models/mobilellm-ls-trained, converted by us to an f32 GGUF, which
# llama.cpp runs in f32) over the calibration text testdata/text/devils-dictionary-c.txt, in both of
# llama-imatrix's output formats. ImatrixTests reads them and compares them with our calibration.
# Needs llama-imatrix: LLAMA_BIN (default /work/llama/build/bin) or build it from node-llama-cpp's
# bundled source (tests/oracles, see make_ggml_vectors.sh) with cmake --target llama-imatrix.
# -c 256: the fixture's context; chunks are 256 tokens, each starting with BOS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
bin="${LLAMA_BIN:-/work/llama/build/bin}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
${MLCONVERT:-"$root/mlconvert"} convert "$root/testdata/models/mobilellm-ls-trained" --to gguf --dtype f32 -o "$work/trained-f32.gguf" >/dev/null
# Newlines and runs of spaces collapsed to one space: the fixture's sentencepiece normalizer does that
# (so our tokenizer gives the same 7,036 ids for either file), llama.cpp's tokenizer does not (it
# would see 8,960 tokens, with byte tokens for newlines and extra "▁" pieces).
text="$work/devils-dictionary-c.normalized.txt"
tr '\n' ' ' < "$root/testdata/text/devils-dictionary-c.txt" | tr -s ' ' | sed 's/ $//' > "$text"
for fmt in gguf dat; do
  "$bin/llama-imatrix" -m "$work/trained-f32.gguf" -f "$text" -c 256 -b 256 -t 2 --no-ppl \
    --output-format "$fmt" -o "$work/trained-c.imatrix.$fmt" >"$work/log-$fmt.txt" 2>&1 || { cat "$work/log-$fmt.txt" >&2; exit 1; }
  cp "$work/trained-c.imatrix.$fmt" "$here/"
done
sha256sum "$here"/trained-c.imatrix.*
