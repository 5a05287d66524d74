#!/usr/bin/env bash
# Rebuilds devils-dictionary-c.txt, the calibration text of docs/quantization.md's measurements, from
# Debian's dict-devil package (The Devil's Dictionary by Ambrose Bierce, 1911, public domain; see
# README.md). Takes the entries C only: no line of it is in the evaluation text (preface, A and B).
# Drops dictfmt's {cross-reference} braces, as make_default_text.sh does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download dict-devil >/dev/null
dpkg-deb -x dict-devil_*.deb x
gzip -dc < x/usr/share/dictd/devil.dict.dz > devil.txt
awk '/^ +PREFACE$/{pre=1} pre&&/^C[A-Z]+, /{on=1} on&&/^D[A-Z]+, /{exit} on' devil.txt \
  | sed 's/[{}]//g' > "$here/devils-dictionary-c.txt"
sha256sum "$here/devils-dictionary-c.txt"
