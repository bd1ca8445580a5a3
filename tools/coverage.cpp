// btfit_coverage: how often btfit's intervals cover the truth.
//
// Simulates many data sets from known parameters (btfit::simulate_comparisons and
// simulate_rows: strengths N(0, 1) centred to mean zero; coefficients N(0, 0.5^2)), fits each
// with its Wald standard errors and the Poisson bootstrap, and counts how often the 95% Wald
// interval (estimate -+ 1.96 SE) and the bootstrap percentile interval (boot_lo, boot_hi)
// contain the true value; for Bradley-Terry also how often [rank_lo, rank_hi] contains the
// true rank. A nominal 95% interval should cover about 95% of the time; the binomial standard
// error of each figure is printed with it (intervals within a data set are correlated, so it
// is a lower bound).
//
//   btfit_coverage                 the full benchmark (minutes)
//   btfit_coverage --small         the size CI runs (seconds); exits 1 when a coverage falls
//                                  outside [88%, 99.5%], far outside its sampling error
//   btfit_coverage --time-bootstrap --items 100 --comparisons 1e6 --replicates 1000
//                                  times the batched bootstrap against separate fits of the
//                                  same replicates (one fit per reweighted data set), on a
//                                  simulated data set
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "btfit/btfit.h"
#include "btfit/detail/rng.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr double kZ95 = 1.959963984540054;

struct Tally {
  std::size_t covered = 0, total = 0;
  void add(bool inside) {
    covered += inside ? 1 : 0;
    ++total;
  }
  double rate() const { return total ? static_cast<double>(covered) / static_cast<double>(total) : 0.0; }
  double se() const { return total ? std::sqrt(rate() * (1.0 - rate()) / static_cast<double>(total)) : 0.0; }
};

void print(const char* what, const Tally& t) {
  std::printf("  %-44s %6.2f%%  (+- %.2f%%, %zu intervals)\n", what, 100.0 * t.rate(), 100.0 * t.se(), t.total);
}

struct Settings {
  std::size_t datasets = 400;
  std::size_t items = 20;
  double comparisons = 2000;
  std::size_t rows = 1000;
  std::size_t features = 3;
  std::size_t replicates = 500;
  std::uint64_t seed = 1;
  int threads = 1;  // the data sets are small: one thread each avoids waking a team per pass
};

// Bradley-Terry: returns false when a coverage is implausible (used by --small).
bool bradley_terry_coverage(const Settings& s, bool check) {
  Tally wald, boot, rank;
  std::size_t skipped = 0, replicates_used = 0, replicates_dropped = 0;
  const auto t0 = Clock::now();
  for (std::size_t d = 0; d < s.datasets; ++d) {
    btfit::ComparisonSimulation spec;
    spec.n_items = s.items;
    spec.n_comparisons = static_cast<std::size_t>(s.comparisons);
    spec.seed = s.seed * 1000003 + d;
    std::vector<double> truth;
    const btfit::Comparisons data = btfit::simulate_comparisons(spec, &truth);
    btfit::BradleyTerryOptions options;
    options.bootstrap.replicates = s.replicates;
    options.bootstrap.seed = spec.seed;
    options.solver.threads = s.threads;
    const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(data, options);
    if (fit.status != btfit::FitStatus::converged) {
      ++skipped;
      continue;
    }
    replicates_used += fit.bootstrap.used;
    replicates_dropped += fit.bootstrap.dropped_not_estimable + fit.bootstrap.dropped_not_converged;
    // True ranks (1 = strongest).
    std::vector<std::size_t> order(s.items);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return truth[x] > truth[y]; });
    std::vector<double> true_rank(s.items);
    for (std::size_t r = 0; r < s.items; ++r) true_rank[order[r]] = static_cast<double>(r + 1);
    for (std::size_t i = 0; i < s.items; ++i) {
      wald.add(std::fabs(fit.strength[i] - truth[i]) <= kZ95 * fit.se[i]);
      boot.add(fit.boot_lo[i] <= truth[i] && truth[i] <= fit.boot_hi[i]);
      rank.add(fit.rank_lo[i] <= true_rank[i] && true_rank[i] <= fit.rank_hi[i]);
    }
  }
  std::printf("Bradley-Terry: %zu data sets of %zu comparisons among %zu items (strengths N(0,1), mean zero), "
              "%zu bootstrap replicates each; %.1f s\n",
              s.datasets - skipped, static_cast<std::size_t>(s.comparisons), s.items, s.replicates, since(t0));
  if (skipped) std::printf("  (%zu data sets without a finite estimate skipped)\n", skipped);
  print("95% Wald intervals cover the true strength", wald);
  print("95% bootstrap percentile intervals cover it", boot);
  print("95% bootstrap rank intervals cover the true rank", rank);
  std::printf("  replicates used %zu, dropped %zu\n", replicates_used, replicates_dropped);
  if (!check) return true;
  return wald.rate() >= 0.88 && wald.rate() <= 0.995 && boot.rate() >= 0.88 && boot.rate() <= 0.995;
}

