#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA Hopper GPU (sm_90) and no network, build btfit from
# what the repository holds, run the GPU tests, run compute-sanitizer memcheck on small runs,
# time the passes against the card's floors (btfit_bench passes) and whole fits (btfit_bench
# fits: btfit on the GPU and on the CPU, then PyTorch L-BFGS on the same card, on the same
# comparisons, to the same final objective), and print a short table last. It is meant to
# finish in under five minutes.
#
#   tools/gpu-check.sh [--cpu-only] [--build-dir DIR] [--jobs N]
#
#   --cpu-only       check every step that needs no GPU (configure, build, the CPU cases of the
#                    tests, the CPU passes and fits at small sizes, PyTorch on the CPU); GPU
#                    steps are reported as skipped. Without it, the script stops at once, with the reason, when no
#                    usable GPU is present.
#   --build-dir DIR  build there (default: build-gpu-check); an existing build is reused.
#   --jobs N         parallel build jobs (default: all processors).
#
# Dependencies come from .deps in the repository root when present (packed on a machine with
# network by shared/device/pack-deps.sh: Eigen, CLI11, GoogleTest), else from the system.
# Outputs go to $OUT when it is set, else to DIR/gpu-check-out: gpu-check.log (everything),
# summary.txt (the table), tests.xml (GoogleTest's report), passes.md (the pass timings against
# the floors), fits.md and fits.json (btfit's fits), torch.json (PyTorch's fit).
# Environment: GPU_CHECK_FIT_COMPARISONS and GPU_CHECK_FIT_ITEMS, the size of the fits (default
# 1e8 comparisons among 1e6 items; 1e6 and 1e4 with --cpu-only); GPU_CHECK_SECONDS, the time
# after which no step starts (default 285); GPU_CHECK_TORCH_SECONDS, PyTorch's time limit
# (default 60).
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
fits_md=$out/fits.md
: >"$passes_out"
: >"$fits_md"
: >"$rows"

start=$(date +%s)
deadline=$((start + ${GPU_CHECK_SECONDS:-285}))  # leave room for the table within five minutes
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
    for part in "$passes_out" "$fits_md"; do
      if [ -s "$part" ]; then
        echo
        cat "$part"
      fi
    done
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
  # gzip and zstd input are not what this checks: off, so that their libraries need not be there
  cmake_args+=(-DBTFIT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DBTFIT_WITH_ZLIB=OFF -DBTFIT_WITH_ZSTD=OFF)
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
# A CUDA case skips with "no CUDA device: <why>" (and only then).
tail -n +"$lines_before" "$log" | grep -F 'no CUDA device:' >"$tests_log"
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
# 6. Passes against the card's floors (btfit_bench passes): a Bradley-Terry value+gradient and
# Hessian-vector pass over 1e8 comparisons among 1e6 items and over 1e7 x 100 dense rows, batched
# value+gradient for K = 1, 16, 256, and the variants (atomics against the sorted segmented
# reduction; one fused read of X against two gemv calls), on simulated data in memory, each
# against the copy bandwidth and the FP64 rates measured in the same run. With --cpu-only, small
# sizes on the CPU (the same code).
export PASSES_OUT=$passes_out
bench_device=cuda
[ "$cpu_only" -eq 1 ] && bench_device=cpu
fit_dir=$build_dir/fit-comparison
mkdir -p "$fit_dir"
if [ -x "$bench" ] && timeout 10 "$bench" passes --help >/dev/null 2>&1; then
  if [ "$cpu_only" -eq 1 ]; then
    passes_args=(--device cpu --comparisons 1e6 --items 1e4 --rows 1e5 --features 100 --batch '1,16' --repeat 2)
  else
    passes_args=(--device cuda --repeat 2)
  fi
  # shellcheck disable=SC2016 # the arguments expand in the inner shell
  step "passes $bench_device" 150 60 bash -c 'set -o pipefail; "$@" 2>&1 | tee "$PASSES_OUT"' _ \
    "$bench" passes "${passes_args[@]}"
