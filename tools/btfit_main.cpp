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
  bool deterministic = false;
};

void add_solver_options(CLI::App* app, SolverArgs& s) {
  app->add_option("--solver", s.solver,
                  "Optimizer: auto (the measured fastest, see the README), newton, lbfgs, newman (Bradley-Terry)")
      ->check(CLI::IsMember({"auto", "newton", "lbfgs", "newman"}));
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
  app->add_flag("--deterministic", s.deterministic,
                "The same bits on every run (on the GPU: sums onto items in a fixed order, not atomics)");
}

btfit::SolverOptions to_solver_options(const SolverArgs& s) {
  btfit::SolverOptions o;
  o.solver = s.solver == "lbfgs"    ? btfit::Solver::lbfgs
             : s.solver == "newton" ? btfit::Solver::newton
             : s.solver == "newman" ? btfit::Solver::newman
                                    : btfit::Solver::automatic;
  o.device = s.device == "cpu" ? btfit::Device::cpu : s.device == "cuda" ? btfit::Device::cuda : btfit::Device::automatic;
  o.threads = s.threads;
  o.tolerance = s.tolerance;
  o.max_iterations = s.max_iterations;
  o.dense_limit = s.dense_limit;
  o.standard_errors = !s.no_se;
  o.deterministic = s.deterministic;
  return o;
}

// --- uncertainty options of fit and logistic --------------------------------------------

struct UncertaintyArgs {
  bool robust = false;
  std::string cluster;
  bool quasi_variances = false;
  double ci = 0.95;
  CLI::Option* ci_option = nullptr;  // given: print the Wald intervals
  std::string scale = "strength";
  std::string save_model;
};

void add_uncertainty_options(CLI::App* app, UncertaintyArgs& u, bool bradley_terry) {
  app->add_flag("--robust", u.robust,
                "HC0 sandwich standard errors in a robust_se column (each unit of weight is one unit)");
  app->add_option("--cluster", u.cluster,
                  "Cluster column: cluster-robust standard errors in robust_se (scores summed per cluster, "
                  "statsmodels' small-sample correction)");
  u.ci_option = app->add_option("--ci", u.ci, "Add Wald intervals ci_lo, ci_hi at this level, in (0, 1), e.g. 0.95");
  app->add_option("--save-model", u.save_model,
                  "Save the fit for btfit predict: estimates and, up to the dense limit, their covariance");
  if (!bradley_terry) return;
  app->add_flag("--quasi-variances", u.quasi_variances,
                "quasi_var and quasi_se columns (Firth and de Menezes 2004, as R's qvcalc)");
  app->add_option("--scale", u.scale,
                  "Scale of strength, se, robust_se, ci_lo, ci_hi: strength (log-odds), elo or worth (exp)")
      ->check(CLI::IsMember({"strength", "elo", "worth"}));
}

btfit::RobustCovariance robust_kind(const UncertaintyArgs& u) {
  if (!u.cluster.empty()) return btfit::RobustCovariance::cluster;
  return u.robust ? btfit::RobustCovariance::hc0 : btfit::RobustCovariance::none;
}

btfit::StrengthScale strength_scale(const UncertaintyArgs& u) {
  return u.scale == "elo" ? btfit::StrengthScale::elo
         : u.scale == "worth" ? btfit::StrengthScale::worth
                              : btfit::StrengthScale::strength;
}

void save_model_if_asked(const UncertaintyArgs& u, const btfit::SavedModel& model) {
  if (u.save_model.empty()) return;
  btfit::save_model(u.save_model, model);
  if (model.covariance.empty())
    std::cerr << "btfit: note: the saved model has no covariance (standard errors were skipped or above the dense "
                 "limit), so predictions from it come without intervals\n";
}

// --- Firth, the bootstrap and standard errors at scale -----------------------------------

struct ResamplingArgs {
  bool firth = false;
  std::size_t bootstrap = 0;
  std::uint64_t seed = 1;
  std::size_t bootstrap_batch = 0;
  std::size_t se_top = 0;
  std::string se_items;
  std::size_t se_probes = 0;
};

void add_firth_option(CLI::App* app, bool& firth) {
  app->add_flag("--firth", firth,
                "Firth's bias-reduced estimate: maximize the likelihood times the Jeffreys prior (finite for an "
                "undefeated item or separated rows); SEs from the inverse Fisher information (dense only)");
}

