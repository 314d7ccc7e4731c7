#!/bin/sh
# Runs one libFuzzer target: fuzz/run_fuzzer.sh BINARY SEEDS_DIR CORPUS_DIR SECONDS
# The corpus starts from the checked-in seeds plus generated deeply nested
# inputs (JSON and YAML, 25,000 to 300,000 levels, which libFuzzer's mutations
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
deep deep-array.json '' '[' ']' 100000
deep deep-object.json '' '{"a":' '}' 50000
deep deep-mixed.json '' '[{"k":[' ']}]' 25000
deep deep-open.json '' '[' '' 300000
deep deep-selector.json '\0' '[' ']' 100000
deep deep-selector-object.json '\0' '{"a":' '}' 50000
deep deep-flow.yaml 'a: ' '[' ']' 50000
deep deep-block.yaml '' '- ' '' 100000
# -timeout is generous: a 1 MiB input through the tokenizer under ASan takes
# seconds, and more on a loaded machine; a real hang still trips it.
exec "$bin" -max_total_time="$seconds" -max_len=1048576 -timeout=60 -rss_limit_mb=2560 -print_final_stats=1 "$corpus"
