// The btfit command line: a thin layer over the public API in include/btfit/.
//
// Exit codes: 0 success; 1 invalid input or bad usage (CLI11's own codes for parse errors,
// never 2 or 3); 2 the estimate does not exist or is not unique; 3 the optimizer did not
// converge (results are still written, marked as not converged).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <sstream>

#include "btfit/btfit.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

constexpr int kExitInput = 1;
constexpr int kExitNotEstimable = 2;
constexpr int kExitNotConverged = 3;

struct SolverArgs {
  std::string solver = "auto";
  std::string device = "auto";
  int threads = 0;
  double tolerance = 1e-8;
  int max_iterations = 1000;
  std::size_t dense_limit = 3000;
  bool no_se = false;
};

void add_solver_options(CLI::App* app, SolverArgs& s) {
  app->add_option("--solver", s.solver, "Optimizer: auto (trust-region Newton-CG), newton, lbfgs")
      ->check(CLI::IsMember({"auto", "newton", "lbfgs"}));
  app->add_option("--device", s.device, "Backend: auto (GPU when present and the data are large), cpu, cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app->add_option("--threads", s.threads, "CPU threads (0 = all available)")->check(CLI::NonNegativeNumber);
  app->add_option("--tolerance", s.tolerance, "Stop when |gradient| <= TOL * |gradient at start| (default 1e-8)")
      ->check(CLI::Range(1e-16, 0.5));
  app->add_option("--max-iterations", s.max_iterations, "Optimizer iteration limit (default 1000)")
      ->check(CLI::PositiveNumber);
  app->add_option("--dense-limit", s.dense_limit,
                  "Largest parameter count for dense standard errors (default 3000)");
  app->add_flag("--no-se", s.no_se, "Skip standard errors");
}

btfit::SolverOptions to_solver_options(const SolverArgs& s) {
  btfit::SolverOptions o;
  o.solver = s.solver == "lbfgs" ? btfit::Solver::lbfgs : s.solver == "newton" ? btfit::Solver::newton : btfit::Solver::automatic;
  o.device = s.device == "cpu" ? btfit::Device::cpu : s.device == "cuda" ? btfit::Device::cuda : btfit::Device::automatic;
  o.threads = s.threads;
  o.tolerance = s.tolerance;
  o.max_iterations = s.max_iterations;
  o.dense_limit = s.dense_limit;
  o.standard_errors = !s.no_se;
  return o;
}

struct ComparisonArgs {
  std::string file;
  btfit::ComparisonColumns columns;
  bool home = false;
  double l2 = 0.0;
  std::string prior;
  double pseudo = 0.0;
  std::string reference;
  std::string elo_anchor;
  std::string format = "csv";
  std::string out;
  SolverArgs solver;
};

void add_comparison_options(CLI::App* app, ComparisonArgs& a, bool fitting) {
  app->add_option("FILE", a.file, "CSV/TSV with a header; - for standard input")->required();
  app->add_option("--winner", a.columns.winner, "Winner column (default: winner)");
  app->add_option("--loser", a.columns.loser, "Loser column (default: loser)");
  app->add_option("--a", a.columns.a, "Side-a column (with --b and --outcome)");
  app->add_option("--b", a.columns.b, "Side-b column");
  app->add_option("--outcome", a.columns.outcome,
                  "Outcome column: 1/0/0.5 or a, b, tie, model_a, model_b, \"tie (bothbad)\"");
  app->add_option("--count", a.columns.count, "Frequency-weight column (a count >= 0)");
  app->add_flag("--home-advantage", a.home, "Fit a home advantage h; column a is the home side");
  app->add_option("--neutral", a.columns.neutral, "Column marking neutral-ground rows (1 = neutral)");
  app->add_option("--l2", a.l2, "L2 penalty LAMBDA: (LAMBDA/2) sum s_i^2 over the items")->check(CLI::NonNegativeNumber);
  app->add_option("--prior", a.prior, "Gaussian priors: CSV with columns name,mean,sd");
  app->add_option("--pseudo", a.pseudo, "C virtual wins and losses per item against strength 0")
      ->check(CLI::NonNegativeNumber);
  if (!fitting) return;
  app->add_option("--reference", a.reference, "Report s_i - s_ITEM (with the SE of the difference)");
  app->add_option("--elo-anchor", a.elo_anchor, "ITEM=RATING: shift the Elo column so that ITEM has RATING");
  app->add_option("--format", a.format, "csv or json")->check(CLI::IsMember({"csv", "json"}));
  app->add_option("--out", a.out, "Output file (written to a temporary file, then renamed); default stdout");
  add_solver_options(app, a.solver);
}

btfit::BradleyTerryOptions bt_options(const ComparisonArgs& a) {
  btfit::BradleyTerryOptions o;
  o.home_advantage = a.home;
  o.l2 = a.l2;
  o.pseudo = a.pseudo;
  if (!a.prior.empty()) o.prior = btfit::load_prior(a.prior);
  o.reference = a.reference;
  o.solver = to_solver_options(a.solver);
  return o;
}

btfit::Comparisons load(ComparisonArgs& a) {
  if (a.home) {
    if (a.columns.a.empty()) throw btfit::UsageError("--home-advantage needs the --a/--b/--outcome layout (a = home side)");
    a.columns.home_flags = true;
  } else if (!a.columns.neutral.empty()) {
    throw btfit::UsageError("--neutral needs --home-advantage");
  }
  return btfit::load_comparisons(a.file, a.columns);
}

int run_fit(ComparisonArgs& a) {
  const auto t_load = Clock::now();
  btfit::BradleyTerryOptions options = bt_options(a);
  btfit::ScaleOptions scale;
  if (!a.elo_anchor.empty()) {
    const auto eq = a.elo_anchor.rfind('=');
    double rating = 0;
    if (eq == std::string::npos || eq == 0 || !(std::istringstream(a.elo_anchor.substr(eq + 1)) >> rating))
      throw btfit::UsageError("--elo-anchor expects ITEM=RATING, e.g. model-x=1200");
    scale.elo_anchor_item = a.elo_anchor.substr(0, eq);
    scale.elo_anchor_rating = rating;
  }
  const btfit::Comparisons data = load(a);
  btfit::RunInfo info;
  info.input = a.file;
  info.seconds_load = since(t_load);
  const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(data, options);
  if (fit.status == btfit::FitStatus::not_estimable) {
    std::cerr << "btfit: the estimate does not exist\n" << fit.diagnosis.message;
    std::cerr << btfit::summary_bradley_terry(fit, info);
    return kExitNotEstimable;
  }
  const auto t_out = Clock::now();
  std::string table = btfit::format_bradley_terry(fit, a.format == "json" ? btfit::OutputFormat::json
                                                                          : btfit::OutputFormat::csv,
                                                  info, scale);
  info.seconds_output = since(t_out);
  if (a.format == "json") {
    // Re-render with the measured formatting time in the summary.
    table = btfit::format_bradley_terry(fit, btfit::OutputFormat::json, info, scale);
  }
  btfit::write_output(a.out, table);
  info.seconds_output = since(t_out);
  std::cerr << btfit::summary_bradley_terry(fit, info);
  return fit.status == btfit::FitStatus::converged ? 0 : kExitNotConverged;
}

int run_check(ComparisonArgs& a) {
  const btfit::BradleyTerryOptions options = bt_options(a);
  const btfit::Comparisons data = load(a);
  const auto d = btfit::diagnose_bradley_terry(data, options);
  std::cout << d.message;
  std::cout << (d.estimable ? "A finite estimate exists.\n" : "No finite estimate exists with these options.\n");
  return d.estimable ? 0 : kExitNotEstimable;
}

struct LogisticArgs {
  std::string file;
  btfit::RowColumns columns;
  std::string features;
  std::string input_format = "auto";
  bool no_intercept = false;
  double l2 = 0.0;
  bool penalize_intercept = false;
  std::string prior;
  std::string format = "csv";
  std::string out;
  SolverArgs solver;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    if (item.empty()) throw btfit::UsageError("--features: empty name in the list");
    out.push_back(item);
  }
  return out;
}

