#!/usr/bin/env bash
# Federated-learning benchmarks, in one run:
#  1. aggregation time per aggregator for K = 10..1000 parties x d = 1e4..1e7,
#     beside the memory-bandwidth bound measured in the same process;
#  2. a loopback load test: 100 parties (threads with their own TLS channels)
#     on one `loom fl serve`, reporting rounds/s and the server's peak memory.
# Usage: bench/fl_bench.sh [max_bytes]   (per aggregation case; default 1 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench-fl
rm -rf "$out"; mkdir -p "$out"
build/bench/bench_fl_aggregate "${1:-1073741824}" | tee "$out/aggregate.md"
build/loom fl certs --out "$out/certs" --parties 100 > /dev/null
for agg in fedavg bayes; do
  build/loom fl serve --parties 100 --rounds 5 --aggregator "$agg" --data-dir /nonexistent --address 127.0.0.1:50999 \
    --state-dir "$out/state-$agg" --tls-cert "$out/certs/server.pem" --tls-key "$out/certs/server.key" \
    --tokens "$out/certs/tokens.yaml" --round-deadline-s 300 > "$out/serve-$agg.log" 2>&1 &
  server=$!
  sleep 2
  echo "load test, aggregator $agg: $(build/bench/bench_fl_load 127.0.0.1:50999 "$out/certs/ca.pem" "$out/certs/tokens.yaml")"
  wait "$server"
  grep "peak RSS" "$out/serve-$agg.log"
done
