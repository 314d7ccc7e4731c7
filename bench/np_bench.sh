#!/usr/bin/env bash
# docs/np.md's results and benchmarks, in one run: real prices (R
# fPortfolio's SPISECTOR via `loom data portfolio`), policies trained per seed
# (DDPG, a weaker DDPG with half the steps, PPO-Lagrangian), NP and
# every baseline on the held-out windows, the bike environment, and the
# decision-latency / PH-gap benchmark; then the Markdown tables of docs/np.md.
# Every side runs on one thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1).
# Usage: bench/np_bench.sh [--quick]   (the full run is sized for ~25 min on 2 idle cores; --quick: 3 seeds, tiny sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench-np
mkdir -p "$out"
# Trained policies are kept between runs (training is deterministic per
# seed: `rm -rf build/bench-np` retrains); every evaluation is rerun.
rm -f "$out"/free-*.json "$out"/liq-*.json "$out"/bikes-s*.json "$out"/tables.md
[ "${NP_SKIP_LATENCY:-0}" = 1 ] || rm -f "$out"/latency-*.json
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
bin=${LOOM:-build/loom}  # LOOM=path/to/loom-torch runs another build of the same sources
loom="nice $bin"
# An evaluation that runs past the limit is recorded as missing, not waited for.
limit=600
ev() { timeout "$limit" nice "$bin" np evaluate "$@" > /dev/null || echo "np_bench: evaluate $* failed or timed out" >&2; }
seeds="0 1 2"; steps=3000; weak=1500; bike_steps=1500; scen=20; bike_scen=10; lat_scen=1000; lat_repeats=3; cvar=1
quick=0
free_methods=policy,np,sp,ef,ucrp,olmar; liq_methods=policy,policy_h,np,sp,ef,ucrp,olmar
if [ "${1:-}" = "--quick" ]; then
  # Sized for 5 engineers on 2 cores: 10-day test windows (from the same
  # first days), and no SP row: with every scenario in one
  # bundle, SP is the extensive form (the latency benchmark compares them at
  # 1,000 scenarios). docs/np.md says what was cut.
  # The bike evaluation keeps the full run's 10 scenarios and three test
  # days: with linearized proximal terms (configs/np-bikes.yaml) a bike
  # decision takes seconds.
  quick=1; steps=1200; weak=1100; bike_steps=600; scen=4; limit=1500; cvar=0; lat_repeats=1
  free_methods=policy,np,ef,ucrp,olmar; liq_methods=policy,policy_h,np,ef,ucrp,olmar
fi
[ -s "$out/spisector.csv" ] || $loom data portfolio --source spisector --out "$out/spisector.csv" | tee "$out/data.json"
P="--config configs/np-portfolio.yaml --prices $out/spisector.csv --scenarios $scen"
B="--config configs/np-bikes.yaml --scenarios $bike_scen"
# Evaluation-only cuts (the policies are trained as in the full run).
E=""
[ "$quick" = 1 ] && P="$P --demand-draws 2" && E="--episode-days 10"
train() {  # train NAME SEED ARGS...: skipped when the policy exists
  local name=$1 s=$2; shift 2
  [ -d "$out/$name-s$s/best" ] || $loom np train "$@" --seed "$s" --out "$out/$name-s$s" > "$out/train-$name-s$s.json"
}
one_seed() {
  local s=$1
  train ddpg "$s" $P --train-steps "$steps"
  train weak "$s" $P --train-steps "$weak"
  train ppo "$s" $P --train-steps "$steps" --liquidity true --algorithm ppo_lagrangian
  train bikes "$s" $B --train-steps "$bike_steps"
  # Without the liquidity constraint, then with it (the same DDPG: its
  # observation carries the requirement; it was trained without the constraint, as in the paper).
  ev $P $E --seed "$s" --policy "$out/ddpg-s$s/best" --methods "$free_methods" \
    --out "$out/free-ddpg-s$s.json"
  ev $P $E --seed "$s" --policy "$out/weak-s$s/best" --methods policy,np --out "$out/free-weak-s$s.json"
  ev $P $E --liquidity true --seed "$s" --policy "$out/ddpg-s$s/best" \
    --methods "$liq_methods" --out "$out/liq-ddpg-s$s.json"
  [ "$cvar" = 1 ] && ev $P $E --liquidity true --seed "$s" --policy "$out/ddpg-s$s/best" --methods np --cvar-alpha 0.95 \
    --out "$out/liq-cvar-s$s.json"
  ev $P $E --liquidity true --seed "$s" --policy "$out/weak-s$s/best" --methods policy,np \
    --out "$out/liq-weak-s$s.json"
  ev $P $E --liquidity true --seed "$s" --policy "$out/ppo-s$s/best" --methods policy \
    --out "$out/liq-ppo-s$s.json"
  ev $B --seed "$s" --policy "$out/bikes-s$s/best" --methods policy,np,ef --out "$out/bikes-s$s.json"
}
# The seeds run side by side (one thread each), so the decision times of a
# run share the machine with the other seeds' runs.
for s in $seeds; do one_seed "$s" & done
wait
# Decision latency at 10 assets (all ten SPISECTOR columns) x lat_scen scenarios:
# the extensive form against plain PH (κ = 0) on 1 and 2 processes, run alone.
L="--config configs/np-portfolio.yaml --prices $out/spisector.csv --assets SPI,BASI,INDU,CONG,HLTH,CONS,TELE,UTIL,FINA,TECH"
# Bundles of 10: the barrier's Cholesky factor fills in when many scenarios share a root (docs/np.md).
L="$L --scenarios $lat_scen --kappa zero --scenarios-per-bundle 10 --repeats $lat_repeats"
[ "${NP_SKIP_LATENCY:-0}" = 1 ] || {
  $loom np latency $L --nproc 1 --out "$out/latency-1.json"
  $loom np latency $L --nproc 2 --out "$out/latency-2.json" > /dev/null
}
/usr/bin/python3 bench/np_table.py "$out" | tee "$out/tables.md"