int run_logistic(LogisticArgs& a) {
  const auto t_load = Clock::now();
  btfit::LogisticOptions options;
  options.intercept = !a.no_intercept;
  options.l2 = a.l2;
  options.penalize_intercept = a.penalize_intercept;
  if (!a.prior.empty()) options.prior = btfit::load_prior(a.prior);
  options.solver = to_solver_options(a.solver);
  btfit::validate(options);
  if (!a.features.empty()) a.columns.features = split_list(a.features);
  a.columns.format = a.input_format == "libsvm" ? btfit::RowFormat::libsvm
                     : a.input_format == "csv"  ? btfit::RowFormat::csv
                                                : btfit::RowFormat::automatic;
  const btfit::Rows data = btfit::load_rows(a.file, a.columns);
  btfit::RunInfo info;
  info.input = a.file;
  info.seconds_load = since(t_load);
  const btfit::LogisticFit fit = btfit::fit_logistic(data, options);
  if (fit.status == btfit::FitStatus::not_estimable) {
    std::cerr << "btfit: the estimate does not exist or is not unique\n" << fit.diagnosis;
    std::cerr << btfit::summary_logistic(fit, info);
    return kExitNotEstimable;
  }
  const auto t_out = Clock::now();
  const auto format = a.format == "json" ? btfit::OutputFormat::json : btfit::OutputFormat::csv;
  std::string table = btfit::format_logistic(fit, format, info);
  info.seconds_output = since(t_out);
  if (format == btfit::OutputFormat::json) table = btfit::format_logistic(fit, format, info);
  btfit::write_output(a.out, table);
  info.seconds_output = since(t_out);
  std::cerr << btfit::summary_logistic(fit, info);
  return fit.status == btfit::FitStatus::converged ? 0 : kExitNotConverged;
}