void add_resampling_options(CLI::App* app, ResamplingArgs& r, bool bradley_terry) {
  app->add_option("--bootstrap", r.bootstrap,
                  "B Poisson-weighted bootstrap replicates: percentile intervals boot_lo, boot_hi" +
                      std::string(bradley_terry ? " and rank intervals rank_lo, rank_hi" : "") + " at the --ci level")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100000000}));
  app->add_option("--seed", r.seed, "Seed of the bootstrap replicates (default 1)");
  app->add_option("--bootstrap-batch", r.bootstrap_batch,
                  "Replicates fitted together per pass over the data (default 0 = automatic, up to 32)");
  if (!bradley_terry) return;
  app->add_option("--se-top", r.se_top,
                  "Above the dense limit: exact SEs of the N strongest items by conjugate gradients");
  app->add_option("--se-items", r.se_items,
                  "Above the dense limit: exact SEs of the items listed in this CSV (column item)");
  app->add_option("--se-probes", r.se_probes,
                  "Above the dense limit: stochastic SEs of every item from M Rademacher probes (Bekas et al. 2007)");
}

void apply_resampling(const ResamplingArgs& r, btfit::BootstrapOptions* bootstrap) {
  bootstrap->replicates = r.bootstrap;
  bootstrap->seed = r.seed;
  bootstrap->batch = r.bootstrap_batch;
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
  std::string aggregate = "auto";
  std::string format = "csv";
  std::string out;
  std::string input_format = "auto";
  bool quiet = false;  // set from --quiet (main)
  SolverArgs solver;
  UncertaintyArgs uncertainty;
  ResamplingArgs resampling;
};

constexpr const char* kComparisonFileHelp =
    "CSV/TSV with a header, JSON lines (.jsonl/.ndjson) or a btfit cache (.btf, from convert); gzip or zstd "
    "compressed too; - for standard input";

void add_input_format_option(CLI::App* app, std::string& input_format) {
  app->add_option("--input-format", input_format,
                  "auto (a cache by its magic bytes, JSON lines by the extension .jsonl/.ndjson, else CSV), csv or jsonl")
      ->check(CLI::IsMember({"auto", "csv", "jsonl"}));
}

