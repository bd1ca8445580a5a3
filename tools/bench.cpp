// btfit_bench: times load, fit and output of one data file in this process, with the
// process's peak resident memory, and measures the floors a pass is judged against: the
// memory copy bandwidth and a bare loop computing the same number of softplus and sigmoid
// values. Run one scenario per process (tools/bench.sh does) so that peak memory belongs to
// that scenario alone.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "btfit/backend.h"
#include "btfit/btfit.h"
#include "btfit/detail/maths.h"

// The CUDA objective's variants (objective_cuda.h is on the include path when btfit is built
// with CUDA), timed next to the defaults by `btfit_bench passes --device cuda`.
#if __has_include("objective_cuda.h")
#include "objective_cuda.h"
#define BENCH_HAS_CUDA_VARIANTS 1
#else
#define BENCH_HAS_CUDA_VARIANTS 0
#endif

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // kB on Linux
}

// Copy bandwidth: bytes read + written per second over a buffer of `bytes`.
double copy_bandwidth(std::size_t bytes) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t = Clock::now();
    std::memcpy(dst.data(), src.data(), bytes);
    best = std::min(best, since(t));
  }
  if (dst[bytes / 2] != 1) std::printf("copy check failed\n");
  return 2.0 * static_cast<double>(bytes) / best;
}

// Seconds for n softplus + sigmoid evaluations (one per comparison), on all threads.
double bare_loop_seconds(std::size_t n) {
  double best = 1e30;
  double sink = 0.0;
  for (int r = 0; r < 3; ++r) {
    const auto t = Clock::now();
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (std::ptrdiff_t k = 0; k < static_cast<std::ptrdiff_t>(n); ++k) {
      const double eta = 1e-7 * static_cast<double>(k % 1000003) - 0.05;
      const auto terms = btfit::detail::bernoulli_terms(eta, 1.0, 1.0);
      total += terms.value + terms.residual;
    }
    best = std::min(best, since(t));
    sink += total;
  }
  if (sink == 42.0) std::printf(" ");
  return best;
}

struct Row {
  std::string scenario;
  std::size_t n = 0;
  std::size_t params = 0;
  double load = 0, fit = 0, output = 0;
  std::size_t passes = 0;
  int iterations = 0;
  double objective = 0;
  double pass = 0;  // one value+gradient pass, best of 3
  std::string status;
  std::string solver;
  double aggregate = 0;      // deciding on and aggregating repeated comparisons (in fit)
  double optimize = 0;       // the optimizer alone (in fit)
  std::size_t rows_fitted = 0;  // rows the solver read (fewer than n when aggregated)
};

// Best-of-3 seconds of one value+gradient pass of the objective at theta = 0.
double time_pass(btfit::Objective& objective) {
  std::vector<double> theta(objective.n_params(), 0.0), gradient(objective.n_params());
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t = Clock::now();
    objective.value_gradient(theta.data(), gradient.data());
    best = std::min(best, since(t));
  }
  return best;
}

void print(const Row& r, std::size_t data_bytes_per_row) {
  const double rss = peak_rss_mb();
  const double per_pass = r.pass;
  // Floors for one pass at this size, measured now.
  const double bandwidth = copy_bandwidth(std::min<std::size_t>(r.n * data_bytes_per_row, std::size_t{1} << 30));
  const double bytes_floor = static_cast<double>(r.n * data_bytes_per_row) / bandwidth;
  const double compute_floor = bare_loop_seconds(r.n);
  std::printf(
      "| %s | %zu | %zu | %.3f | %.3f | %.3f | %.3f | %.3f | %zu | %s | %.3f | %d | %zu | %.4f | %.4f | %.4f | %.1f | "
      "%.1f | %.10g | %s |\n",
      r.scenario.c_str(), r.n, r.params, r.load, r.aggregate, r.fit, r.output, r.load + r.fit + r.output,
      r.rows_fitted, r.solver.c_str(), r.optimize, r.iterations, r.passes, per_pass, bytes_floor, compute_floor, rss,
      rss * 1048576.0 / static_cast<double>(r.n), r.objective, r.status.c_str());
}

}  // namespace

