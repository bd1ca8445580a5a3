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
#include <string>
#include <vector>

#include "btfit/backend.h"
#include "btfit/btfit.h"
#include "btfit/detail/maths.h"

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

// `btfit_bench passes`: one data objective's passes on one device, timed against the device's
// copy bandwidth, on simulated data held in memory (no file): value+gradient and a
// Hessian-vector product, then batched value+gradient for K vectors in one pass. Bytes of a
// pass are those of the data read once (Bradley-Terry: two 4-byte ids and an outcome byte per
// comparison; dense rows: 8 bytes per entry and 8 per label); "x floor" is the pass over
// bytes / copy bandwidth, and "x K=1" a batched pass against the single one.
struct PassTiming {
  double single = 0.0, hessian_vector = 0.0;
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
  for (const std::size_t k : batches) {
    std::vector<double> thetas(k * p), values(k), gradients(k * p);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < p; ++j) thetas[i * p + j] = theta[j] + 1e-3 * static_cast<double>(i);
    timing.batches.emplace_back(
        k, best_seconds(repeat, [&] { objective.value_gradient_batch(thetas.data(), k, values.data(), gradients.data()); }));
  }
  return timing;
}

void print_passes(const char* data, const std::string& device, double bytes, double bandwidth, const PassTiming& t) {
  const double floor = bytes / bandwidth;
  auto line = [&](const std::string& kernel, std::size_t k, double seconds) {
    std::printf("| %s | %s | %s | %zu | %.5f | %.1f | %.1f | %.2f | %s |\n", data, device.c_str(), kernel.c_str(), k,
                seconds, bytes / seconds / 1e9, bandwidth / 1e9, seconds / floor,
                k == 1 ? "-" : (std::to_string(seconds / t.single).substr(0, 5)).c_str());
  };
  line("value+gradient", 1, t.single);
  line("Hessian-vector", 1, t.hessian_vector);
  for (const auto& [k, seconds] : t.batches) line("value+gradient batch", k, seconds);
}

int run_passes(const std::string& device_name, double comparisons, double items, double rows, double features,
               const std::vector<std::size_t>& batches, int repeat) {
  const btfit::Device device = device_name == "cuda" ? btfit::Device::cuda : btfit::Device::cpu;
  const std::size_t bandwidth_bytes = std::size_t{1} << 30;
  const double bandwidth =
      device == btfit::Device::cuda ? btfit::cuda_copy_bandwidth(bandwidth_bytes) : copy_bandwidth(bandwidth_bytes);
  std::printf("btfit_bench passes on %s: copy bandwidth %.1f GB/s (1 GiB buffer, read + written)\n\n",
              device_name.c_str(), bandwidth / 1e9);
  std::printf("| data | device | pass | K | seconds | GB/s | copy GB/s | x floor | x K=1 |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  auto report = [&](const char* name, const btfit::BackendChoice& backend, double bytes) {
    print_passes(name, backend.device, bytes, bandwidth, time_passes(*backend.objective, batches, repeat));
  };
  char name[96];
  if (comparisons > 0) {
    btfit::ComparisonSimulation spec;
    spec.n_items = static_cast<std::size_t>(items);
    spec.n_comparisons = static_cast<std::size_t>(comparisons);
    spec.seed = 1;
    const btfit::Comparisons data = btfit::simulate_comparisons(spec, nullptr);
    std::snprintf(name, sizeof name, "BT %.0e x %.0e", items, comparisons);
    report(name, btfit::make_bradley_terry_objective(data, false, device, 0), 9.0 * static_cast<double>(data.size()));
  }
  if (rows > 0) {
    btfit::RowSimulation spec;
    spec.n_rows = static_cast<std::size_t>(rows);
    spec.n_features = static_cast<std::size_t>(features);
    spec.seed = 1;
    const btfit::Rows data = btfit::simulate_rows(spec, nullptr);
    std::snprintf(name, sizeof name, "dense %.0e x %.0f", rows, features);
    report(name, btfit::make_logistic_objective(data, true, device, 0), 8.0 * rows * (features + 1.0));
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
  CLI11_PARSE(app, argc, argv);
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