void add_comparison_options(CLI::App* app, ComparisonArgs& a, bool fitting) {
  app->add_option("FILE", a.file, kComparisonFileHelp)->required();
  add_input_format_option(app, a.input_format);
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
  add_firth_option(app, a.resampling.firth);
  if (!fitting) return;
  app->add_option("--reference", a.reference, "Report s_i - s_ITEM (with the SE of the difference)");
  app->add_option("--elo-anchor", a.elo_anchor, "ITEM=RATING: shift the Elo column so that ITEM has RATING");
  app->add_option("--aggregate", a.aggregate,
                  "Collapse repeated comparisons into counts before fitting (exact): auto (when it pays), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app->add_option("--format", a.format, "csv or json")->check(CLI::IsMember({"csv", "json"}));
  app->add_option("--out", a.out, "Output file (written to a temporary file, then renamed); default stdout");
  add_solver_options(app, a.solver);
  add_uncertainty_options(app, a.uncertainty, true);
  add_resampling_options(app, a.resampling, true);
}

btfit::BradleyTerryOptions bt_options(const ComparisonArgs& a) {
  btfit::BradleyTerryOptions o;
  o.home_advantage = a.home;
  o.l2 = a.l2;
  o.pseudo = a.pseudo;
  if (!a.prior.empty()) o.prior = btfit::load_prior(a.prior);
  o.reference = a.reference;
  o.aggregate = a.aggregate == "on" ? btfit::Aggregation::on : a.aggregate == "off" ? btfit::Aggregation::off
                                                                                 : btfit::Aggregation::automatic;
  o.solver = to_solver_options(a.solver);
  o.firth = a.resampling.firth;
  apply_resampling(a.resampling, &o.bootstrap);
  o.large_scale_se.top = a.resampling.se_top;
  o.large_scale_se.probes = a.resampling.se_probes;
  o.large_scale_se.seed = a.resampling.seed;
  if (!a.resampling.se_items.empty()) o.large_scale_se.items = btfit::load_item_list(a.resampling.se_items);
  return o;
}

btfit::ComparisonFormat comparison_format(const std::string& input_format) {
  return input_format == "csv"     ? btfit::ComparisonFormat::csv
         : input_format == "jsonl" ? btfit::ComparisonFormat::jsonl
                                   : btfit::ComparisonFormat::automatic;
}

// The column options that need one another, and how the file is read.
void prepare_columns(btfit::ComparisonColumns& columns, bool home, const std::string& input_format, int threads,
                     bool quiet) {
  if (home) {
    if (columns.a.empty()) throw btfit::UsageError("--home-advantage needs the --a/--b/--outcome layout (a = home side)");
    columns.home_flags = true;
  } else if (!columns.neutral.empty()) {
    throw btfit::UsageError("--neutral needs --home-advantage");
  }
  columns.format = comparison_format(input_format);
  columns.load.threads = threads;
  columns.load.progress = !quiet;
}

btfit::Comparisons load(ComparisonArgs& a) {
  prepare_columns(a.columns, a.home, a.input_format, a.solver.threads, a.quiet);
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
  options.robust = robust_kind(a.uncertainty);
  options.quasi_variances = a.uncertainty.quasi_variances;
  options.ci_level = a.uncertainty.ci;
  options.wald_intervals = a.uncertainty.ci_option->count() > 0;
  options.keep_covariance = !a.uncertainty.save_model.empty();
  btfit::wald_z(options.ci_level);  // a bad --ci fails before loading
  a.columns.cluster = a.uncertainty.cluster;
  scale.scale = strength_scale(a.uncertainty);
  const btfit::Comparisons data = load(a);
  btfit::RunInfo info;
  info.input = a.file;
  info.seconds_load = since(t_load);
  const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(data, options);
  if (fit.status == btfit::FitStatus::not_estimable) {
    std::cerr << "btfit: the estimate does not exist\n" << fit.diagnosis.message;
    if (!a.quiet) std::cerr << btfit::summary_bradley_terry(fit, info);
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
  save_model_if_asked(a.uncertainty, btfit::saved_model(fit));
  info.seconds_output = since(t_out);
  if (!a.quiet) std::cerr << btfit::summary_bradley_terry(fit, info);
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
  bool quiet = false;  // set from --quiet (main)
  SolverArgs solver;
  UncertaintyArgs uncertainty;
  ResamplingArgs resampling;
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
  options.robust = robust_kind(a.uncertainty);
  options.ci_level = a.uncertainty.ci;
  options.wald_intervals = a.uncertainty.ci_option->count() > 0;
  options.keep_covariance = !a.uncertainty.save_model.empty();
  btfit::wald_z(options.ci_level);  // a bad --ci fails before loading
  a.columns.cluster = a.uncertainty.cluster;
  options.firth = a.resampling.firth;
  apply_resampling(a.resampling, &options.bootstrap);
  btfit::validate(options);
  if (!a.features.empty()) a.columns.features = split_list(a.features);
  a.columns.format = a.input_format == "libsvm" ? btfit::RowFormat::libsvm
                     : a.input_format == "csv"  ? btfit::RowFormat::csv
                                                : btfit::RowFormat::automatic;
  a.columns.load.threads = a.solver.threads;
  a.columns.load.progress = !a.quiet;
  const btfit::Rows data = btfit::load_rows(a.file, a.columns);
  btfit::RunInfo info;
  info.input = a.file;
  info.seconds_load = since(t_load);
  const btfit::LogisticFit fit = btfit::fit_logistic(data, options);
  if (fit.status == btfit::FitStatus::not_estimable) {
    std::cerr << "btfit: the estimate does not exist or is not unique\n" << fit.diagnosis;
    if (!a.quiet) std::cerr << btfit::summary_logistic(fit, info);
    return kExitNotEstimable;
  }
  const auto t_out = Clock::now();
  const auto format = a.format == "json" ? btfit::OutputFormat::json : btfit::OutputFormat::csv;
  std::string table = btfit::format_logistic(fit, format, info);
  info.seconds_output = since(t_out);
  if (format == btfit::OutputFormat::json) table = btfit::format_logistic(fit, format, info);
  btfit::write_output(a.out, table);
  save_model_if_asked(a.uncertainty, btfit::saved_model(fit));
  info.seconds_output = since(t_out);
  if (!a.quiet) std::cerr << btfit::summary_logistic(fit, info);
  return fit.status == btfit::FitStatus::converged ? 0 : kExitNotConverged;
}

// --- convert --------------------------------------------------------------------------

struct ConvertArgs {
  std::string file;
  btfit::ComparisonColumns columns;
  bool home = false;
  std::string input_format = "auto";
  std::string out;
  int threads = 0;
  bool quiet = false;  // set from --quiet (main)
};

void add_convert_options(CLI::App* app, ConvertArgs& a) {
  app->add_option("FILE", a.file, kComparisonFileHelp)->required();
  app->add_option("--out", a.out, "The cache file to write (e.g. FILE.btf; written to a temporary file, then renamed)")
      ->required();
  add_input_format_option(app, a.input_format);
  app->add_option("--winner", a.columns.winner, "Winner column (default: winner)");
  app->add_option("--loser", a.columns.loser, "Loser column (default: loser)");
  app->add_option("--a", a.columns.a, "Side-a column (with --b and --outcome)");
  app->add_option("--b", a.columns.b, "Side-b column");
  app->add_option("--outcome", a.columns.outcome,
                  "Outcome column: 1/0/0.5 or a, b, tie, model_a, model_b, \"tie (bothbad)\"");
  app->add_option("--count", a.columns.count, "Frequency-weight column (a count >= 0)");
  app->add_flag("--home-advantage", a.home, "Record home flags (column a is the home side) for fit --home-advantage");
  app->add_option("--neutral", a.columns.neutral, "Column marking neutral-ground rows (1 = neutral)");
  app->add_option("--cluster", a.columns.cluster, "Cluster column, for fit --cluster");
  app->add_option("--threads", a.threads, "CPU threads for parsing (0 = all available)")->check(CLI::NonNegativeNumber);
}

int run_convert(ConvertArgs& a) {
  const auto start = Clock::now();
  prepare_columns(a.columns, a.home, a.input_format, a.threads, a.quiet);
  const btfit::Comparisons data = btfit::load_comparisons(a.file, a.columns);
  const double seconds_load = since(start);
  btfit::write_comparison_cache(data, a.file, a.columns, a.out);
  if (!a.quiet) {
    std::fprintf(stderr, "btfit: wrote %zu comparisons among %zu items to %s (read in %.3f s, written in %.3f s)\n",
                 data.size(), data.n_items(), a.out.c_str(), seconds_load, since(start) - seconds_load);
  }
  return 0;
}

// --- predict --------------------------------------------------------------------------

struct PredictArgs {
  std::string model;
  std::string pairs;
  std::string rows;
  btfit::PairColumns columns;
  double ci = 0.95;
  std::string out;
};

int run_predict(const PredictArgs& a) {
  if (a.pairs.empty() == a.rows.empty())
    throw btfit::UsageError("predict needs one of --pairs FILE (a Bradley-Terry model) or --rows FILE (a logistic model)");
  btfit::wald_z(a.ci);
  const btfit::SavedModel model = btfit::load_model(a.model);
  const std::string table =
      a.pairs.empty() ? btfit::format_row_predictions(btfit::predict_rows_file(model, a.rows, a.ci))
                      : btfit::format_pair_predictions(btfit::predict_pairs_file(model, a.pairs, a.columns, a.ci));
  btfit::write_output(a.out, table);
  if (model.covariance.empty())
    std::cerr << "btfit: note: " << a.model << " holds no covariance, so p_lo and p_hi are empty\n";
  return 0;
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
  add_uncertainty_options(lg_cmd, lg.uncertainty, false);
  add_firth_option(lg_cmd, lg.resampling.firth);
  add_resampling_options(lg_cmd, lg.resampling, false);

  ConvertArgs convert_args;
  auto* convert_cmd = app.add_subcommand(
      "convert", "Write comparisons to a binary cache (FILE.btf) that fit and check read in a fraction of the time");
  add_convert_options(convert_cmd, convert_args);

  PredictArgs pr;
  auto* predict_cmd = app.add_subcommand("predict", "Probabilities with Wald intervals from a model saved by --save-model");
  predict_cmd->add_option("MODEL", pr.model, "Model file written by fit or logistic --save-model")->required();
  predict_cmd->add_option("--pairs", pr.pairs, "Bradley-Terry: CSV/TSV of pairs; output a,b,p,p_lo,p_hi (p: a beats b)");
  predict_cmd->add_option("--rows", pr.rows, "Logistic: CSV/TSV with the feature columns, or LIBSVM; output p,p_lo,p_hi");
  predict_cmd->add_option("--a", pr.columns.a, "Column of item a in --pairs (default: a)");
  predict_cmd->add_option("--b", pr.columns.b, "Column of item b in --pairs (default: b)");
  predict_cmd->add_flag("--home", pr.columns.home, "a plays at home (the model's home advantage is added)");
  predict_cmd->add_option("--neutral", pr.columns.neutral, "With --home: column marking neutral-ground rows (1 = neutral)");
  predict_cmd->add_option("--ci", pr.ci, "Level of the intervals, in (0, 1) (default 0.95)");
  predict_cmd->add_option("--out", pr.out, "Output file (written to a temporary file, then renamed); default stdout");

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

  // --quiet on every command: no summary and no progress on stderr (errors still go there).
  bool quiet = false;
  std::vector<CLI::App*> commands = app.get_subcommands({});
  for (std::size_t k = 0; k < commands.size(); ++k) {
    for (CLI::App* sub : commands[k]->get_subcommands({})) commands.push_back(sub);
    commands[k]->add_flag("--quiet", quiet, "No summary or progress on stderr");
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  fit_args.quiet = check_args.quiet = lg.quiet = convert_args.quiet = quiet;
  try {
    if (*fit_cmd) return run_fit(fit_args);
    if (*check_cmd) return run_check(check_args);
    if (*lg_cmd) return run_logistic(lg);
    if (*convert_cmd) return run_convert(convert_args);
    if (*predict_cmd) return run_predict(pr);
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