// `btfit_bench passes`: one data objective's passes on one device, on simulated data held in
// memory (no file): value+gradient, a Hessian-vector product, and batched value+gradient for
// K vectors in one pass, each timed against two floors measured on the same device in the
// same run:
//   bytes floor:   the data read once (Bradley-Terry: two 4-byte ids and an outcome byte per
//                  comparison; dense rows: 8 bytes per entry and 8 per label) over the copy
//                  bandwidth;
//   compute floor: its double-precision work, the per-comparison (per-row) maths K times over
//                  the measured rate of bernoulli_terms, plus for dense rows 4 n p K flops
//                  (X beta and X^T r; the same for a Hessian-vector product) over the FP64 rate.
// "x floor" is the pass over the larger floor; "x K=1" a batched pass over the single one.
// On CUDA the variants of the scatter (atomics against the sorted segmented reduction of
// --deterministic) and of dense rows (one fused read of X against two cuBLAS gemv calls) are
// timed too, on the same data (single passes).
struct PassTiming {
  double single = 0.0, hessian_vector = 0.0;
  double newman = 0.0;  // Newman's sums, where the objective offers them (0: it does not)
  std::vector<std::pair<std::size_t, double>> batches;  // K, seconds per batched pass
};

template <class Call>
double best_seconds(int repeat, Call&& call) {
  call();  // warm-up (first-touch, device transfers, lazy buffers)
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    const auto t = Clock::now();
    call();
    best = std::min(best, since(t));
  }
  return best;
}

PassTiming time_passes(btfit::Objective& objective, const std::vector<std::size_t>& batches, int repeat) {
  PassTiming timing;
  const std::size_t p = objective.n_params();
  std::vector<double> theta(p), gradient(p), v(p), hv(p);
  for (std::size_t j = 0; j < p; ++j) {
    theta[j] = 0.3 * std::sin(1.0 + static_cast<double>(j));
    v[j] = std::cos(static_cast<double>(j));
  }
  timing.single = best_seconds(repeat, [&] { objective.value_gradient(theta.data(), gradient.data()); });
  timing.hessian_vector = best_seconds(repeat, [&] { objective.hessian_vector(v.data(), hv.data()); });
  if (objective.has_newman_sums()) {
    std::vector<double> sums(2 * p);
    timing.newman = best_seconds(repeat, [&] { objective.newman_sums(theta.data(), sums.data()); });
  }
  for (const std::size_t k : batches) {
    std::vector<double> thetas(k * p), values(k), gradients(k * p);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < p; ++j) thetas[i * p + j] = theta[j] + 1e-3 * static_cast<double>(i);
    timing.batches.emplace_back(
        k, best_seconds(repeat, [&] { objective.value_gradient_batch(thetas.data(), k, values.data(), gradients.data()); }));
  }
  return timing;
}

// The CPU's floors: memcpy bandwidth, FP64 rate (fused multiply-add chains on every thread)
// and bernoulli_terms per second (the bare loop).
double host_fp64_rate() {
  constexpr int kChains = 64;  // eight 8-wide vectors: enough to hide the FMA latency
  const long iterations = 1L << 22;
  double best = 1e30;
  double sink = 0.0;
  int threads = 1;
  for (int r = 0; r < 3; ++r) {
    const auto t = Clock::now();
    double total = 0.0;
#pragma omp parallel reduction(+ : total)
    {
      double x[kChains];
      for (int j = 0; j < kChains; ++j) x[j] = 1e-3 * j;
      for (long i = 0; i < iterations; ++i) {
#pragma omp simd
        for (int j = 0; j < kChains; ++j) x[j] = std::fma(x[j], 0.999999, 1e-7);
      }
      for (int j = 0; j < kChains; ++j) total += x[j];
#if defined(_OPENMP)
#pragma omp single
      threads = omp_get_num_threads();
#endif
    }
    best = std::min(best, since(t));
    sink += total;
  }
  if (sink == 42.0) std::printf(" ");
  return 2.0 * kChains * static_cast<double>(iterations) * threads / best;
}

