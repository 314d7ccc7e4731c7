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
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! "$formatter" --dry-run --Werror "$f" > /dev/null 2>&1; then
    echo "not formatted: $f"
    bad=1
  fi
done
[ "$bad" = 0 ] && echo "format: $(echo "$files" | wc -w) files formatted"
exit "$bad"
