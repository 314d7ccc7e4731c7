#!/usr/bin/env bash
# docs/fl.md's byzantine table: one hostile party among five on a real
# `loom fl serve` over TLS on loopback, next to a clean run of the same four
# honest parties. Hostile parties (tests/fl/bad_party.cpp, built as
# build/tests/fl_bad_party): a finite-overflow party (≈1e20 everywhere), a
# sample-count liar (1.7e308 samples), a NaN party, a replaying party (the
# same update every round) and a stream flooder (400 held streams). For
# each: what the server did (from its log and state.json) and the final test
# accuracy. Honest parties: 4 × 500 Fashion-MNIST examples, Dirichlet 1.0,
# one local epoch; ROUNDS rounds.
# Usage: [ATTACKS="overflow ..."] bench/fl_byzantine.sh [OUT] [ROUNDS] [AGGREGATORS] [LOOM]
#   defaults: runs/fl-byzantine, 10, "fedavg bayes", build/loom. Pass an older
#   loom binary as LOOM to see what a server without the defences does.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/fl-byzantine}
rounds=${2:-10}
aggs=${3:-fedavg bayes}
src_loom=$(realpath "${4:-build/loom}")
rm -rf "$out"; mkdir -p "$out/bin"
# Copies, so that a rebuild during the run changes nothing (loom's front end
# execs a sibling loom-torch when it has one).
cp "$src_loom" "$out/bin/loom"
[ -x "$(dirname "$src_loom")/loom-torch" ] && cp "$(dirname "$src_loom")/loom-torch" "$out/bin/"
cp build/loom "$out/bin/certs-loom"  # certificates with SANs, whichever server runs
[ -x build/loom-torch ] && mkdir -p "$out/bin/certs" && cp build/loom build/loom-torch "$out/bin/certs/"
cp build/tests/fl_bad_party "$out/bin/"
cd "$out"
loom=$PWD/bin/loom
bad_party=$PWD/bin/fl_bad_party
certs_loom=$PWD/bin/certs-loom
[ -x bin/certs/loom ] && certs_loom=$PWD/bin/certs/loom
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
"$certs_loom" fl certs --out certs --parties 5 > /dev/null
token() { awk '/^token/{print $2}' "certs/party-$1.yaml"; }
cat > common.yaml <<YAML
parties: 5
samples_per_party: 500
dirichlet_alpha: 1.0
corruption: none
tls_server_name: localhost
tls_ca: certs/ca.pem
tls_cert: certs/server.pem
tls_key: certs/server.key
tokens: certs/tokens.yaml
retry_s: 120
YAML
port=$((21000 + RANDOM % 20000))
run_case() {  # run_case AGGREGATOR ATTACK
  local agg=$1 attack=$2 name="$1-$2"
  port=$((port + 1))
  # quorum 4: a round closes with the four honest parties at its deadline
  # whatever the fifth does (in the clean run the fifth is absent).
  "$loom" fl serve --config common.yaml --address "127.0.0.1:$port" --state-dir "state-$name" --aggregator "$agg" \
    --rounds "$rounds" --quorum 4 --round-deadline-s 2 > "serve-$name.log" 2>&1 &
  local server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q listening "serve-$name.log" && break; sleep 0.1; done
  for k in 0 1 2 3; do
    "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index "$k" --token "$(token "$k")" \
      > "join-$name-$k.log" 2>&1 &
    pids+=("$!")
  done
  case $attack in
    clean) ;;
    flood) "$bad_party" "127.0.0.1:$port" certs/ca.pem party-4 "$(token 4)" flood 400 > "bad-$name.log" 2>&1 & pids+=("$!") ;;
    *) "$bad_party" "127.0.0.1:$port" certs/ca.pem party-4 "$(token 4)" "$attack" > "bad-$name.log" 2>&1 & pids+=("$!") ;;
  esac
  local max_threads=0 t
  while kill -0 "$server" 2>/dev/null; do
    t=$(awk '/^Threads/{print $2}' "/proc/$server/status" 2>/dev/null || echo 0)
    [ "${t:-0}" -gt "$max_threads" ] && max_threads=$t
    sleep 0.2
  done
  wait "$server" && echo ok > "rc-$name" || echo "exit $?" > "rc-$name"
  echo "$max_threads" > "threads-$name"
}
for agg in $aggs; do
  for attack in ${ATTACKS:-clean overflow liar_run nan_run replay flood}; do
    run_case "$agg" "$attack"
    echo "$agg $attack: $(cat "rc-$agg-$attack")" >&2
  done
done
/usr/bin/python3 - "$aggs" <<'PY' | tee table.md
import json, os, re, sys
aggs = sys.argv[1].split()
attacks = {"overflow": "finite overflow (≈1e20 everywhere)", "liar_run": "sample-count liar (1.7e308)",
           "nan_run": "NaN party (one NaN per update)", "replay": "replaying party (same update every round)",
           "flood": "stream flooder (400 held streams)"}
def final(name):
    try:
        s = json.load(open(f"state-{name}/state.json"))
    except (OSError, ValueError):
        return None, None, []
    acc = [r.get("accuracy") for r in s["history"]]
    return s["round"], acc[-1] if acc else None, s["history"]
print("| aggregator | party | what the server did | rounds done | final accuracy | clean run |")
print("|---|---|---|---|---|---|")
for agg in aggs:
    _, clean, _ = final(f"{agg}-clean")
    for a, label in attacks.items():
        name = f"{agg}-{a}"
        if not os.path.exists(f"serve-{name}.log"):
            continue  # not among ATTACKS
        done, acc, hist = final(name)
        log = open(f"serve-{name}.log", errors="replace").read()
        rc = open(f"rc-{name}").read().strip()
        did = []
        accepted = len(re.findall(r"accepted update from party-4", log))
        aside = sum(1 for r in hist for x in r.get("rejected", []) if x["party"] == "party-4")
        failed = sum(1 for r in hist if "failed" in r)
        refused = sorted(set(m.split(": ", 1)[1] for m in re.findall(r"refused update from party-4: [^\n(]*", log)))
        if accepted: did.append(f"accepted {accepted} update(s)")
        if aside: did.append(f"set {aside} aside by the norm bound")
        if refused: did.append("refused: " + "; ".join(r.strip() for r in refused))
        if "refused a second open call" in log:
            did.append(f"refused extra streams (RESOURCE_EXHAUSTED), peak {open(f'threads-{name}').read().strip()} threads")
        if "cancelled a call of party-4" in log: did.append("cancelled its held stream at call_timeout_s")
        if failed: did.append(f"{failed} round(s) failed, model kept")
        if rc != "ok": did.append(f"**server {rc}**: " + log.strip().splitlines()[-1][:80])
        fmt = lambda v: "–" if v is None else (f"{v:.3f}" if v == v else "NaN")
        print(f"| {agg} | {label} | {'; '.join(did) or '–'} | {done} | {fmt(acc)} | {fmt(clean)} |")
PY