btfit::DeviceFloors host_floors(std::size_t copy_bytes) {
  btfit::DeviceFloors floors;
  floors.copy_bandwidth = copy_bandwidth(copy_bytes);
  floors.fp64_rate = host_fp64_rate();
  const std::size_t n = std::size_t{1} << 24;
  floors.bernoulli_rate = static_cast<double>(n) / bare_loop_seconds(n);
  return floors;
}

// The work of one pass: bytes of data read, and compute seconds on `floors` for K vectors.
struct PassWork {
  double bytes = 0.0;
  double terms = 0.0;         // bernoulli_terms evaluations per vector
  double flops_gradient = 0.0;  // other flops per vector of a value+gradient pass
  double flops_hessian = 0.0;   // flops of a Hessian-vector pass

  double bytes_floor(const btfit::DeviceFloors& f) const { return bytes / f.copy_bandwidth; }
  double gradient_floor(const btfit::DeviceFloors& f, std::size_t k) const {
    return static_cast<double>(k) * (terms / f.bernoulli_rate + flops_gradient / f.fp64_rate);
  }
  double hessian_floor(const btfit::DeviceFloors& f) const { return flops_hessian / f.fp64_rate; }
};

void print_passes(const std::string& data, const std::string& device, const std::string& variant,
                  const PassWork& work, const btfit::DeviceFloors& floors, const PassTiming& t, bool batches) {
  auto line = [&](const char* kernel, std::size_t k, double seconds, double compute_floor) {
    const double bytes_floor = work.bytes_floor(floors);
    std::printf("| %s | %s | %s | %s | %zu | %.5f | %.1f | %.5f | %.5f | %.2f | %s |\n", data.c_str(), device.c_str(),
                variant.c_str(), kernel, k, seconds, work.bytes / seconds / 1e9, bytes_floor, compute_floor,
                seconds / std::max(bytes_floor, compute_floor),
                k == 1 ? "-" : (std::to_string(seconds / t.single).substr(0, 5)).c_str());
  };
  line("value+gradient", 1, t.single, work.gradient_floor(floors, 1));
  line("Hessian-vector", 1, t.hessian_vector, work.hessian_floor(floors));
  // Newman's sums: one exp and a few flops per comparison, below bernoulli_terms' work.
  if (t.newman > 0.0) line("Newman sums", 1, t.newman, work.gradient_floor(floors, 1));
  if (!batches) return;
  for (const auto& [k, seconds] : t.batches) line("value+gradient batch", k, seconds, work.gradient_floor(floors, k));
}

