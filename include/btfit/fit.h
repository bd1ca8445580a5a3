// Fitting Bradley-Terry models and logistic regressions, with their diagnoses.
//
// A fit never throws for an algorithmic outcome: when no finite (or no unique) estimate
// exists the result has status not_estimable and a message naming the cause; when the
// optimizer stops early the estimates are returned with status not_converged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "btfit/data.h"
#include "btfit/options.h"

namespace btfit {

enum class FitStatus {
  converged,      // gradient norm <= tolerance * initial gradient norm
  not_converged,  // the optimizer stopped first (see optimizer_status)
  not_estimable,  // no finite or no unique estimate (see diagnosis)
};
const char* to_string(FitStatus status);

// A set of items, with its record against the items outside it (weighted counts).
struct ItemGroup {
  std::vector<std::uint32_t> items;
  double wins = 0.0;    // against items outside the group (ties count half)
  double losses = 0.0;  // against items outside the group (ties count half)
};

// Existence of the Bradley-Terry estimate (Zermelo 1929, Ford 1957): finite iff the graph
// with an edge loser -> winner per decided comparison (both ways for a tie) is strongly
// connected, unless penalties or priors cover the items.
struct BradleyTerryDiagnosis {
  bool estimable = false;           // a finite estimate exists with the options given
  bool strongly_connected = false;  // of the comparison graph (rows with w > 0)
  std::size_t n_strong_components = 0;
  std::size_t n_groups = 0;                // weakly connected groups
  std::vector<ItemGroup> never_lost;       // groups that never lost to the rest
  std::vector<ItemGroup> never_won;        // groups that never won against the rest
  std::vector<ItemGroup> groups;           // weakly connected groups, when more than one
  std::vector<std::uint32_t> unplayed;     // items with no comparison of positive weight
  std::string message;                     // the diagnosis in words, with the remedies
};

// What a bootstrap run did. Replicates whose estimate does not exist (the existence rules
// applied to the replicate's rows of positive weight) are dropped and counted, as are
// replicates whose optimizer stopped before converging.
struct BootstrapSummary {
  std::size_t requested = 0;              // B (0: no bootstrap ran)
  std::size_t used = 0;                   // replicates in the intervals
  std::size_t dropped_not_estimable = 0;  // no finite (or no unique) replicate estimate
  std::size_t dropped_not_converged = 0;  // the replicate's optimizer stopped early
  std::uint64_t seed = 0;
  std::size_t batch = 0;                  // replicates fitted together per pass (K)
  double level = 0.95;                    // level of the percentile intervals
  std::string method;                     // how the replicates were fitted
  std::string device;                     // which backend fitted them
  double seconds = 0.0;
};

struct BradleyTerryFit {
  FitStatus status = FitStatus::not_estimable;
  std::string optimizer_status;  // converged, max_iterations, no_progress, numeric_error
  BradleyTerryDiagnosis diagnosis;
  std::vector<std::string> item_names;  // n_items, in id order
  std::vector<double> strength;  // n_items; mean zero when unpenalized, or s_i - s_reference
  std::vector<double> se;        // n_items; NaN where not computed
  std::vector<double> wins, losses, ties, games;  // weighted records per item
  bool has_home = false;
  double home = 0.0;       // home advantage h (log-odds)
  double home_se = 0.0;    // NaN where not computed
  std::int64_t reference = -1;  // id of the reference item, or -1
  double nll = 0.0;        // sum of the negative log-likelihood
  double objective = 0.0;  // nll plus penalty and prior terms
  double gradient_norm = 0.0;
  int iterations = 0;
  std::size_t passes = 0;  // passes over the data
  std::size_t n_comparisons = 0;
  std::size_t n_rows_fitted = 0;  // rows the solver read: n_comparisons, or fewer when they
                                  // were aggregated into counts (btfit/aggregate.h)
  std::string solver;      // which solver ran
  std::string device;      // which backend ran
  std::string se_method;   // how SEs were computed, or why they were not
  std::vector<std::string> notes;  // warnings for the user (disconnected groups, ...)
  double seconds = 0.0;    // fit wall time (diagnosis, optimization, SEs)
  double seconds_check = 0.0;     // existence check and records
  double seconds_aggregate = 0.0; // deciding on aggregation and aggregating
  double seconds_optimize = 0.0;  // the optimizer
  double seconds_se = 0.0;        // standard errors
  bool firth = false;      // Firth's (Jeffreys-prior) penalized estimate
  // Bootstrap percentile intervals at bootstrap.level (empty when no bootstrap ran), on the
  // reported scale (mean-zero or relative to the reference when unpenalized).
  std::vector<double> boot_lo, boot_hi;  // n_items: strength
  std::vector<double> rank_lo, rank_hi;  // n_items: rank among the items, 1 = strongest
  double home_boot_lo = 0.0, home_boot_hi = 0.0;  // (home), with a home advantage
  BootstrapSummary bootstrap;
  // Robust SEs (options.robust): of s_i, or of s_i - s_reference with a reference; NaN where
  // not computed; empty when not asked for. robust_method says how, or why not.
  std::vector<double> robust_se;  // n_items
  double home_robust_se = std::numeric_limits<double>::quiet_NaN();
  std::string robust_method;
  // Quasi-variances (options.quasi_variances): n_items, NaN where not computed; empty when not
  // asked for. quasi_var_max_error: the largest relative error of a pair's SE from them.
  std::vector<double> quasi_var, quasi_se;
  double quasi_var_max_error = std::numeric_limits<double>::quiet_NaN();
  // Wald intervals at ci_level (options.wald_intervals; else empty): strength -+ z * SE, the
  // robust SE when options.robust is on.
  double ci_level = 0.95;
  std::vector<double> ci_lo, ci_hi;  // n_items
  double home_ci_lo = std::numeric_limits<double>::quiet_NaN();
  double home_ci_hi = std::numeric_limits<double>::quiet_NaN();
  // The covariance behind the intervals (options.keep_covariance, dense only; else empty):
  // P x P row-major over the items (mean-zero or as fitted, before any reference shift) and
  // then (home); covariance_kind is model, hc0 or cluster.
  std::vector<double> covariance;
  std::string covariance_kind;
};

struct LogisticFit {
  FitStatus status = FitStatus::not_estimable;
  std::string optimizer_status;
  std::string diagnosis;               // why the estimate does not exist, when it does not
  std::vector<std::string> problem_terms;  // the terms involved (separation, collinearity)
  std::vector<std::string> terms;  // "(intercept)" first when present, then the features
  std::vector<double> estimate;
  std::vector<double> se;          // NaN where not computed
  std::vector<double> z;           // estimate / se
  std::vector<double> p_value;     // two-sided normal
  double nll = 0.0;
  double objective = 0.0;
  double gradient_norm = 0.0;
  int iterations = 0;
  std::size_t passes = 0;
  std::size_t n_rows = 0;
  std::string solver;
  std::string device;
  std::string se_method;
  std::vector<std::string> notes;
  double seconds = 0.0;
  bool firth = false;                    // Firth's (Jeffreys-prior) penalized estimate
  std::vector<double> boot_lo, boot_hi;  // bootstrap percentile intervals (empty: none ran)
  BootstrapSummary bootstrap;
  std::vector<double> robust_se;   // options.robust: NaN where not computed; empty when not asked
  std::string robust_method;       // how robust_se was computed, or why not
  double ci_level = 0.95;
  std::vector<double> ci_lo, ci_hi;  // options.wald_intervals: estimate -+ z * SE (robust SE
                                     // with options.robust); else empty
  std::vector<double> covariance;  // options.keep_covariance: P x P row-major (terms' order)
  std::string covariance_kind;     // model, hc0 or cluster
};

// The existence check alone, in O(items + comparisons).
BradleyTerryDiagnosis diagnose_bradley_terry(const Comparisons& data,
                                             const BradleyTerryOptions& options);

BradleyTerryFit fit_bradley_terry(const Comparisons& data, const BradleyTerryOptions& options);

LogisticFit fit_logistic(const Rows& data, const LogisticOptions& options);

// Elo scale: 1000 + (400 / ln 10) * s.
constexpr double kEloScale = 173.71779276130072;  // 400 / ln(10)
constexpr double kEloBase = 1000.0;

}  // namespace btfit
