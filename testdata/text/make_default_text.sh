#!/usr/bin/env bash
# Rebuilds devils-dictionary-a-b.txt, the default evaluation text of `mlconvert diff`, from Debian's
# dict-devil package (The Devil's Dictionary by Ambrose Bierce, 1911, public domain; see README.md).
# Takes the preface and the entries A and B, drops dictfmt's {cross-reference} braces.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download dict-devil >/dev/null
dpkg-deb -x dict-devil_*.deb x
gzip -dc < x/usr/share/dictd/devil.dict.dz > devil.txt
awk '/^ +PREFACE$/{on=1; print "PREFACE"; next} on&&/^C[A-Z]+, /{exit} on' devil.txt \
  | sed 's/[{}]//g' > "$here/devils-dictionary-a-b.txt"
sha256sum "$here/devils-dictionary-a-b.txt"