bool logistic_coverage(const Settings& s, bool check) {
  Tally wald, boot;
  std::size_t skipped = 0;
  const auto t0 = Clock::now();
  for (std::size_t d = 0; d < s.datasets; ++d) {
    btfit::RowSimulation spec;
    spec.n_rows = s.rows;
    spec.n_features = s.features;
    spec.seed = s.seed * 2000003 + d;
    std::vector<double> truth;
    const btfit::Rows rows = btfit::simulate_rows(spec, &truth);
    btfit::LogisticOptions options;
    options.bootstrap.replicates = s.replicates;
    options.bootstrap.seed = spec.seed;
    options.solver.threads = s.threads;
    const btfit::LogisticFit fit = btfit::fit_logistic(rows, options);
    if (fit.status != btfit::FitStatus::converged) {
      ++skipped;
      continue;
    }
    for (std::size_t j = 0; j < truth.size(); ++j) {
      wald.add(std::fabs(fit.estimate[j] - truth[j]) <= kZ95 * fit.se[j]);
      boot.add(fit.boot_lo[j] <= truth[j] && truth[j] <= fit.boot_hi[j]);
    }
  }
  std::printf("Logistic regression: %zu data sets of %zu rows, %zu features and an intercept, %zu bootstrap "
              "replicates each; %.1f s\n",
              s.datasets - skipped, s.rows, s.features, s.replicates, since(t0));
  if (skipped) std::printf("  (%zu data sets without a finite estimate skipped)\n", skipped);
  print("95% Wald intervals cover the true coefficient", wald);
  print("95% bootstrap percentile intervals cover it", boot);
  if (!check) return true;
  return wald.rate() >= 0.88 && wald.rate() <= 0.995 && boot.rate() >= 0.88 && boot.rate() <= 0.995;
}

// The batched bootstrap against separate fits of the same replicates.
void time_bootstrap(const Settings& s, std::size_t separate) {
  btfit::ComparisonSimulation spec;
  spec.n_items = s.items;
  spec.n_comparisons = static_cast<std::size_t>(s.comparisons);
  spec.seed = s.seed;
  std::vector<double> truth;
  const btfit::Comparisons data = btfit::simulate_comparisons(spec, &truth);
  btfit::BradleyTerryOptions options;
  options.solver.threads = s.threads;
  const auto t_fit = Clock::now();
  const btfit::BradleyTerryFit plain = btfit::fit_bradley_terry(data, options);
  const double seconds_fit = since(t_fit);
  options.bootstrap.replicates = s.replicates;
  options.bootstrap.seed = s.seed;
  const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(data, options);
  std::printf("%zu comparisons among %zu items: fit %.3f s (status %s); bootstrap of %zu replicates %.3f s "
              "(%zu used; %s)\n",
              data.size(), s.items, seconds_fit, btfit::to_string(plain.status), s.replicates,
              fit.bootstrap.seconds, fit.bootstrap.used, fit.bootstrap.method.c_str());
  // Separate fits: each replicate's weights materialized, then a fit from zero (no SEs).
  btfit::BradleyTerryOptions single = options;
  single.bootstrap = btfit::BootstrapOptions{};
  single.solver.standard_errors = false;
  const auto t_separate = Clock::now();
  btfit::Comparisons copy = data;
  copy.weight.resize(data.size());
  for (std::size_t r = 0; r < separate; ++r) {
    for (std::size_t k = 0; k < data.size(); ++k)
      copy.weight[k] = btfit::detail::counter_poisson(data.w(k), s.seed, r, k);
    (void)btfit::fit_bradley_terry(copy, single);
  }
  const double per_fit = since(t_separate) / static_cast<double>(std::max<std::size_t>(separate, 1));
  std::printf("separate fits: %.3f s each (mean of %zu), so %zu replicates would take %.1f s: the batched "
              "bootstrap is %.1fx faster\n",
              per_fit, separate, s.replicates, per_fit * static_cast<double>(s.replicates),
              per_fit * static_cast<double>(s.replicates) / std::max(fit.bootstrap.seconds, 1e-9));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"btfit_coverage: coverage of btfit's Wald and bootstrap intervals on simulated data"};
  Settings s;
  bool small = false, timing = false;
  std::string model = "both";
  std::size_t separate = 20;
  app.add_flag("--small", small, "The CI size (seconds); exit 1 on an implausible coverage");
  app.add_flag("--time-bootstrap", timing, "Time the batched bootstrap against separate fits instead");
  app.add_option("--model", model, "bt, logistic or both (default)")->check(CLI::IsMember({"bt", "logistic", "both"}));
  app.add_option("--datasets", s.datasets, "Simulated data sets (default 400; --small 40)");
  app.add_option("--items", s.items, "Items per Bradley-Terry data set (default 20; --small 10)");
  app.add_option("--comparisons", s.comparisons, "Comparisons per data set (default 2000; --small 400)");
  app.add_option("--rows", s.rows, "Rows per logistic data set (default 1000; --small 300)");
  app.add_option("--features", s.features, "Features per logistic data set (default 3)");
  app.add_option("--replicates", s.replicates, "Bootstrap replicates per data set (default 500; --small 200)");
  app.add_option("--separate", separate, "--time-bootstrap: separate fits to time (default 20)");
  app.add_option("--seed", s.seed, "Seed (default 1)");
  app.add_option("--threads", s.threads, "CPU threads (default 1; 0 = all)");
  CLI11_PARSE(app, argc, argv);
  if (timing) {
    time_bootstrap(s, separate);
    return 0;
  }
  if (small) {
    if (app.count("--datasets") == 0) s.datasets = 40;
    if (app.count("--items") == 0) s.items = 10;
    if (app.count("--comparisons") == 0) s.comparisons = 400;
    if (app.count("--rows") == 0) s.rows = 300;
    if (app.count("--replicates") == 0) s.replicates = 200;
  }
  bool ok = true;
  if (model != "logistic") ok = bradley_terry_coverage(s, small) && ok;
  if (model != "bt") ok = logistic_coverage(s, small) && ok;
  if (!ok) std::printf("coverage outside [88%%, 99.5%%]: something is wrong\n");
  return ok ? 0 : 1;
}
