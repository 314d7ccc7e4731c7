#!/usr/bin/env bash
# Every C++ file of the tree is formatted as .clang-format says; prints the
# files that are not (fix with: clang-format -i FILE).
set -euo pipefail
cd "$1"
formatter=$(command -v clang-format || command -v clang-format-14 || true)
[ -n "$formatter" ] || { echo "clang-format is not installed (scripts/setup-deps.sh installs it)" >&2; exit 1; }
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  files=$(git ls-files --cached --others --exclude-standard '*.cpp' '*.h' | grep -v '^build')
else
  files=$(find src include cli tests bench fuzz -name '*.cpp' -o -name '*.h')
fi
# Files go to clang-format in batches, two at a time (one process per file
# spent most of the test's time starting clang-format).
existing=$(for f in $files; do [ -f "$f" ] && echo "$f"; done)
report=$(echo "$existing" | xargs -P2 -n 64 "$formatter" --dry-run --Werror 2>&1 > /dev/null || true)
bad_files=$(echo "$report" | grep -oE '^[^:[:space:]]+\.(cpp|h):[0-9]+:[0-9]+: (error|warning)' | cut -d: -f1 | sort -u || true)
if [ -n "$bad_files" ]; then
  for f in $bad_files; do echo "not formatted: $f"; done
  exit 1
fi
if [ -n "$report" ]; then
  echo "$report" >&2
  exit 1
fi
echo "format: $(echo "$existing" | wc -w) files formatted"
