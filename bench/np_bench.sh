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
rm -rf "$out"; mkdir -p "$out"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
loom="nice build/loom"
# An evaluation that runs past 10 min is recorded as missing (docs/np.md, known problems), not waited for.
limit=600
ev() { timeout "$limit" nice build/loom np evaluate "$@" > /dev/null || echo "np_bench: evaluate $* failed or timed out" >&2; }
seeds="0 1 2"; steps=3000; weak=1500; bike_steps=1500; scen=20; bike_scen=10; lat_scen=1000
if [ "${1:-}" = "--quick" ]; then steps=1200; weak=1100; bike_steps=600; scen=4; bike_scen=3; lat_scen=100; limit=150; fi
$loom data portfolio --source spisector --out "$out/spisector.csv" | tee "$out/data.json"
P="--config configs/np-portfolio.yaml --prices $out/spisector.csv --scenarios $scen"
[ "${1:-}" = "--quick" ] && P="$P --demand-draws 2"
B="--config configs/np-bikes.yaml --scenarios $bike_scen"
for s in $seeds; do
  $loom np train $P --seed "$s" --train-steps "$steps" --out "$out/ddpg-s$s" > "$out/train-ddpg-s$s.json"
  $loom np train $P --seed "$s" --train-steps "$weak" --out "$out/weak-s$s" > "$out/train-weak-s$s.json"
  $loom np train $P --seed "$s" --train-steps "$steps" --liquidity true --algorithm ppo_lagrangian \
    --out "$out/ppo-s$s" > "$out/train-ppo-s$s.json"
  $loom np train $B --seed "$s" --train-steps "$bike_steps" --out "$out/bikes-s$s" > "$out/train-bikes-s$s.json"
  # Without the liquidity constraint, then with it (the same DDPG: its
  # observation carries the requirement; it was trained without the constraint, as in the paper).
  ev $P --seed "$s" --policy "$out/ddpg-s$s/best" --methods policy,np,sp,ef,ucrp,olmar \
    --out "$out/free-ddpg-s$s.json"
  ev $P --seed "$s" --policy "$out/weak-s$s/best" --methods policy,np --out "$out/free-weak-s$s.json"
  ev $P --liquidity true --seed "$s" --policy "$out/ddpg-s$s/best" \
    --methods policy,policy_h,np,sp,ef,ucrp,olmar --out "$out/liq-ddpg-s$s.json"
  ev $P --liquidity true --seed "$s" --policy "$out/ddpg-s$s/best" --methods np --cvar-alpha 0.95 \
    --out "$out/liq-cvar-s$s.json"
  ev $P --liquidity true --seed "$s" --policy "$out/weak-s$s/best" --methods policy,np \
    --out "$out/liq-weak-s$s.json"
  ev $P --liquidity true --seed "$s" --policy "$out/ppo-s$s/best" --methods policy \
    --out "$out/liq-ppo-s$s.json"
  ev $B --seed "$s" --policy "$out/bikes-s$s/best" --methods policy,np,ef --out "$out/bikes-s$s.json"
done
# Decision latency at 10 assets (all ten SPISECTOR columns) x lat_scen scenarios:
# the extensive form against plain PH (κ = 0) on 1 and 2 processes.
L="--config configs/np-portfolio.yaml --prices $out/spisector.csv --assets SPI,BASI,INDU,CONG,HLTH,CONS,TELE,UTIL,FINA,TECH"
L="$L --scenarios $lat_scen --kappa zero --scenarios-per-bundle 100 --repeats 3"
$loom np latency $L --nproc 1 --out "$out/latency-1.json"
$loom np latency $L --nproc 2 --out "$out/latency-2.json" > /dev/null
/usr/bin/python3 bench/np_table.py "$out" | tee "$out/tables.md"
