#!/usr/bin/env bash
# Builds btfit (with the CUDA backend when nvcc is present: it must compile and link) and
# runs the whole test suite; tests that need a GPU skip with a reason when there is none.
# Then runs the small benchmark ladder and pass timings, so that the benchmark code paths work.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
tools/bench.sh "$build" --small
"$build/btfit_bench" passes --device cpu --comparisons 1e5 --items 1e3 --rows 1e4 --features 20 --batch 1,4 --repeat 1
"$build/btfit_bench" fits --comparisons 1e5 --items 1e3 --fit cpu:auto,cpu:lbfgs --export "$build/fits-pairs.i32" \
  --json "$build/fits.json"
# (fits exits non-zero unless every fit converged to the same objective, to 1e-9 relative)
test "$(stat -c %s "$build/fits-pairs.i32")" -eq 800000  # winners, then losers, as int32
rm -f "$build/fits-pairs.i32"
"$build/btfit_coverage" --small
