#!/usr/bin/env bash
# loom fl serve / join over gRPC with TLS on loopback:
#   A. three parties finish every round; a wrong token and malformed or
#      oversized updates are refused without harming the server;
#   B. a party killed mid-round: every round closes at its deadline by quorum;
#   C. the server killed with accepted updates on disk, then restarted: it
#      continues the same round with those updates, and nothing is lost.
# The attacks of issue 17 (docs/security.md), each failing on the server
# before its fix:
#   D. start-up: secrets written 0600, `fl certs` runs no shell, token files
#      readable by others / with path-like ids / empty are refused, a state
#      with a negative round is refused, insecure mode warns;
#   E. hostile parties during rounds: a sample-count liar, round -1, a party
#      sending finite 1e20 updates and a replaying party, while honest parties
#      verify the server by IP address (the certificate's SAN);
#   F. a stream flood: the server's threads stay bounded, honest parties finish;
#   G. a corrupt update file on disk: the restarted server drops it and serves;
#   H. mutual TLS: parties authenticated by certificate, a client without one refused.
# Usage: test_grpc.sh LOOM_BINARY BAD_PARTY_BINARY   (SECTIONS="A E" runs some)
set -euo pipefail
loom=$1
bad_party=$2
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
cd "$work"
sections=${SECTIONS:-A B C D E F G H}
run() { [[ " $sections " == *" $1 "* ]]; }
fail() { echo "FAIL: $*"; for f in *.log; do echo "--- $f"; tail -5 "$f"; done; exit 1; }
port=$((20000 + RANDOM % 20000))
"$loom" fl certs --out certs --parties 3 > /dev/null
token() { awk '/^token/{print $2}' "certs/party-$1.yaml"; }
cat > common.yaml <<YAML
parties: 3
samples_per_party: 300
dirichlet_alpha: 1.0
corruption: none
tls_server_name: localhost
tls_ca: certs/ca.pem
tls_cert: certs/server.pem
tls_key: certs/server.key
tokens: certs/tokens.yaml
aggregator: bayes
retry_s: 60
YAML
serve() {  # serve LOG STATE ARGS...
  local log=$1 state=$2; shift 2
  "$loom" fl serve --config common.yaml --address "127.0.0.1:$port" --state-dir "state-$state" "$@" > "serve-$log.log" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  for _ in $(seq 300); do grep -q listening "serve-$log.log" && return 0; sleep 0.2; done  # 60 s: a busy machine
  fail "server $log did not start"
}
join() {  # join NAME K ARGS...
  local name=$1 k=$2; shift 2
  "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index "$k" --token "$(token "$k")" "$@" \
    > "join-$name-$k.log" 2>&1 &
  party_pid=$!; pids+=("$party_pid")
}
wait_for() {  # wait_for SECONDS COMMAND...
  local t=$1; shift
  for _ in $(seq $((t * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}
state_round() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['round'])" "state-$1/state.json" 2>/dev/null || echo 0; }
# Conditions for wait_for, re-evaluated on every poll.
round_reached() { [ "$(state_round "$1")" -ge "$2" ]; }
updates_on_disk() { [ "$(ls "state-$1/updates/round-$2" 2>/dev/null | wc -l)" -eq "$3" ]; }

# ---- A
if run A; then
serve a a --rounds 2 --round-deadline-s 60
for mode in wrong_size bad_offset nan empty oversized; do
  "$bad_party" "127.0.0.1:$port" certs/ca.pem party-2 "$(token 2)" "$mode" || fail "malformed update ($mode) was not refused"
done
if "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index 1 --token not-the-right-token-at-all \
    > join-a-bad.log 2>&1; then fail "a party with a wrong token was not refused"; fi
grep -q "refused by the server" join-a-bad.log || fail "the refused party's error does not say so"
for k in 0 1 2; do join a "$k"; done
wait "$server_pid" || fail "server A exited with an error"
[ "$(state_round a)" = 2 ] || fail "server A did not finish 2 rounds"
python3 - state-a/state.json <<'PY' || fail "round history of A is wrong"
import json, sys
h = json.load(open(sys.argv[1]))["history"]
assert [r["round"] for r in h] == [1, 2] and all(len(r["parties"]) == 3 for r in h), h
assert h[-1]["accuracy"] > 0.3, h
print("A: accuracy after 2 rounds", h[-1]["accuracy"])
PY
fi

# ---- B: kill a party after round 1; quorum 2 closes the rest at the deadline
if run B; then
port=$((port + 1))
serve b b --rounds 3 --quorum 2 --round-deadline-s 3
# The victim trains far longer than the others, so it is still mid-round when
# round 1 closes by quorum at its deadline, and is killed there.
join b 0; join b 1; join b 2 --local-epochs 2000; victim=$party_pid
wait_for 120 round_reached b 1 || fail "B: round 1 did not close"
kill -9 "$victim" || fail "B: the victim party had already exited"
wait "$server_pid" || fail "server B exited with an error"
python3 - state-b/state.json <<'PY' || fail "B: rounds after the kill did not close by quorum"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["round"] == 3, s["round"]
assert all(len(r["parties"]) == 2 for r in s["history"]), s["history"]
print("B: last round closed with", s["history"][-1]["parties"])
PY
fi

# ---- C: kill the server with two accepted updates on disk, restart it
if run C; then
port=$((port + 1))
serve c c --rounds 2 --round-deadline-s 120
join c 0; join c 1
wait_for 120 updates_on_disk c 1 2 || fail "C: updates were not persisted"
kill -9 "$server_pid"
serve c2 c --rounds 2 --round-deadline-s 120
grep -q "resumed at round 1 with 2 accepted update(s)" serve-c2.log || fail "C: the restarted server lost accepted updates"
join c 2
wait "$server_pid" || fail "server C exited with an error"
python3 - state-c/state.json <<'PY' || fail "C: rounds after the restart are wrong"
import json, sys
s = json.load(open(sys.argv[1]))
h = s["history"]
assert s["round"] == 2 and [r["round"] for r in h] == [1, 2], h
assert all(len(r["parties"]) == 3 for r in h), h
print("C: both rounds closed with all three parties across the restart")
PY
[ "$(grep -c 'round 1: accepted' join-c-0.log)" = 1 ] || fail "C: party 0 had to resend its round-1 update"
fi

# Start-up refusals: serve_refused LOG EXPECTED ARGS... passes when the server
# exits with an error whose message contains EXPECTED.
serve_refused() {
  local log=$1 expected=$2; shift 2
  if timeout 30 "$loom" fl serve --config common.yaml --address "127.0.0.1:$port" "$@" > "serve-$log.log" 2>&1; then
    fail "$log: the server started"
  fi
  grep -qF -- "$expected" "serve-$log.log" || fail "$log: the error does not say '$expected'"
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
# state_check DIR PYTHON: runs PYTHON with `s` = DIR's state.json and `g` = its global model (numpy).
state_check() {
  /usr/bin/python3 - "state-$1" "$2" <<'PY'
import json, sys, struct
import numpy as np
d = sys.argv[1]
s = json.load(open(d + "/state.json"))
raw = open(d + "/" + s["global"], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
meta = json.loads(raw[8:8 + n])["global"]
a, b = meta["data_offsets"]
g = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32)
exec(sys.argv[2])
PY
}

# ---- D: start-up checks
if run D; then
port=$((port + 1))
for f in certs/tokens.yaml certs/server.key certs/ca.key certs/party-0.yaml; do
  [ "$(stat -c %a "$f")" = 600 ] || fail "D: $f is not private (mode $(stat -c %a "$f"))"
done
mkdir sub
inj="inj'; touch pwned; echo '"
(cd sub && "$loom" fl certs --out "$inj" --parties 1 > /dev/null) || fail "D: certs refused an odd but valid path"
[ ! -e sub/pwned ] || fail "D: fl certs ran a command injected through --out"
[ -f "sub/$inj/server.pem" ] || fail "D: fl certs did not write into the directory it was given"
openssl verify -CAfile certs/ca.pem -verify_ip 127.0.0.1 certs/server.pem > /dev/null 2>&1 ||
  fail "D: the server certificate does not name 127.0.0.1"
cp certs/tokens.yaml readable.yaml && chmod 644 readable.yaml
serve_refused readable "readable by group or others" --state-dir state-d --tokens readable.yaml
serve d-ok d --tokens readable.yaml --allow-readable-tokens --rounds 1; stop_server
printf '"../../../escape": 0123456789abcdef0123\n' > evil.yaml && chmod 600 evil.yaml
serve_refused evil "party id '../../../escape'" --state-dir state-d --tokens evil.yaml
echo '{}' > empty.yaml && chmod 600 empty.yaml
serve_refused empty "no parties are registered" --state-dir state-d --tokens empty.yaml
mkdir -p state-neg  # a complete state but for its round (the old server resumed at round -2)
/usr/bin/python3 - state-neg <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
g = np.zeros(101770, dtype=np.float32).tobytes()
header = json.dumps({"global": {"dtype": "F32", "shape": [101770], "data_offsets": [0, len(g)]}}).encode()
open(d + "/global--3.safetensors", "wb").write(struct.pack("<Q", len(header)) + header + g)
json.dump({"round": -3, "rounds": 2, "global": "global--3.safetensors", "aggregator": "bayes",
           "aggregator_state": None, "history": []}, open(d + "/state.json", "w"))
PY
serve_refused negative "round -3 is outside 0..2" --state-dir state-neg --rounds 2
serve d-insecure d2 --insecure --rounds 1; stop_server
grep -q "WARNING: insecure" serve-d-insecure.log || fail "D: insecure mode does not warn"
echo "D: secrets 0600, no shell in fl certs, SAN 127.0.0.1, bad token files and states refused, insecure warns"
fi

# ---- E: hostile parties during rounds (fedavg, the rule they hurt most)
if run E; then
port=$((port + 1))
"$loom" fl certs --out certs5 --parties 5 > /dev/null
token5() { awk '/^token/{print $2}' "certs5/party-$1.yaml"; }
serve e e --tokens certs5/tokens.yaml --aggregator fedavg --rounds 3 --quorum 3 --round-deadline-s 4
"$bad_party" "127.0.0.1:$port" certs/ca.pem party-3 "$(token5 3)" liar > bad-liar.log || fail "E: the sample-count liar was not refused"
"$bad_party" "127.0.0.1:$port" certs/ca.pem party-3 "$(token5 3)" negative_round > bad-round.log ||
  fail "E: round -1 was not refused as such: $(cat bad-round.log)"
for k in 0 1 2; do
  "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index "$k" --token "$(token5 "$k")" \
    --tls-server-name "" --parties 5 > "join-e-$k.log" 2>&1 &
  pids+=("$!")
done
"$bad_party" "127.0.0.1:$port" certs/ca.pem party-3 "$(token5 3)" overflow > bad-overflow.log 2>&1 & pids+=("$!")
"$bad_party" "127.0.0.1:$port" certs/ca.pem party-4 "$(token5 4)" replay > bad-replay.log 2>&1 & pids+=("$!")
wait "$server_pid" || fail "server E exited with an error"
for k in 0 1 2; do grep -q "training done" "join-e-$k.log" || fail "E: honest party $k did not finish"; done
[ "$(grep -c "a replay" bad-replay.log)" = 2 ] || fail "E: the replayed update was not refused in rounds 2 and 3"
state_check e '
h = s["history"]
assert s["round"] == 3 and np.isfinite(g).all() and np.abs(g).max() < 100, (s["round"], np.abs(g).max())
assert any(r["party"] == "party-3" for x in h for r in x.get("rejected", [])), h
assert all("party-3" not in x["parties"] for x in h), h
assert h[-1]["accuracy"] > 0.3, h[-1]
print("E: liar, round -1 and replay refused; the 1e20 party set aside every round; accuracy", h[-1]["accuracy"])
' || fail "E: the hostile parties changed the model"
fi

# ---- F: a stream flood from one authenticated party
if run F; then
port=$((port + 1))
"$loom" fl certs --out certs4 --parties 4 > /dev/null
token4() { awk '/^token/{print $2}' "certs4/party-$1.yaml"; }
serve f f --tokens certs4/tokens.yaml --rounds 2 --quorum 3 --round-deadline-s 3 --call-timeout-s 3
"$bad_party" "127.0.0.1:$port" certs/ca.pem party-3 "$(token4 3)" flood 400 > bad-flood.log 2>&1 & flood_pid=$!; pids+=("$flood_pid")
max_threads=0
for _ in $(seq 40); do
  t=$(awk '/^Threads/{print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
  [ "$t" -gt "$max_threads" ] && max_threads=$t
  sleep 0.2
done
for k in 0 1 2; do
  "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index "$k" --token "$(token4 "$k")" \
    --parties 4 > "join-f-$k.log" 2>&1 &
  pids+=("$!")
done
wait "$flood_pid"
wait "$server_pid" || fail "server F exited with an error"
for k in 0 1 2; do grep -q "training done" "join-f-$k.log" || fail "F: honest party $k did not finish"; done
echo "F: $(cat bad-flood.log); server threads at most $max_threads"
[ "$max_threads" -lt 64 ] || fail "F: the flood grew the server to $max_threads threads"
grep -q "refused a second open call from party-3" serve-f.log || fail "F: the flooder's extra streams were not refused"
grep -q "cancelled a call of party-3 open longer than call_timeout_s" serve-f.log ||
  fail "F: the flooder's held stream outlived call_timeout_s"
fi

# ---- G: a corrupt update file among the accepted ones
if run G; then
port=$((port + 1))
mkdir -p state-g/updates/round-1
echo "not a safetensors file" > state-g/updates/round-1/party-0.safetensors
serve g g --rounds 1
grep -q "dropped .*party-0.safetensors" serve-g.log || fail "G: the corrupt update file was not dropped"
for k in 0 1 2; do join g "$k"; done
wait "$server_pid" || fail "server G exited with an error"
[ "$(state_round g)" = 1 ] || fail "G: the round did not close"
[ -f state-g/rejected/round-1/party-0.safetensors ] || fail "G: the dropped file was not kept aside"
echo "G: the corrupt update file was set aside and the round closed with fresh updates"
fi

# ---- H: mutual TLS
if run H; then
port=$((port + 1))
"$loom" fl certs --out certsm --parties 3 --client-certs > /dev/null
serve h h --tokens certsm/tokens.yaml --tls-cert certsm/server.pem --tls-key certsm/server.key \
  --auth mtls --tls-client-ca certsm/ca.pem --rounds 1
if "$bad_party" "127.0.0.1:$port" certsm/ca.pem party-0 "$(awk '/^token/{print $2}' certsm/party-0.yaml)" empty \
  > bad-mtls.log 2>&1; then fail "H: a client without a certificate was served"; fi
for k in 0 1 2; do
  "$loom" fl join --config common.yaml --address "127.0.0.1:$port" --party-index "$k" --token "" --tls-ca certsm/ca.pem \
    --tls-client-cert "certsm/party-$k.pem" --tls-client-key "certsm/party-$k.key" > "join-h-$k.log" 2>&1 &
  pids+=("$!")
done
wait "$server_pid" || fail "server H exited with an error"
[ "$(state_round h)" = 1 ] || fail "H: the round did not close"
echo "H: three parties authenticated by certificate; a client without one refused"
fi
echo "all federated gRPC checks passed ($sections)"
