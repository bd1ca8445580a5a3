#!/usr/bin/env bash
# One command on a fresh Debian machine: install what is missing, build btfit, and run the
# demo (a million simulated comparisons among 1,000 items, fitted and checked against the
# truth).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)" --target btfit
"$build/btfit" demo
