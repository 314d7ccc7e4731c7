#!/usr/bin/env bash
# Installs every system dependency of loom from Debian 12's packages.
# Idempotent: packages already present are skipped by apt.
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
  fortunes dict-elements dict-freedict-eng-fra dict-jargon dict-foldoc
  dataset-fashion-mnist
  python3-torch python3-pot python3-scipy
)
missing=()
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
echo "setup-deps: ok"
