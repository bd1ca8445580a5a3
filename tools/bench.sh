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

echo "btfit CPU benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
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
  run "BT 1e3 x 1e5 (lbfgs)" bt "$work/bt.csv" --solver lbfgs
  "$btfit" simulate rows --rows 1e4 --features 20 --seed 1 --out "$work/rows.csv"
  run "logistic 1e4 x 20" logistic "$work/rows.csv"
  exit 0
fi

# Bradley-Terry: sum NLL + (1/2)||s||^2 (lambda = 1, the peers' objective), and the 1e7 case
# also unpenalized (its graph is strongly connected), to the default tolerance.
for spec in "1e5 1e6" "1e5 1e7"; do
  set -- $spec
  "$btfit" simulate comparisons --items "$1" --comparisons "$2" --seed 1 --out "$work/bt.csv"
  run "BT $1 x $2, l2 1 (newton)" bt "$work/bt.csv" --solver newton --l2 1
  run "BT $1 x $2, l2 1 (lbfgs)" bt "$work/bt.csv" --solver lbfgs --l2 1
  [[ $2 == 1e7 ]] && run "BT $1 x $2, MLE (newton)" bt "$work/bt.csv" --solver newton
  rm -f "$work/bt.csv"
done
"$btfit" simulate comparisons --items 10000 --comparisons 1e6 --popularity heavy --seed 1 --out "$work/bt.csv"
run "BT 1e4 x 1e6 heavy, l2 1 (newton)" bt "$work/bt.csv" --solver newton --l2 1
run "BT 1e4 x 1e6 heavy, l2 1 (lbfgs)" bt "$work/bt.csv" --solver lbfgs --l2 1
rm -f "$work/bt.csv"
"$btfit" simulate rows --rows 1e6 --features 100 --seed 1 --out "$work/rows.csv"
run "logistic 1e6 x 100 (newton)" logistic "$work/rows.csv" --solver newton
run "logistic 1e6 x 100 (lbfgs)" logistic "$work/rows.csv" --solver lbfgs