// --- simulate -------------------------------------------------------------------------

struct SimulateArgs {
  double items = 1000;
  double comparisons = 1e6;
  std::string popularity = "uniform";
  double ties = 0.0;
  double rows = 1e5;
  std::size_t features = 10;
  std::uint64_t seed = 1;
  std::string out;
  std::string truth;
};

std::string to_csv_comparisons(const btfit::Comparisons& data) {
  std::string out = data.outcome2.end() != std::find(data.outcome2.begin(), data.outcome2.end(), 1)
                        ? "a,b,outcome\n"
                        : "winner,loser\n";
  const bool with_outcome = out[0] == 'a';
  out.reserve(data.size() * 20);
  for (std::size_t k = 0; k < data.size(); ++k) {
    out += data.item_names[data.a[k]];
    out += ',';
    out += data.item_names[data.b[k]];
    if (with_outcome) out += data.outcome2[k] == 1 ? ",0.5" : ",1";
    out += '\n';
  }
  return out;
}

int run_simulate_comparisons(const SimulateArgs& a) {
  btfit::ComparisonSimulation spec;
  spec.n_items = static_cast<std::size_t>(a.items);
  spec.n_comparisons = static_cast<std::size_t>(a.comparisons);
  spec.popularity = a.popularity == "heavy" ? btfit::Popularity::heavy_tailed : btfit::Popularity::uniform;
  spec.tie_rate = a.ties;
  spec.seed = a.seed;
  std::vector<double> truth;
  const auto data = btfit::simulate_comparisons(spec, &truth);
  if (!a.truth.empty()) {
    std::string t = "item,strength\n";
    for (std::size_t i = 0; i < truth.size(); ++i) t += data.item_names[i] + "," + btfit::format_double(truth[i]) + "\n";
    btfit::write_output(a.truth, t);
  }
  btfit::write_output(a.out, to_csv_comparisons(data));
  return 0;
}

int run_simulate_rows(const SimulateArgs& a) {
  btfit::RowSimulation spec;
  spec.n_rows = static_cast<std::size_t>(a.rows);
  spec.n_features = a.features;
  spec.seed = a.seed;
  std::vector<double> truth;
  const auto rows = btfit::simulate_rows(spec, &truth);
  if (!a.truth.empty()) {
    std::string t = "term,estimate\n(intercept)," + btfit::format_double(truth[0]) + "\n";
    for (std::size_t j = 0; j < rows.n_features; ++j)
      t += rows.feature_names[j] + "," + btfit::format_double(truth[j + 1]) + "\n";
    btfit::write_output(a.truth, t);
  }
  std::string out;
  for (const auto& name : rows.feature_names) out += name + ",";
  out += "y\n";
  out.reserve(rows.n_rows * rows.n_features * 20);
  for (std::size_t i = 0; i < rows.n_rows; ++i) {
    for (std::size_t j = 0; j < rows.n_features; ++j) {
      out += btfit::format_double(rows.dense[i * rows.n_features + j]);
      out += ',';
    }
    out += rows.label[i] > 0.5 ? "1\n" : "0\n";
  }
  btfit::write_output(a.out, out);
  return 0;
}

// --- demo -----------------------------------------------------------------------------