else
  row "passes" skipped 0 "no btfit_bench passes in this build"
fi

# ---------------------------------------------------------------------------------------
# 7. Whole fits at GPU_CHECK_FIT_COMPARISONS (default 1e8) comparisons among GPU_CHECK_FIT_ITEMS
# (default 1e6) items, simulated in memory (btfit_bench fits): btfit on the GPU (its automatic
# solver, Newman's iteration, then Newton-CG and L-BFGS) and on the CPU (automatic), then
# PyTorch L-BFGS on the same card, on the same comparisons (handed over as int32 arrays), until
# it reaches btfit's best objective.
fit_comparisons=${GPU_CHECK_FIT_COMPARISONS:-1e8}
fit_items=${GPU_CHECK_FIT_ITEMS:-1e6}
fits_json=$out/fits.json
pairs=$fit_dir/pairs.i32
rm -f "$fits_json" "$pairs"
fit_runs=cuda:auto,cuda:newton,cuda:lbfgs,cpu:auto
[ "$cpu_only" -eq 1 ] && fit_runs=cpu:auto,cpu:lbfgs
if [ "$cpu_only" -eq 1 ]; then
  fit_comparisons=${GPU_CHECK_FIT_COMPARISONS:-1e6}
  fit_items=${GPU_CHECK_FIT_ITEMS:-1e4}
fi
best_objective=""
if [ ! -x "$bench" ] || ! timeout 10 "$bench" fits --help >/dev/null 2>&1; then
  row "fits" skipped 0 "no btfit_bench fits in this build"
else
  export FITS_OUT=$fits_md
  # shellcheck disable=SC2016 # the arguments expand in the inner shell
  if step "fits $fit_comparisons" 120 45 bash -c 'set -o pipefail; "$@" 2>&1 | tee "$FITS_OUT"' _ \
       "$bench" fits --comparisons "$fit_comparisons" --items "$fit_items" --fit "$fit_runs" \
       --export "$pairs" --json "$fits_json" && [ -s "$fits_json" ]; then
    # null when no fit converged: then there is nothing for PyTorch to reach
    best_objective=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["best_objective"]; print("" if b is None else repr(b))' "$fits_json")
    drop_last_row
    while IFS=$'\t' read -r name seconds note; do
      row "$name" ok "$seconds" "$note"
    done < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["fits"]:
    print("fit btfit %s %s\t%.3f\tobjective %.12g, %d passes, optimizer %.3f s (%s)" % (f["device"], f["solver_asked"],
          f["seconds_fit"], f["objective"], f["passes"], f["seconds_optimize"], f["solver"]))' "$fits_json" 2>>"$log")
  fi
fi

torch_script=$build_dir/torch_bradley_terry.py
cat >"$torch_script" <<'PYTHON'
# Plain PyTorch Bradley-Terry fit with torch.optim.LBFGS, run until the objective reaches a
# target (btfit's best objective on the same comparisons), plus the device's copy bandwidth.
#   python3 torch_bradley_terry.py PAIRS TARGET SECONDS DEVICE
# PAIRS: little-endian int32 winners, then losers (btfit_bench fits --export); DEVICE: cuda, or
# cpu to check this script where there is no GPU. Prints one JSON object.
import json
import sys
import time

try:
    import numpy
    import torch
except ImportError as error:
    print(json.dumps({"skipped": "PyTorch or NumPy is not installed (%s)" % error}))
    sys.exit(0)
path, target, limit, device_name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if device_name == "cuda" and not torch.cuda.is_available():
    print(json.dumps({"skipped": "PyTorch sees no CUDA device"}))
    sys.exit(0)
device = torch.device(device_name)
result = {"card": torch.cuda.get_device_name(0) if device_name == "cuda" else "cpu", "torch": torch.__version__}


