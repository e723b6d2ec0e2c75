#!/usr/bin/env bash
# The whole test suite: set up the machine, build everything, run ctest.
# Extra arguments go to ctest (tests/run.sh -R flags). LT_BUILD_DIR picks the
# build folder (default <repo>/build).
set -euo pipefail

repo=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
export LT_BUILD_DIR=${LT_BUILD_DIR:-$repo/build}
bash "$repo/libtrain/bootstrap.sh" --test
cmake --build "$LT_BUILD_DIR" -j"$(nproc)"
exec ctest --test-dir "$LT_BUILD_DIR" --output-on-failure -j2 "$@"