int run_passes(const std::string& device_name, double comparisons, double items, double rows, double features,
               const std::vector<std::size_t>& batches, int repeat) {
  const btfit::Device device = device_name == "cuda" ? btfit::Device::cuda : btfit::Device::cpu;
  const std::size_t copy_bytes = std::size_t{1} << 30;
  const btfit::DeviceFloors floors =
      device == btfit::Device::cuda ? btfit::cuda_floors(copy_bytes) : host_floors(copy_bytes);
  std::printf(
      "btfit_bench passes on %s: copy bandwidth %.1f GB/s (1 GiB buffer, read + written), FP64 %.1f GFLOP/s, "
      "bernoulli_terms %.2f G/s\n\n",
      device_name.c_str(), floors.copy_bandwidth / 1e9, floors.fp64_rate / 1e9, floors.bernoulli_rate / 1e9);
  std::printf(
      "| data | device | variant | pass | K | seconds | GB/s | bytes floor s | compute floor s | x floor | x K=1 |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  char name[96];
  if (comparisons > 0) {
    btfit::ComparisonSimulation spec;
    spec.n_items = static_cast<std::size_t>(items);
    spec.n_comparisons = static_cast<std::size_t>(comparisons);
    spec.seed = 1;
    const btfit::Comparisons data = btfit::simulate_comparisons(spec, nullptr);
    std::snprintf(name, sizeof name, "BT %.0e x %.0e", items, comparisons);
    const double n = static_cast<double>(data.size());
    const PassWork work{9.0 * n, n, 0.0, 4.0 * n};
    {
      const auto backend = btfit::make_bradley_terry_objective(data, false, device, 0);
      print_passes(name, backend.device, device == btfit::Device::cuda ? "atomic" : "-", work, floors,
                   time_passes(*backend.objective, batches, repeat), true);
    }
    if (device == btfit::Device::cuda) {
      const auto backend = btfit::make_bradley_terry_objective(data, false, device, 0, true);
      print_passes(name, backend.device, "sorted (deterministic)", work, floors,
                   time_passes(*backend.objective, {}, repeat), false);
    }
    std::fflush(stdout);
  }
  if (rows > 0) {
    btfit::RowSimulation spec;
    spec.n_rows = static_cast<std::size_t>(rows);
    spec.n_features = static_cast<std::size_t>(features);
    spec.seed = 1;
    const btfit::Rows data = btfit::simulate_rows(spec, nullptr);
    std::snprintf(name, sizeof name, "dense %.0e x %.0f", rows, features);
    const double entries = rows * (features + 1.0);  // with the intercept column
    const PassWork work{8.0 * rows * (features + 1.0), rows, 4.0 * entries, 4.0 * entries};
    {
      const auto backend = btfit::make_logistic_objective(data, true, device, 0);
      print_passes(name, backend.device, device == btfit::Device::cuda ? "fused" : "-", work, floors,
                   time_passes(*backend.objective, batches, repeat), true);
    }
#if BENCH_HAS_CUDA_VARIANTS
    if (device == btfit::Device::cuda) {
      btfit::cuda::LogisticCudaOptions two_reads;
      two_reads.fused = false;
      const auto objective = btfit::cuda::make_logistic_objective(data, true, two_reads);
      print_passes(name, "cuda", "two gemv", work, floors, time_passes(*objective, {}, repeat), false);
    }
#endif
  }
  return 0;
}

// `btfit_bench fits`: whole Bradley-Terry fits on simulated data held in memory, on each
// device and with each solver asked for (no standard errors), with the objective each
// reached. Exits 3 when a fit did not converge and 4 when the objectives differ by more than
// 1e-9 relative (the fits are compared at the same objective). Optionally the data as two
// little-endian int32 arrays (winners, then losers) for a peer to fit the same comparisons,
// and the results as JSON.
int run_fits(double comparisons, double items, const std::vector<std::string>& runs, int threads,
             const std::string& export_path, const std::string& json_path) {
  btfit::ComparisonSimulation spec;
  spec.n_items = static_cast<std::size_t>(items);
  spec.n_comparisons = static_cast<std::size_t>(comparisons);
  spec.seed = 1;
  auto t = Clock::now();
  const btfit::Comparisons data = btfit::simulate_comparisons(spec, nullptr);
  const double simulate_seconds = since(t);
  if (!export_path.empty()) {
    // simulate_comparisons writes the winner as a, without ties or weights.
    for (std::size_t k = 0; k < data.size(); ++k) {
      if (data.outcome2[k] != 2) throw std::runtime_error("--export: a comparison is not a win of a over b");
    }
    const std::string partial = export_path + ".partial";
    std::FILE* f = std::fopen(partial.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error("--export: cannot write " + partial);
    const bool written = std::fwrite(data.a.data(), sizeof(std::uint32_t), data.size(), f) == data.size() &&
                         std::fwrite(data.b.data(), sizeof(std::uint32_t), data.size(), f) == data.size();
    if (std::fclose(f) != 0 || !written || std::rename(partial.c_str(), export_path.c_str()) != 0) {
      std::remove(partial.c_str());
      throw std::runtime_error("--export: writing " + export_path + " failed");
    }
  }
  std::printf("btfit_bench fits: BT %.0e items x %.0e comparisons, simulated in %.2f s\n\n", items, comparisons,
              simulate_seconds);
  std::printf(
      "| device | solver asked | solver | status | objective | iterations | passes | optimizer s | fit s | "
      "notes |\n|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  std::string json = "{\"items\": " + std::to_string(data.n_items()) +
                     ", \"comparisons\": " + std::to_string(data.size()) + ", \"fits\": [";
  double best = std::numeric_limits<double>::infinity();
  double worst = -std::numeric_limits<double>::infinity();
  int failures = 0;
  for (const auto& run : runs) {
    {
      const std::size_t colon = run.find(':');
      const std::string device = run.substr(0, colon);
      const std::string solver = colon == std::string::npos ? "auto" : run.substr(colon + 1);
      btfit::BradleyTerryOptions options;
      options.solver.device = device == "cuda" ? btfit::Device::cuda : btfit::Device::cpu;
      options.solver.solver = solver == "lbfgs"    ? btfit::Solver::lbfgs
                              : solver == "newton" ? btfit::Solver::newton
                              : solver == "newman" ? btfit::Solver::newman
                                                   : btfit::Solver::automatic;
      options.solver.standard_errors = false;
      options.solver.threads = threads;
      const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(data, options);
      const std::string status = btfit::to_string(fit.status);
      std::string notes;  // the device and why it was chosen, among others
      for (const auto& note : fit.notes) notes += (notes.empty() ? "" : "; ") + note;
      std::printf("| %s | %s | %s | %s | %.12g | %d | %zu | %.3f | %.3f | %s |\n", fit.device.c_str(), solver.c_str(),
                  fit.solver.c_str(), status.c_str(), fit.objective, fit.iterations, fit.passes,
                  fit.seconds_optimize, fit.seconds, notes.c_str());
      std::fflush(stdout);
      if (fit.status == btfit::FitStatus::converged) {
        best = std::min(best, fit.objective);
        worst = std::max(worst, fit.objective);
      } else {
        ++failures;
      }
      char objective[32] = "null";  // JSON has no NaN
      if (std::isfinite(fit.objective)) std::snprintf(objective, sizeof objective, "%.17g", fit.objective);
      char entry[512];
      std::snprintf(entry, sizeof entry,
                    "%s{\"device\": \"%s\", \"solver_asked\": \"%s\", \"solver\": \"%s\", \"status\": \"%s\", "
                    "\"objective\": %s, \"iterations\": %d, \"passes\": %zu, \"seconds_optimize\": %.6f, "
                    "\"seconds_fit\": %.6f}",
                    json.back() == '[' ? "" : ", ", fit.device.c_str(), solver.c_str(), fit.solver.c_str(),
                    status.c_str(), objective, fit.iterations, fit.passes, fit.seconds_optimize, fit.seconds);
      json += entry;
    }
  }
  char tail[64];  // best_objective: null when no fit converged
  if (std::isfinite(best)) {
    std::snprintf(tail, sizeof tail, "], \"best_objective\": %.17g}\n", best);
  } else {
    std::snprintf(tail, sizeof tail, "], \"best_objective\": null}\n");
  }
  json += tail;
  if (!json_path.empty()) btfit::write_output(json_path, json);
  if (failures > 0) {
    std::fprintf(stderr, "btfit_bench fits: %d fit(s) did not converge\n", failures);
    return 3;
  }
  // The fits are compared at the same objective: each must have reached the best to 1e-9.
  if (worst - best > 1e-9 * std::abs(best)) {
    std::fprintf(stderr, "btfit_bench fits: the objectives differ by %.3g (relative %.3g), more than 1e-9\n",
                 worst - best, (worst - best) / std::abs(best));
    return 4;
  }
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"btfit_bench: load, fit and output one file and report times, passes and peak memory"};
  app.require_subcommand(1);
  std::string file, label = "y", solver = "auto", scenario, device = "cpu", aggregate = "auto";
  double l2 = 0.0;
  int threads = 0;
  bool header = false;
  auto* bt = app.add_subcommand("bt", "Bradley-Terry on a winner,loser CSV");
  auto* lg = app.add_subcommand("logistic", "Logistic regression on a CSV with a label column");
  for (auto* cmd : {bt, lg}) {
    cmd->add_option("FILE", file)->required();
    cmd->add_option("--solver", solver)->check(CLI::IsMember({"auto", "newton", "lbfgs", "newman"}));
    cmd->add_option("--l2", l2);
    cmd->add_option("--threads", threads);
    cmd->add_option("--device", device, "Backend of the fit and the timed pass: cpu (default), cuda or auto")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
    cmd->add_option("--scenario", scenario, "Name printed in the first column");
    cmd->add_flag("--header", header, "Print the table header first");
  }
  lg->add_option("--label", label);
  bt->add_option("--aggregate", aggregate, "Aggregate repeated comparisons: auto, on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  // Loading alone: seconds, peak resident memory and its bytes per record, one file per process.
  auto* load = app.add_subcommand("load", "Time loading FILE (comparisons, or rows with --label) and its peak memory");
  std::string load_label;
  load->add_option("FILE", file)->required();
  load->add_option("--label", load_label, "Load labeled rows with this label column (default: comparisons)");
  load->add_option("--threads", threads, "Parsing threads (0 = all available, 1 = the streaming reader)");
  auto* passes = app.add_subcommand(
      "passes", "Time one objective's passes (value+gradient, Hessian-vector, batches of K) on simulated data against "
                "the copy bandwidth of the device");
  std::string pass_device = "cpu";
  double pass_comparisons = 1e8, pass_items = 1e6, pass_rows = 1e7, pass_features = 100;
  std::vector<std::size_t> pass_batches = {1, 16, 256};
  int pass_repeat = 3;
  passes->add_option("--device", pass_device, "cpu (default) or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  passes->add_option("--comparisons", pass_comparisons, "Bradley-Terry comparisons (default 1e8; 0: none)");
  passes->add_option("--items", pass_items, "Bradley-Terry items (default 1e6)");
  passes->add_option("--rows", pass_rows, "Dense logistic rows (default 1e7; 0: none)");
  passes->add_option("--features", pass_features, "Dense logistic features (default 100)");
  passes->add_option("--batch", pass_batches, "Batch sizes K (default 1 16 256)")->delimiter(',');
  passes->add_option("--repeat", pass_repeat, "Timed passes per kernel, best kept (default 3)");
  auto* fits = app.add_subcommand(
      "fits", "Whole Bradley-Terry fits on simulated data in memory, per device and solver, with the objective reached");
  double fit_comparisons = 1e8, fit_items = 1e6;
  std::vector<std::string> fit_runs = {"cpu:auto"};
  std::string fit_export, fit_json;
  int fit_threads = 0;
  fits->add_option("--comparisons", fit_comparisons, "Comparisons (default 1e8)");
  fits->add_option("--items", fit_items, "Items (default 1e6)");
  fits->add_option("--fit", fit_runs, "Fits to run, in order, as DEVICE:SOLVER (default cpu:auto)")
      ->delimiter(',')
      ->check([](const std::string& run) -> std::string {
        const std::size_t colon = run.find(':');
        const std::string device = run.substr(0, colon);
        const std::string solver = colon == std::string::npos ? "auto" : run.substr(colon + 1);
        if (device != "cpu" && device != "cuda") return "device of '" + run + "' is not cpu or cuda";
        if (solver != "auto" && solver != "newton" && solver != "lbfgs" && solver != "newman")
          return "solver of '" + run + "' is not auto, newton, lbfgs or newman";
        return "";
      });
  fits->add_option("--threads", fit_threads, "CPU threads (0 = all available)");
  fits->add_option("--export", fit_export,
                   "Write the comparisons there as little-endian int32 winners, then losers (for a peer to fit)");
  fits->add_option("--json", fit_json, "Write the results there as JSON (with best_objective)");
  CLI11_PARSE(app, argc, argv);
  if (*fits) {
    try {
      return run_fits(fit_comparisons, fit_items, fit_runs, fit_threads, fit_export, fit_json);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "btfit_bench: %s\n", e.what());
      return 1;
    }
  }
  if (*passes) {
    try {
      return run_passes(pass_device, pass_comparisons, pass_items, pass_rows, pass_features, pass_batches,
                        pass_repeat);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "btfit_bench: %s\n", e.what());
      return 1;
    }
  }
  if (*load) {
    try {
      const auto t = Clock::now();
      std::size_t records = 0;
      if (load_label.empty()) {
        btfit::ComparisonColumns columns;
        columns.load.threads = threads;
        records = btfit::load_comparisons(file, columns).size();
      } else {
        btfit::RowColumns columns;
        columns.label = load_label;
        columns.load.threads = threads;
        records = btfit::load_rows(file, columns).n_rows;
      }
      const double seconds = since(t);
      const double rss = peak_rss_mb();
      std::printf("load %s: %zu %s in %.3f s, peak RSS %.1f MB (%.1f bytes per %s)\n", file.c_str(), records,
                  load_label.empty() ? "comparisons" : "rows", seconds, rss,
                  rss * 1048576.0 / static_cast<double>(records), load_label.empty() ? "comparison" : "row");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "btfit_bench: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  if (header) {
    std::printf(
        "| scenario | rows | params | load s | aggregate s (in fit) | fit s | output s | total s | rows fitted | solver | "
        "optimizer s (in fit) | iterations | passes | s/pass (1 pass, measured) | bytes floor s | compute floor s | "
        "peak MB | bytes/row | objective | status |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  }
  btfit::SolverOptions so;
  so.solver = solver == "lbfgs"    ? btfit::Solver::lbfgs
              : solver == "newton" ? btfit::Solver::newton
              : solver == "newman" ? btfit::Solver::newman
                                   : btfit::Solver::automatic;
  so.threads = threads;
  so.device = device == "cuda" ? btfit::Device::cuda : device == "auto" ? btfit::Device::automatic : btfit::Device::cpu;
  Row row;
  row.scenario = scenario.empty() ? file : scenario;
  try {
    if (*bt) {
      auto t = Clock::now();
      const auto data = btfit::load_comparisons(file, btfit::ComparisonColumns{});
      row.load = since(t);
      btfit::BradleyTerryOptions options;
      options.l2 = l2;
      options.solver = so;
      options.aggregate = aggregate == "on"    ? btfit::Aggregation::on
                          : aggregate == "off" ? btfit::Aggregation::off
                                               : btfit::Aggregation::automatic;
      const auto fit = btfit::fit_bradley_terry(data, options);
      row.aggregate = fit.seconds_aggregate;
      row.optimize = fit.seconds_optimize;
      row.rows_fitted = fit.n_rows_fitted;
      row.solver = fit.solver;
      row.fit = fit.seconds;
      if (fit.status == btfit::FitStatus::not_estimable) {
        std::fprintf(stderr, "btfit_bench: %s: not estimable (add --l2)\n", file.c_str());
        return 2;
      }
      t = Clock::now();
      btfit::write_output(file + ".bench-out.csv",
                          btfit::format_bradley_terry(fit, btfit::OutputFormat::csv, btfit::RunInfo{}));
      row.output = since(t);
      std::remove((file + ".bench-out.csv").c_str());
      row.n = data.size();
      row.params = data.n_items();
      row.passes = fit.passes;
      row.iterations = fit.iterations;
      row.objective = fit.objective;
      row.status = btfit::to_string(fit.status);
      row.pass = time_pass(*btfit::make_bradley_terry_objective(data, false, so.device, threads).objective);
      print(row, 8 + (data.has_weights() ? 8 : 0));
    } else {
      auto t = Clock::now();
      btfit::RowColumns cols;
      cols.label = label;
      const auto data = btfit::load_rows(file, cols);
      row.load = since(t);
      btfit::LogisticOptions options;
      options.l2 = l2;
      options.solver = so;
      const auto fit = btfit::fit_logistic(data, options);
      row.fit = fit.seconds;
      row.rows_fitted = data.n_rows;
      row.solver = fit.solver;
      row.optimize = fit.seconds;
      if (fit.status == btfit::FitStatus::not_estimable) {
        std::fprintf(stderr, "btfit_bench: %s: not estimable\n", file.c_str());
        return 2;
      }
      t = Clock::now();
      btfit::write_output(file + ".bench-out.csv", btfit::format_logistic(fit, btfit::OutputFormat::csv, btfit::RunInfo{}));
      row.output = since(t);
      std::remove((file + ".bench-out.csv").c_str());
      row.n = data.n_rows;
      row.params = fit.terms.size();
      row.passes = fit.passes;
      row.iterations = fit.iterations;
      row.objective = fit.objective;
      row.status = btfit::to_string(fit.status);
      row.pass = time_pass(*btfit::make_logistic_objective(data, true, so.device, threads).objective);
      print(row, 8 * data.n_features + 8);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "btfit_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
