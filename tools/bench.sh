#!/usr/bin/env bash
# The CPU benchmark ladder: simulates each data set with `btfit simulate` (in its own
# process), then times load, fit and output with btfit_bench, one process per scenario so
# that peak memory belongs to that scenario. Prints a markdown table with the machine and
# date. Usage: tools/bench.sh [BUILD_DIR] [--small]
#   --small   a quick ladder for CI (seconds), same code paths
set -euo pipefail
build="${1:-build}"
small=0
[[ "${2:-}" == "--small" || "${1:-}" == "--small" ]] && small=1
[[ "$build" == "--small" ]] && build=build
btfit="$build/btfit"
bench="$build/btfit_bench"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "btfit CPU benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
first=1
run() {  # name, kind, file, extra args...
  local name="$1" kind="$2" file="$3"
  shift 3
  local header=()
  [[ $first == 1 ]] && header=(--header) && first=0
  "$bench" "$kind" "$file" --scenario "$name" "${header[@]}" "$@"
}

if [[ $small == 1 ]]; then
  "$btfit" simulate comparisons --items 1000 --comparisons 1e5 --seed 1 --out "$work/bt.csv"
  run "BT 1e3 x 1e5" bt "$work/bt.csv"
  run "BT 1e3 x 1e5 (newton)" bt "$work/bt.csv" --solver newton
  run "BT 1e3 x 1e5 (lbfgs)" bt "$work/bt.csv" --solver lbfgs
  "$btfit" simulate comparisons --items 100 --comparisons 1e5 --popularity heavy --seed 1 --out "$work/bt.csv"
  run "BT 100 x 1e5 heavy (aggregated)" bt "$work/bt.csv"
  "$btfit" simulate rows --rows 1e4 --features 20 --seed 1 --out "$work/rows.csv"
  run "logistic 1e4 x 20" logistic "$work/rows.csv"
  exit 0
fi

# Bradley-Terry solvers on the peers' objective, sum NLL + (1/2)||s||^2 (lambda = 1: 1e7
# comparisons among 1e6 items leave many items winless), uniform and heavy-tailed popularity,
# 1e3 to 1e6 items: Newman's iteration, Newton-CG and L-BFGS on the comparisons as they are
# (--aggregate off), then --solver auto with aggregation as it decides, and for uniform
# popularity up to 1e5 items (strongly connected graphs) the unpenalized fit.
for spec in "1e3 1e5" "1e4 1e6" "1e5 1e7" "1e6 1e7"; do
  set -- $spec
  for popularity in uniform heavy; do
    "$btfit" simulate comparisons --items "$1" --comparisons "$2" --popularity "$popularity" --seed 1 --out "$work/bt.csv"
    for solver in newman newton lbfgs; do
      if [[ $solver == lbfgs && $popularity == heavy && ( $1 == 1e5 || $1 == 1e6 ) ]]; then
        echo "| BT $1 x $2 $popularity, l2 1 (lbfgs) | not run: L-BFGS needs 700+ passes on heavy-tailed popularity (measured at 1e4 items) |"
        continue
      fi
      run "BT $1 x $2 $popularity, l2 1 ($solver)" bt "$work/bt.csv" --solver "$solver" --l2 1 --aggregate off
    done
    run "BT $1 x $2 $popularity, l2 1 (auto)" bt "$work/bt.csv" --l2 1
    if [[ $popularity == uniform && $1 != 1e6 ]]; then
      run "BT $1 x $2 $popularity, MLE (auto)" bt "$work/bt.csv"
    fi
    rm -f "$work/bt.csv"
  done
done
# Aggregation where comparisons repeat: LMArena-like, a hundred models and a million battles.
"$btfit" simulate comparisons --items 100 --comparisons 1e6 --popularity heavy --seed 1 --out "$work/bt.csv"
run "BT 100 x 1e6 heavy, MLE (auto: aggregated)" bt "$work/bt.csv"
run "BT 100 x 1e6 heavy, MLE (newman, --aggregate off)" bt "$work/bt.csv" --solver newman --aggregate off
rm -f "$work/bt.csv"
"$btfit" simulate rows --rows 1e6 --features 100 --seed 1 --out "$work/rows.csv"
run "logistic 1e6 x 100 (auto)" logistic "$work/rows.csv"
run "logistic 1e6 x 100 (newton)" logistic "$work/rows.csv" --solver newton
run "logistic 1e6 x 100 (lbfgs)" logistic "$work/rows.csv" --solver lbfgs
rm -f "$work/rows.csv"
# The top of the ladder: 1e8 comparisons (a 2.2 GB CSV) among 1e6 items, for time and peak
# memory per comparison.
"$btfit" simulate comparisons --items 1e6 --comparisons 1e8 --seed 1 --out "$work/bt.csv"
run "BT 1e6 x 1e8 uniform, l2 1 (auto)" bt "$work/bt.csv" --l2 1
