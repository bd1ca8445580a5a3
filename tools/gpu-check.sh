#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA Hopper GPU (sm_90) and no network, build btfit from
# what the repository holds, run the GPU tests, run compute-sanitizer memcheck on small runs,
# run the GPU benchmark (btfit_bench, where it offers --device) and a whole-fit comparison
# (btfit on the GPU, btfit on the CPU, PyTorch L-BFGS on the same card, on the same data, to
# the same final objective, with the card's copy bandwidth), and print a short table last.
# It is meant to finish in under five minutes.
#
#   tools/gpu-check.sh [--cpu-only] [--build-dir DIR] [--jobs N]
#
#   --cpu-only       check every step that needs no GPU (configure, build, the CPU cases of the
#                    tests, the CPU fit); GPU steps are reported as skipped. Without it, the
#                    script stops at once, with the reason, when no usable GPU is present.
#   --build-dir DIR  build there (default: build-gpu-check); an existing build is reused.
#   --jobs N         parallel build jobs (default: all processors).
#
# Dependencies come from .deps in the repository root when present (packed on a machine with
# network by shared/device/pack-deps.sh: Eigen, CLI11, GoogleTest), else from the system.
# Outputs go to $OUT when it is set, else to DIR/gpu-check-out: gpu-check.log (everything),
# summary.txt (the table), tests.xml (GoogleTest's report), bench.txt, passes.md (the pass
# timings against the copy bandwidth), fits.json.
# Sizes of the fit comparison: GPU_CHECK_COMPARISONS (default 10000000) comparisons among
# GPU_CHECK_ITEMS (default 100000) items.
set -uo pipefail

cpu_only=0
build_dir=build-gpu-check
jobs=$(nproc 2>/dev/null || echo 4)
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-only) cpu_only=1 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
  shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
mkdir -p "$build_dir" || exit 1
build_dir=$(cd "$build_dir" && pwd)
out=${OUT:-$build_dir/gpu-check-out}
mkdir -p "$out" || exit 1
log=$out/gpu-check.log
summary=$out/summary.txt
: >"$log"
rows=$build_dir/gpu-check-rows.tsv
passes_out=$out/passes.md
: >"$passes_out"
: >"$rows"
comparisons=${GPU_CHECK_COMPARISONS:-10000000}
items=${GPU_CHECK_ITEMS:-100000}

start=$(date +%s)
deadline=$((start + 285))  # leave room for the table within five minutes
failed=0

