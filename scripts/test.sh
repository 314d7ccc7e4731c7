#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install dependencies,
# build everything (library, CLI, tests, fuzz targets, benchmarks), run CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOM_DEPS_WITHOUT_R=1 scripts/setup-deps.sh  # R only serves `loom data portfolio`'s R data sets
scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 600
