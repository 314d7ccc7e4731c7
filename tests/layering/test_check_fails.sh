#!/usr/bin/env bash
# The layering check must be able to fail: copy the tree's sources, plant
# one include that crosses the layers (ot reaching into the Llama model) and
# one link edge that does (fl linking train), and expect both reported.
set -euo pipefail
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/src" "$src/include" "$src/cmake" "$work/"
echo '#include "loom/models/llama/llama.h"' >> "$work/src/ot/emd.cpp"
printf 'fl train\n' > "$work/links.txt"
if out=$(/usr/bin/python3 "$src/tests/layering/check_layering.py" "$work" "$work/links.txt"); then
  echo "layering check passed a tree with a wrong include and a wrong link edge" >&2
  exit 1
fi
echo "$out" | grep -q "src/ot/emd.cpp:.*module 'ot' may not include loom/models/" || { echo "include not reported: $out" >&2; exit 1; }
echo "$out" | grep -q "link edge loom_fl -> loom_train is not allowed" || { echo "link not reported: $out" >&2; exit 1; }
echo "layering check reports both planted violations"