say() { echo "gpu-check: $*" | tee -a "$log"; }
# row STEP STATUS SECONDS NOTE: one line of the final table; drop_last_row takes back the last
# (to replace a step's plain row by one with its results).
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$rows"; }
drop_last_row() { sed -i '$d' "$rows"; }
# Seconds left before the deadline, at most $1.
budget() {
  local left=$((deadline - $(date +%s)))
  [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
# step NAME CAP_SECONDS MIN_SECONDS COMMAND...: runs COMMAND under a time limit, logs its
# output, adds a table row; returns the command's status (124: out of time).
step() {
  local name=$1 cap=$2 min=$3
  shift 3
  local limit
  limit=$(budget "$cap")
  if [ "$limit" -lt "$min" ]; then
    say "$name: skipped, ${limit}s left of the five minutes"
    row "$name" skipped 0 "out of time"
    return 125
  fi
  say "$name: $* (limit ${limit}s)"
  local t0 status
  t0=$(date +%s.%N)
  timeout --kill-after=5 "$limit" "$@" >>"$log" 2>&1
  status=$?
  local seconds
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$status" -eq 0 ]; then
    row "$name" ok "$seconds" ""
  elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    row "$name" FAIL "$seconds" "ran past ${limit}s"
    failed=1
  else
    row "$name" FAIL "$seconds" "exit $status (see gpu-check.log)"
    failed=1
  fi
  say "$name: exit $status after ${seconds}s"
  return "$status"
}

print_table() {
  {
    echo
    echo "btfit GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "card: ${card:-none}"
    printf '%-28s %-8s %8s  %s\n' step status seconds note
    while IFS=$'\t' read -r name status seconds note; do
      printf '%-28s %-8s %8s  %s\n' "$name" "$status" "$seconds" "$note"
    done <"$rows"
    echo "total $(($(date +%s) - start)) s; result: $([ "$failed" -eq 0 ] && echo PASS || echo FAIL)"
    if [ -s "$passes_out" ]; then
      echo
      cat "$passes_out"
    fi
  } | tee "$summary"
}

# ---------------------------------------------------------------------------------------
# 1. The card. Without one, stop here unless only the CPU steps were asked for.
card=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >>"$log" 2>&1; then
  card=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
  nvidia-smi >>"$log" 2>&1
  say "card: $card"
fi
if [ -z "$card" ] && [ "$cpu_only" -eq 0 ]; then
  say "no GPU is visible (nvidia-smi is missing or lists none): this check needs an NVIDIA GPU;"
  say "run with --cpu-only to check the steps that need none"
  row "find a GPU" FAIL 0 "no GPU visible to nvidia-smi"
  failed=1
  print_table
  exit 1
fi
[ "$cpu_only" -eq 1 ] && say "--cpu-only: GPU steps are skipped"

# ---------------------------------------------------------------------------------------
# 2. Configure and build (no downloads: dependencies from .deps or the system).
cmake_args=(-S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DBTFIT_BUILD_TESTS=ON -DBTFIT_BUILD_TOOLS=ON)
if [ "$cpu_only" -eq 0 ]; then
  cmake_args+=(-DBTFIT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
fi
if [ -d "$repo/.deps" ]; then
  cmake_args+=("-DCMAKE_PREFIX_PATH=$repo/.deps")
else
  say "no .deps folder: Eigen, CLI11 and GoogleTest must be installed on this machine"
fi
if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
  cmake_args+=(-G Ninja)
fi
if ! step configure 60 10 cmake "${cmake_args[@]}"; then
  print_table
  exit 1
fi
build_targets=(btfit btfit_tests)
grep -q 'btfit_bench' "$build_dir/CMakeCache.txt" "$build_dir"/build.ninja "$build_dir"/Makefile 2>/dev/null &&
  build_targets+=(btfit_bench)
if ! step build 200 30 cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"; then
  print_table
  exit 1
fi
btfit=$build_dir/btfit
tests=$build_dir/tests/btfit_tests
bench=$build_dir/btfit_bench

# ---------------------------------------------------------------------------------------
# 3. The device as btfit sees it: a small fit with --device cuda must run on the GPU.
data_dir=$repo/tests/data
if [ "$cpu_only" -eq 0 ]; then
  probe=$build_dir/probe.txt
  if "$btfit" fit "$data_dir/baseball.csv" --count count --device cuda --no-se >"$probe" 2>&1; then
    row "device probe" ok 0 "$(grep -o 'on cuda[^,]*' "$probe" | head -n 1)"
  else
    cat "$probe" >>"$log"
    say "btfit cannot use the GPU: $(grep -m 1 'error' "$probe")"
    row "device probe" FAIL 0 "$(grep -m 1 'error' "$probe" | cut -c 1-120)"
    failed=1
    print_table
    exit 1
  fi
fi

# ---------------------------------------------------------------------------------------
# 4. Tests: every backend case. On a GPU no CUDA case may skip.
tests_log=$build_dir/tests.txt
lines_before=$(wc -l <"$log")
step tests 90 10 "$tests" --gtest_filter='*Backend*' --gtest_output="xml:$out/tests.xml"
tail -n +"$lines_before" "$log" | grep -E '^\[  SKIPPED \] [^ ]*cuda' | sed 's/ (.*//' | sort -u >"$tests_log"
skipped=$(wc -l <"$tests_log")
if [ "$cpu_only" -eq 0 ] && [ "$skipped" -gt 0 ]; then
  row "tests: CUDA cases ran" FAIL 0 "$skipped CUDA cases skipped on a GPU machine"
  failed=1
elif [ "$cpu_only" -eq 1 ]; then
  row "tests: CUDA cases ran" skipped 0 "--cpu-only ($skipped CUDA cases skipped)"
fi

# ---------------------------------------------------------------------------------------
# 5. compute-sanitizer memcheck on small runs: the small CUDA test cases and a small fit.
# sanitize NAME COMMAND...: memcheck of COMMAND. Where compute-sanitizer refuses the device
# (some virtualized GPUs), the step is marked "refused": that is not a finding about btfit.
sanitize() {
  local name=$1
  shift
  local failed_before=$failed lines_before
  lines_before=$(wc -l <"$log")
  step "$name" 75 15 compute-sanitizer --tool memcheck --error-exitcode 99 "$@"
  local status=$? output
  output=$(tail -n +"$lines_before" "$log")
  if [ "$status" -ne 0 ] && [ "$status" -ne 99 ] && [ "$status" -ne 125 ] &&
     grep -qiE 'device not supported|not supported on this|unable to|failed to (initialize|launch)|error 999' <<<"$output"; then
    drop_last_row
    row "$name" refused 0 "compute-sanitizer refused this device (see gpu-check.log)"
    say "$name: compute-sanitizer refused the device"
    failed=$failed_before
  elif [ "$status" -eq 0 ] && grep -q 'no CUDA device:' <<<"$output"; then
    drop_last_row
    row "$name" refused 0 "under compute-sanitizer the program saw no device: nothing was checked"
    say "$name: under compute-sanitizer the program saw no device"
  elif [ "$status" -eq 0 ] || [ "$status" -eq 99 ]; then
    local seconds
    seconds=$(tail -n 1 "$rows" | cut -f 3)
    drop_last_row
    row "$name" "$([ "$status" -eq 0 ] && echo ok || echo FAIL)" "$seconds" \
      "$(grep -o 'ERROR SUMMARY: [0-9]* errors*' <<<"$output" | tail -n 1)"
  fi
}
if [ "$cpu_only" -eq 1 ]; then
  row "memcheck" skipped 0 "--cpu-only"
elif ! command -v compute-sanitizer >/dev/null 2>&1; then
  row "memcheck" skipped 0 "compute-sanitizer is not installed"
else
  sanitize "memcheck: tests" "$tests" --gtest_filter='Backends/*/cuda*_n1:Backends/*/cuda*_n255*:Backends/*/cuda*_n37_*'
  sanitize "memcheck: fit" "$btfit" fit "$data_dir/baseball.csv" --count count --device cuda --no-se
fi

# ---------------------------------------------------------------------------------------
# 6. One simulated data set for the benchmark and the fit comparison.
fit_dir=$build_dir/fit-comparison
mkdir -p "$fit_dir"
fit_data=$fit_dir/comparisons_${comparisons}_${items}.csv
if [ ! -s "$fit_data" ]; then
  step "simulate $comparisons" 60 10 "$btfit" simulate comparisons --items "$items" --comparisons "$comparisons" \
    --seed 1 --out "$fit_data.tmp" && mv "$fit_data.tmp" "$fit_data"
fi

# ---------------------------------------------------------------------------------------
# 7. The benchmark (btfit_bench, tools/bench.cpp) on the GPU, where it offers --device:
# Bradley-Terry on the data above, with both solvers.
bench_out=$out/bench.txt
: >"$bench_out"
export BENCH_OUT=$bench_out
export PASSES_OUT=$passes_out
bench_device=cuda
[ "$cpu_only" -eq 1 ] && bench_device=cpu
if [ ! -x "$bench" ]; then
  row "bench" skipped 0 "no btfit_bench in this build"
elif ! timeout 10 "$bench" bt --help 2>&1 | grep -q -- '--device'; then
  row "bench" skipped 0 "btfit_bench has no --device option: it times the CPU only"
else
  header=(--header)
  for solver in newton lbfgs; do
    # shellcheck disable=SC2016 # the arguments expand in the inner shell
    step "bench bt $bench_device $solver" 90 10 bash -c 'set -o pipefail; "$@" 2>&1 | tee -a "$BENCH_OUT"' _ \
      "$bench" bt "$fit_data" --device "$bench_device" --solver "$solver" \
      --scenario "BT $items x $comparisons $bench_device $solver" "${header[@]}"
    header=()
  done
fi

# 7b. Passes against the card's copy bandwidth (btfit_bench passes): a Bradley-Terry
# value+gradient and Hessian-vector pass over 1e8 comparisons among 1e6 items and over 1e7 x 100
# dense rows, and batched value+gradient for K = 1, 16, 256, on simulated data in memory.
# With --cpu-only, small sizes on the CPU (the same code).
if [ -x "$bench" ] && timeout 10 "$bench" passes --help >/dev/null 2>&1; then
  if [ "$cpu_only" -eq 1 ]; then
    passes_args=(--device cpu --comparisons 1e6 --items 1e4 --rows 1e5 --features 100 --batch 1,16 --repeat 2)
  else
    passes_args=(--device cuda --repeat 2)
  fi
  # shellcheck disable=SC2016 # the arguments expand in the inner shell
  step "passes $bench_device" 150 30 bash -c 'set -o pipefail; "$@" 2>&1 | tee "$PASSES_OUT"' _ \
    "$bench" passes "${passes_args[@]}"
else
  row "passes" skipped 0 "no btfit_bench passes in this build"
fi

# ---------------------------------------------------------------------------------------
# 8. Whole fits: btfit on the GPU and the CPU, then PyTorch L-BFGS on the same card until it
# reaches btfit's final objective.
fits_json=$out/fits.json
echo '{' >"$fits_json"
fit_devices=(cuda cpu)
[ "$cpu_only" -eq 1 ] && fit_devices=(cpu)
best_objective=""
for device in "${fit_devices[@]}"; do
  json=$fit_dir/fit_$device.json
  rm -f "$json"
  if step "fit btfit $device lbfgs" 90 10 "$btfit" fit "$fit_data" --device "$device" --solver lbfgs --no-se \
       --format json --out "$json" && [ -s "$json" ]; then
    note=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
fit = r["seconds"]["fit"]
print("objective %.12g, %d iterations, %d passes (%.3g ms each at most), on %s" % (r["objective"], r["iterations"],
      r["passes"], 1e3 * fit / max(r["passes"], 1), r["device"]))' "$json" 2>>"$log")
    drop_last_row
    row "fit btfit $device lbfgs" ok "$(python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["seconds"]["fit"])' "$json")" "$note"
    echo "\"btfit_$device\": $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("results", None); print(json.dumps(r))' "$json")," >>"$fits_json"
    objective=$(python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["objective"]))' "$json")
    if [ -z "$best_objective" ] || python3 -c "import sys; sys.exit(0 if $objective < $best_objective else 1)"; then
      best_objective=$objective
    fi
  fi
done

torch_script=$build_dir/torch_bradley_terry.py
cat >"$torch_script" <<'PYTHON'
# Plain PyTorch Bradley-Terry fit (winner,loser CSV) with torch.optim.LBFGS on the GPU, run until
# the objective reaches a target (btfit's final objective), plus the card's device-to-device
# copy bandwidth. Prints one JSON object.
import json
import sys
import time

try:
    import torch
except ImportError:
    print(json.dumps({"skipped": "PyTorch is not installed"}))
    sys.exit(0)
if not torch.cuda.is_available():
    print(json.dumps({"skipped": "PyTorch sees no CUDA device"}))
    sys.exit(0)

path, target = sys.argv[1], float(sys.argv[2])
device = torch.device("cuda")
result = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__}

# Copy bandwidth: bytes read plus bytes written per second, median of 20 copies of 2 GiB.
source = torch.rand(2**28, dtype=torch.float64, device=device)
target_buffer = torch.empty_like(source)
times = []
for i in range(23):
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    target_buffer.copy_(source)
    end.record()
    torch.cuda.synchronize()
    if i >= 3:
        times.append(begin.elapsed_time(end) / 1e3)
times.sort()
result["copy_GBps"] = 2 * source.numel() * 8 / times[len(times) // 2] / 1e9
del source, target_buffer

load_start = time.perf_counter()
try:
    import pandas
    frame = pandas.read_csv(path, usecols=["winner", "loser"], dtype=str)
    codes, names = pandas.factorize(pandas.concat([frame["winner"], frame["loser"]], ignore_index=True))
except ImportError:
    import numpy
    table = numpy.loadtxt(path, dtype=str, delimiter=",", skiprows=1, usecols=(0, 1))
    names, codes = numpy.unique(numpy.concatenate([table[:, 0], table[:, 1]]), return_inverse=True)
n = len(codes) // 2
winner = torch.as_tensor(codes[:n], dtype=torch.int64, device=device)
loser = torch.as_tensor(codes[n:], dtype=torch.int64, device=device)
result.update(items=len(names), comparisons=n, load_seconds=time.perf_counter() - load_start)

# f(s) = sum_k softplus(-(s[winner_k] - s[loser_k])): the Bradley-Terry NLL with y = 1 (softplus
# taken as linear only past 40, where that is exact in double precision).
strength = torch.zeros(len(names), dtype=torch.float64, device=device, requires_grad=True)


def nll():
    return torch.nn.functional.softplus(strength[loser] - strength[winner], threshold=40).sum()


# One value+gradient pass (autograd), median of 10 after 3 warm-ups.
times = []
for i in range(13):
    torch.cuda.synchronize()
    begin = time.perf_counter()
    strength.grad = None
    nll().backward()
    torch.cuda.synchronize()
    if i >= 3:
        times.append(time.perf_counter() - begin)
times.sort()
result["pass_seconds"] = times[len(times) // 2]

# L-BFGS as torch offers it (strong Wolfe line search, 10 pairs), stopped at the first
# evaluation that reaches the target: the same objective as btfit's to 1e-9 relative.
goal = target + 1e-9 * abs(target)
optimizer = torch.optim.LBFGS([strength], lr=1, max_iter=100000, max_eval=200000, history_size=10,
                              tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")


class Stop(Exception):
    pass


progress = {"evaluations": 0, "best": float("inf")}


def closure():
    optimizer.zero_grad()
    loss = nll()
    loss.backward()
    progress["evaluations"] += 1
    progress["best"] = min(progress["best"], loss.item())
    if progress["best"] <= goal or time.perf_counter() - begin > 60:
        raise Stop
    return loss


torch.cuda.synchronize()
begin = time.perf_counter()
try:
    optimizer.step(closure)
except Stop:
    pass
torch.cuda.synchronize()
state = optimizer.state[strength]
result.update(fit_seconds=time.perf_counter() - begin, iterations=state.get("n_iter", 0),
              evaluations=progress["evaluations"], objective=progress["best"], target=target,
              reached=progress["best"] <= goal)
print(json.dumps(result))
PYTHON
torch_json=$fit_dir/torch.json
# shellcheck disable=SC2016 # the arguments expand in the inner shell
if [ "$cpu_only" -eq 1 ]; then
  row "fit torch lbfgs" skipped 0 "--cpu-only"
elif [ -z "$best_objective" ]; then
  row "fit torch lbfgs" skipped 0 "no btfit objective to reach"
elif step "fit torch lbfgs" 120 20 bash -c 'python3 "$1" "$2" "$3" >"$4"' _ "$torch_script" "$fit_data" \
       "$best_objective" "$torch_json"; then
  note=$(python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
if "skipped" in r:
    print("skipped: " + r["skipped"])
else:
    print("objective %.12g (%s), %d iterations, %d passes; one pass %.2f ms; copy %.0f GB/s" % (r["objective"],
          "reached" if r["reached"] else "NOT reached", r["iterations"], r["evaluations"], 1e3 * r["pass_seconds"],
          r["copy_GBps"]))
' "$torch_json" 2>>"$log")
  seconds=$(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print("%.2f" % r.get("fit_seconds", 0))' "$torch_json" 2>/dev/null)
  drop_last_row
  case "$note" in
    skipped:*) row "fit torch lbfgs" skipped 0 "${note#skipped: }" ;;
    *) row "fit torch lbfgs" ok "${seconds:-0}" "$note" ;;
  esac
  echo "\"torch\": $(tail -n 1 "$torch_json")," >>"$fits_json"
fi
echo "\"data\": {\"comparisons\": $comparisons, \"items\": $items}}" >>"$fits_json"

print_table
exit "$failed"
