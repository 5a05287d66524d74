#!/usr/bin/env bash
# Remakes docs/img/diff-report.png: the Chromium screenshot test renders the sample report
# (SampleDiff.cs: invented but plausible numbers) and keeps it; Debian's python3-pil then reduces it
# to a 256-colour palette so the committed image stays small (~70 KB instead of ~220 KB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
keep="$(mktemp -d)"
trap 'rm -rf "$keep"' EXIT
MLCONVERT_REPORT_KEEP="$keep" dotnet test "$root/tests/MobileLlmConvert.Reports.Tests" -c Release --nologo \
  --filter "FullyQualifiedName~The_report_renders_with_its_plots_in_a_screenshot"
test -s "$keep/diff-report.png" || { echo "no screenshot kept (is chromium installed?)" >&2; exit 1; }
/usr/bin/python3 - "$keep/diff-report.png" "$root/docs/img/diff-report.png" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)
PY
ls -l "$root/docs/img/diff-report.png"