def synchronize():
    if device_name == "cuda":
        torch.cuda.synchronize()


# Copy bandwidth: bytes read plus bytes written per second, median of 20 copies (2 GiB on a GPU).
source = torch.rand(2**28 if device_name == "cuda" else 2**24, dtype=torch.float64, device=device)
target_buffer = torch.empty_like(source)
times = []
for i in range(23):
    synchronize()
    begin = time.perf_counter()
    target_buffer.copy_(source)
    synchronize()
    if i >= 3:
        times.append(time.perf_counter() - begin)
times.sort()
result["copy_GBps"] = 2 * source.numel() * 8 / times[len(times) // 2] / 1e9
del source, target_buffer

load_start = time.perf_counter()
pairs = numpy.fromfile(path, dtype="<i4")
n = len(pairs) // 2
winner = torch.as_tensor(pairs[:n], device=device).long()
loser = torch.as_tensor(pairs[n:], device=device).long()
items = int(max(winner.max().item(), loser.max().item())) + 1
del pairs
synchronize()
result.update(items=items, comparisons=n, load_seconds=time.perf_counter() - load_start)

# f(s) = sum_k softplus(-(s[winner_k] - s[loser_k])): the Bradley-Terry NLL with y = 1 (softplus
# taken as linear only past 40, where that is exact in double precision).
strength = torch.zeros(items, dtype=torch.float64, device=device, requires_grad=True)


def nll():
    return torch.nn.functional.softplus(strength[loser] - strength[winner], threshold=40).sum()


# One value+gradient pass (autograd), median of 10 after 3 warm-ups.
times = []
for i in range(13):
    synchronize()
    begin = time.perf_counter()
    strength.grad = None
    nll().backward()
    synchronize()
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
    if progress["best"] <= goal or time.perf_counter() - begin > limit:
        raise Stop
    return loss


synchronize()
begin = time.perf_counter()
try:
    optimizer.step(closure)
except Stop:
    pass
synchronize()
state = optimizer.state[strength]
result.update(fit_seconds=time.perf_counter() - begin, iterations=state.get("n_iter", 0),
              evaluations=progress["evaluations"], objective=progress["best"], target=target,
              reached=progress["best"] <= goal)
print(json.dumps(result))
PYTHON
torch_json=$fit_dir/torch.json
torch_device=cuda
[ "$cpu_only" -eq 1 ] && torch_device=cpu
# shellcheck disable=SC2016 # the arguments expand in the inner shell
if [ -z "$best_objective" ] || [ ! -s "$pairs" ]; then
  row "fit torch lbfgs" skipped 0 "no btfit objective to reach"
elif step "fit torch lbfgs $torch_device" 120 40 bash -c 'python3 "$1" "$2" "$3" "$4" "$5" >"$6"' _ "$torch_script" \
       "$pairs" "$best_objective" "${GPU_CHECK_TORCH_SECONDS:-60}" "$torch_device" "$torch_json"; then
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
    skipped:*) row "fit torch lbfgs $torch_device" skipped 0 "${note#skipped: }" ;;
    *) row "fit torch lbfgs $torch_device" ok "${seconds:-0}" "$note" ;;
  esac
  cp "$torch_json" "$out/torch.json"
fi
rm -f "$pairs"

# 8. Where device auto's threshold lies (kAutoMinComparisons in host/backend.cpp: 2e6
# comparisons): both devices' automatic fits at that size, after PyTorch's fit.
if [ "$cpu_only" -eq 0 ] && [ -n "$best_objective" ]; then
  # shellcheck disable=SC2016 # the arguments expand in the inner shell
  step "fits 2e6 (auto threshold)" 40 10 bash -c 'set -o pipefail; "$@" 2>&1 | tee -a "$FITS_OUT"' _ \
    "$bench" fits --comparisons 2e6 --items 2e4 --fit cuda:auto,cpu:auto
fi

print_table
exit "$failed"