int run_demo(std::size_t items, double comparisons, std::uint64_t seed, const SolverArgs& solver) {
  std::cout << "btfit demo: " << static_cast<std::size_t>(comparisons) << " simulated comparisons among " << items
            << " items with known strengths (N(0, 1), seed " << seed << ")\n\n";
  const auto t_sim = Clock::now();
  btfit::ComparisonSimulation spec;
  spec.n_items = items;
  spec.n_comparisons = static_cast<std::size_t>(comparisons);
  spec.seed = seed;
  std::vector<double> truth;
  const auto data = btfit::simulate_comparisons(spec, &truth);
  const double seconds_simulate = since(t_sim);
  btfit::BradleyTerryOptions options;
  options.solver = to_solver_options(solver);
  const auto fit = btfit::fit_bradley_terry(data, options);
  if (fit.status == btfit::FitStatus::not_estimable) {
    std::cerr << fit.diagnosis.message;
    return kExitNotEstimable;
  }
  std::vector<std::size_t> order(items);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto x, auto y) { return fit.strength[x] > fit.strength[y]; });
  std::printf("%4s  %-10s %10s %8s %10s %8s\n", "rank", "item", "strength", "se", "truth", "elo");
  for (std::size_t r = 0; r < 10 && r < items; ++r) {
    const auto i = order[r];
    std::printf("%4zu  %-10s %10.4f %8.4f %10.4f %8.1f\n", r + 1, fit.item_names[i].c_str(), fit.strength[i],
                fit.se[i], truth[i], btfit::kEloBase + btfit::kEloScale * fit.strength[i]);
  }
  double sq = 0, cover = 0, mx = 0, my = 0;
  for (std::size_t i = 0; i < items; ++i) {
    mx += fit.strength[i];
    my += truth[i];
  }
  mx /= items;
  my /= items;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < items; ++i) {
    const double d = fit.strength[i] - truth[i];
    sq += d * d;
    if (std::fabs(d) <= 1.959963984540054 * fit.se[i]) cover += 1;
    sxy += (fit.strength[i] - mx) * (truth[i] - my);
    sxx += (fit.strength[i] - mx) * (fit.strength[i] - mx);
    syy += (truth[i] - my) * (truth[i] - my);
  }
  std::printf("\nhow close to the truth (%zu items):\n", items);
  std::printf("  RMSE of strengths          %.4f (mean SE %.4f)\n", std::sqrt(sq / items),
              std::accumulate(fit.se.begin(), fit.se.end(), 0.0) / items);
  std::printf("  correlation with truth     %.5f\n", sxy / std::sqrt(sxx * syy));
  std::printf("  95%% Wald intervals cover   %.1f%% of the true strengths\n", 100.0 * cover / items);
  std::printf("\nfit: NLL %.6f, %d iterations of %s on %s, %zu passes, status %s\n", fit.nll, fit.iterations,
              fit.solver.c_str(), fit.device.c_str(), fit.passes, btfit::to_string(fit.status));
  std::printf("where the time went: simulate %.3f s; fit %.3f s = existence check and records %.3f s"
              " + optimizer %.3f s + standard errors (dense %zu x %zu) %.3f s\n",
              seconds_simulate, fit.seconds, fit.seconds_check, fit.seconds_optimize, items, items,
              fit.seconds_se);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"btfit " BTFIT_VERSION
               ": Bradley-Terry and logistic regression fits with standard errors, on the CPU or a GPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", BTFIT_VERSION);

  ComparisonArgs fit_args;
  auto* fit_cmd = app.add_subcommand("fit", "Rank items from pairwise comparisons (Bradley-Terry)");
  add_comparison_options(fit_cmd, fit_args, true);

  ComparisonArgs check_args;
  auto* check_cmd = app.add_subcommand("check", "Say whether a finite Bradley-Terry estimate exists, without fitting");
  add_comparison_options(check_cmd, check_args, false);

  LogisticArgs lg;
  auto* lg_cmd = app.add_subcommand("logistic", "Fit logistic regression to labeled rows (CSV/TSV or LIBSVM)");
  lg_cmd->add_option("FILE", lg.file, "CSV/TSV with a header, or LIBSVM (.svm/.libsvm/.svmlight); - for stdin")->required();
  lg_cmd->add_option("--label", lg.columns.label, "Label column (0/1), required for CSV");
  lg_cmd->add_option("--features", lg.features, "Comma-separated feature columns (default: all other columns)");
  lg_cmd->add_option("--weight", lg.columns.weight, "Frequency-weight column (>= 0)");
  lg_cmd->add_option("--input-format", lg.input_format, "auto, csv or libsvm")->check(CLI::IsMember({"auto", "csv", "libsvm"}));
  lg_cmd->add_flag("--no-intercept", lg.no_intercept, "Fit without an intercept");
  lg_cmd->add_option("--l2", lg.l2, "L2 penalty LAMBDA on the coefficients (not the intercept)")->check(CLI::NonNegativeNumber);
  lg_cmd->add_flag("--penalize-intercept", lg.penalize_intercept, "Include the intercept in the L2 penalty");
  lg_cmd->add_option("--prior", lg.prior, "Gaussian priors: CSV with columns name,mean,sd");
  lg_cmd->add_option("--format", lg.format, "csv or json")->check(CLI::IsMember({"csv", "json"}));
  lg_cmd->add_option("--out", lg.out, "Output file (written to a temporary file, then renamed); default stdout");
  add_solver_options(lg_cmd, lg.solver);

  SimulateArgs sim;
  auto* sim_cmd = app.add_subcommand("simulate", "Write seeded synthetic data with the true parameters");
  sim_cmd->require_subcommand(1);
  auto* sim_cmp = sim_cmd->add_subcommand("comparisons", "Bradley-Terry comparisons (winner,loser or a,b,outcome)");
  sim_cmp->add_option("--items", sim.items, "Number of items (default 1000)")->check(CLI::Range(2.0, 2e9));
  sim_cmp->add_option("--comparisons", sim.comparisons, "Number of comparisons (default 1e6)")->check(CLI::PositiveNumber);
  sim_cmp->add_option("--popularity", sim.popularity, "uniform or heavy (Zipf-like 1/rank)")
      ->check(CLI::IsMember({"uniform", "heavy"}));
  sim_cmp->add_option("--ties", sim.ties, "Fraction of comparisons recorded as ties (default 0)")->check(CLI::Range(0.0, 0.99));
  sim_cmp->add_option("--seed", sim.seed, "Random seed (default 1)");
  sim_cmp->add_option("--out", sim.out, "Output CSV (default stdout)");
  sim_cmp->add_option("--truth", sim.truth, "Write the true strengths here (item,strength)");
  auto* sim_rows = sim_cmd->add_subcommand("rows", "Labeled rows for logistic regression (dense normal features)");
  sim_rows->add_option("--rows", sim.rows, "Number of rows (default 1e5)")->check(CLI::PositiveNumber);
  sim_rows->add_option("--features", sim.features, "Number of features (default 10)")->check(CLI::PositiveNumber);
  sim_rows->add_option("--seed", sim.seed, "Random seed (default 1)");
  sim_rows->add_option("--out", sim.out, "Output CSV (default stdout)");
  sim_rows->add_option("--truth", sim.truth, "Write the true coefficients here (term,estimate)");

  std::size_t demo_items = 1000;
  double demo_comparisons = 1e6;
  std::uint64_t demo_seed = 1;
  SolverArgs demo_solver;
  auto* demo_cmd = app.add_subcommand("demo", "Simulate a million comparisons among 1,000 items, fit, and compare with the truth");
  demo_cmd->add_option("--items", demo_items, "Number of items (default 1000)")->check(CLI::Range(2, 3000));
  demo_cmd->add_option("--comparisons", demo_comparisons, "Number of comparisons (default 1e6)")->check(CLI::PositiveNumber);
  demo_cmd->add_option("--seed", demo_seed, "Random seed (default 1)");
  add_solver_options(demo_cmd, demo_solver);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*fit_cmd) return run_fit(fit_args);
    if (*check_cmd) return run_check(check_args);
    if (*lg_cmd) return run_logistic(lg);
    if (*sim_cmp) return run_simulate_comparisons(sim);
    if (*sim_rows) return run_simulate_rows(sim);
    if (*demo_cmd) return run_demo(demo_items, demo_comparisons, demo_seed, demo_solver);
  } catch (const btfit::InputError& e) {
    std::cerr << "btfit: error: " << e.what() << "\n";
    return kExitInput;
  } catch (const btfit::UsageError& e) {
    std::cerr << "btfit: usage error: " << e.what() << "\n";
    return kExitInput;
  } catch (const btfit::BackendError& e) {
    std::cerr << "btfit: device error: " << e.what() << "\n";
    return kExitInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "btfit: error: out of memory\n";
    return kExitInput;
  }
  return kExitInput;
}
