#!/bin/sh
# Runs one libFuzzer target: fuzz/run_fuzzer.sh BINARY SEEDS_DIR CORPUS_DIR SECONDS
# The corpus starts from the checked-in seeds plus generated deeply nested
# inputs (JSON and YAML, 100,000 levels and more, which libFuzzer's mutations
# alone rarely build); inputs may grow to 1 MiB. Used by `ctest -L fuzz`
# (a few seconds each) and by fuzz/run_long.sh.
set -eu
bin=$1 seeds=$2 corpus=$3 seconds=$4
mkdir -p "$corpus"
cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
# Deep nesting: arrays, objects and YAML flow/block forms. The tokenizer and
# checkpoint targets read the first byte as a selector; 0x00 picks their JSON
# input, so those seeds carry it too.
deep() {  # deep NAME PREFIX OPEN CLOSE COUNT
  [ -e "$corpus/$1" ] && return 0
  /usr/bin/python3 -c 'import sys; p, o, c, n = sys.argv[1:5]; n = int(n)
sys.stdout.buffer.write(p.encode().replace(b"\\0", b"\0") + o.encode() * n + c.encode() * n)' "$2" "$3" "$4" "$5" > "$corpus/$1"
}
deep deep-array.json '' '[' ']' 200000
deep deep-object.json '' '{"a":' '}' 100000
deep deep-mixed.json '' '[{"k":[' ']}]' 50000
deep deep-open.json '' '[' '' 500000
deep deep-selector.json '\0' '[' ']' 200000
deep deep-selector-object.json '\0' '{"a":' '}' 100000
deep deep-flow.yaml 'a: ' '[' ']' 100000
deep deep-block.yaml '' '- ' '' 200000
exec "$bin" -max_total_time="$seconds" -max_len=1048576 -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 "$corpus"
