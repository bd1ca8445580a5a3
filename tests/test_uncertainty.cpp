// Uncertainty beyond the model-based SEs: robust (HC0) and cluster-robust SEs against
// statsmodels and R's sandwich, quasi-variances against R's qvcalc, Wald intervals and output
// scales against closed forms and finite differences, saved models and predictions.
// The reference files and the commands that made them: tests/data/README.md,
// tests/reference/make_reference_uncertainty.{py,R}.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "btfit/btfit.h"
#include "test_helpers.h"

namespace btfit {
namespace {

using testing::data_path;
using testing::read_reference;
using testing::relative_error;

constexpr double kReferenceTolerance = 1e-6;  // relative, as the issue asks

double sigmoid(double t) {
  return 1.0 / (1.0 + std::exp(-t));
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& name) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  ADD_FAILURE() << "no " << name;
  return 0;
}

BradleyTerryOptions tight_bradley_terry() {
  BradleyTerryOptions options;
  options.solver.tolerance = 1e-12;
  return options;
}

LogisticOptions tight_logistic() {
  LogisticOptions options;
  options.solver.tolerance = 1e-12;
  return options;
}

Comparisons baseball(const std::string& file = "baseball.csv", const std::string& cluster = "") {
  ComparisonColumns columns;
  columns.count = "count";
  columns.cluster = cluster;
  return load_comparisons(data_path(file), columns);
}

Comparisons baseball_games() {
  ComparisonColumns columns;
  columns.a = "home";
  columns.b = "away";
  columns.outcome = "outcome";
  columns.home_flags = true;
  return load_comparisons(data_path("baseball_games.csv"), columns);
}

Rows pima(const std::string& file, const std::string& weight, const std::string& cluster) {
  RowColumns columns;
  columns.label = "y";
  columns.features = {"npreg", "glu", "bp", "skin", "bmi", "ped", "age"};
  columns.weight = weight;
  columns.cluster = cluster;
  return load_rows(data_path(file), columns);
}

// Every comparison of weight w repeated w times with weight 1 (w integer), clusters kept.
Comparisons expand(const Comparisons& data) {
  Comparisons out;
  out.item_names = data.item_names;
  for (std::size_t k = 0; k < data.size(); ++k) {
    for (int copy = 0; copy < static_cast<int>(data.w(k)); ++copy) {
      out.add(data.a[k], data.b[k], data.y(k), 1.0, data.has_home_flags() && data.at_home[k] != 0);
      if (!data.cluster.empty()) out.cluster.push_back(data.cluster[k]);
    }
  }
  return out;
}

void expect_robust_matches(const BradleyTerryFit& fit, const std::string& reference_file) {
  ASSERT_EQ(fit.status, FitStatus::converged);
  const auto ref = read_reference(reference_file);
  ASSERT_FALSE(ref.empty()) << reference_file;
  for (const auto& [name, row] : ref) {
    if (name == "(home)") {
      EXPECT_LT(relative_error(fit.home, row.estimate), kReferenceTolerance);
      EXPECT_LT(relative_error(fit.home_robust_se, row.se), kReferenceTolerance) << "(home)";
      continue;
    }
    const std::size_t i = index_of(fit.item_names, name);
    EXPECT_LT(relative_error(fit.strength[i], row.estimate), kReferenceTolerance) << name;
    EXPECT_LT(relative_error(fit.robust_se[i], row.se), kReferenceTolerance)
        << name << ": " << fit.robust_se[i] << " vs " << row.se;
  }
}

void expect_robust_matches(const LogisticFit& fit, const std::string& reference_file) {
  ASSERT_EQ(fit.status, FitStatus::converged);
  const auto ref = read_reference(reference_file);
  ASSERT_EQ(ref.size(), fit.terms.size()) << reference_file;
  for (const auto& [name, row] : ref) {
    const std::size_t j = index_of(fit.terms, name);
    EXPECT_LT(relative_error(fit.estimate[j], row.estimate), kReferenceTolerance) << name;
    EXPECT_LT(relative_error(fit.robust_se[j], row.se), kReferenceTolerance)
        << name << ": " << fit.robust_se[j] << " vs " << row.se;
  }
}

// ---- robust and cluster-robust standard errors ---------------------------------------------

TEST(RobustSe, BradleyTerryHc0MatchesStatsmodelsAndSandwich) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.robust = RobustCovariance::hc0;
  const BradleyTerryFit fit = fit_bradley_terry(baseball(), options);
  expect_robust_matches(fit, "ref_robust_bt_baseball.csv");
  EXPECT_NE(fit.robust_method.find("HC0"), std::string::npos) << fit.robust_method;
  // The model-based SEs are untouched.
  const auto model = read_reference("ref_bt_baseball.csv");
  EXPECT_LT(relative_error(fit.se[index_of(fit.item_names, "Boston")], model.at("Boston").se), 1e-6);
}

TEST(RobustSe, BradleyTerryWithHomeAdvantageHc0) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.home_advantage = true;
  options.robust = RobustCovariance::hc0;
  expect_robust_matches(fit_bradley_terry(baseball_games(), options), "ref_robust_bt_baseball_home.csv");
}

TEST(RobustSe, BradleyTerryClusterMatchesStatsmodelsAndSandwich) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.robust = RobustCovariance::cluster;
  const Comparisons data = baseball("baseball_cluster.csv", "cluster");
  ASSERT_EQ(data.cluster.size(), data.size());
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  expect_robust_matches(fit, "ref_cluster_bt_baseball.csv");
  EXPECT_NE(fit.robust_method.find("17 clusters, N = 273 units, K = 6"), std::string::npos)
      << fit.robust_method;
}

TEST(RobustSe, FrequencyWeightsEqualExpandedRows) {
  for (RobustCovariance kind : {RobustCovariance::hc0, RobustCovariance::cluster}) {
    BradleyTerryOptions options = tight_bradley_terry();
    options.robust = kind;
    options.aggregate = Aggregation::off;
    const Comparisons weighted = baseball("baseball_cluster.csv", "cluster");
    const Comparisons expanded = expand(weighted);
    ASSERT_EQ(expanded.size(), 273u);
    const BradleyTerryFit a = fit_bradley_terry(weighted, options);
    const BradleyTerryFit b = fit_bradley_terry(expanded, options);
    for (std::size_t i = 0; i < a.item_names.size(); ++i)
      EXPECT_LT(relative_error(a.robust_se[i], b.robust_se[i]), 1e-9) << a.item_names[i];
  }
}

TEST(RobustSe, ReferenceItemGivesTheSeOfTheDifference) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.robust = RobustCovariance::hc0;
  options.keep_covariance = true;
  const BradleyTerryFit full = fit_bradley_terry(baseball(), options);
  ASSERT_EQ(full.covariance_kind, "hc0");
  const std::size_t n = full.item_names.size();
  ASSERT_EQ(full.covariance.size(), n * n);
  options.reference = "Baltimore";
  const BradleyTerryFit ref = fit_bradley_terry(baseball(), options);
  const std::size_t r = index_of(ref.item_names, "Baltimore");
  EXPECT_EQ(ref.robust_se[r], 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (i == r) continue;
    const double var =
        full.covariance[i * n + i] + full.covariance[r * n + r] - 2.0 * full.covariance[i * n + r];
    EXPECT_LT(relative_error(ref.robust_se[i], std::sqrt(var)), 1e-10);
    // the robust diagonal of the full fit gives its robust_se
    EXPECT_LT(relative_error(full.robust_se[i], std::sqrt(full.covariance[i * n + i])), 1e-12);
  }
}

TEST(RobustSe, LogisticHc0AndClusterMatchStatsmodelsAndSandwich) {
  LogisticOptions options = tight_logistic();
  options.robust = RobustCovariance::hc0;
  expect_robust_matches(fit_logistic(pima("pima_cluster.csv", "", ""), options),
                        "ref_robust_logistic_pima.csv");
  expect_robust_matches(fit_logistic(pima("pima_cluster.csv", "w", ""), options),
                        "ref_robust_logistic_pima_weighted.csv");
  options.robust = RobustCovariance::cluster;
  expect_robust_matches(fit_logistic(pima("pima_cluster.csv", "", "cluster"), options),
                        "ref_cluster_logistic_pima.csv");
  const LogisticFit weighted = fit_logistic(pima("pima_cluster.csv", "w", "cluster"), options);
  expect_robust_matches(weighted, "ref_cluster_logistic_pima_weighted.csv");
  EXPECT_NE(weighted.robust_method.find("N = 399 units, K = 8"), std::string::npos) << weighted.robust_method;
}

TEST(RobustSe, SparseRowsGiveTheDenseAnswer) {
  const Rows dense = pima("pima_cluster.csv", "w", "cluster");
  Rows sparse = dense;
  sparse.sparse = true;
  sparse.dense.clear();
  sparse.row_ptr.assign(1, 0);
  for (std::size_t i = 0; i < dense.n_rows; ++i) {
    for (std::size_t j = 0; j < dense.n_features; ++j) {
      const double v = dense.dense[i * dense.n_features + j];
      if (v == 0.0) continue;
      sparse.col.push_back(static_cast<std::uint32_t>(j));
      sparse.val.push_back(v);
    }
    sparse.row_ptr.push_back(sparse.col.size());
  }
  for (RobustCovariance kind : {RobustCovariance::hc0, RobustCovariance::cluster}) {
    LogisticOptions options = tight_logistic();
    options.robust = kind;
    const LogisticFit a = fit_logistic(dense, options);
    const LogisticFit b = fit_logistic(sparse, options);
    for (std::size_t j = 0; j < a.terms.size(); ++j)
      EXPECT_LT(relative_error(a.robust_se[j], b.robust_se[j]), 1e-9) << a.terms[j];
  }
}

TEST(RobustSe, ClusterWithoutIdsOrWithOneClusterIsRefusedClearly) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.robust = RobustCovariance::cluster;
  EXPECT_THROW(fit_bradley_terry(baseball(), options), UsageError);
  Comparisons one = baseball();
  one.cluster.assign(one.size(), 0);
  const BradleyTerryFit fit = fit_bradley_terry(one, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  EXPECT_TRUE(std::isnan(fit.robust_se[0]));
  EXPECT_NE(fit.robust_method.find("at least 2 clusters"), std::string::npos) << fit.robust_method;
}

TEST(RobustSe, AboveTheDenseLimitSaysSo) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.robust = RobustCovariance::hc0;
  options.quasi_variances = true;
  options.wald_intervals = true;
  options.solver.dense_limit = 3;
  const BradleyTerryFit fit = fit_bradley_terry(baseball(), options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  for (std::size_t i = 0; i < fit.item_names.size(); ++i) {
    EXPECT_TRUE(std::isnan(fit.robust_se[i]));
    EXPECT_TRUE(std::isnan(fit.quasi_var[i]));
    EXPECT_TRUE(std::isnan(fit.ci_lo[i]));
  }
  bool robust_note = false, quasi_note = false;
  for (const auto& note : fit.notes) {
    robust_note = robust_note || note.find("robust standard errors not computed") != std::string::npos;
    quasi_note = quasi_note || note.find("quasi-variances not computed") != std::string::npos;
  }
  EXPECT_TRUE(robust_note && quasi_note);
}

// ---- quasi-variances ------------------------------------------------------------------------

TEST(QuasiVariances, BaseballMatchesQvcalc) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.quasi_variances = true;
  const BradleyTerryFit fit = fit_bradley_terry(baseball(), options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  const auto ref = read_reference("ref_qv_baseball.csv");  // item, quasi_var, quasi_se
  ASSERT_EQ(ref.size(), 7u);
  for (const auto& [name, row] : ref) {
    const std::size_t i = index_of(fit.item_names, name);
    EXPECT_LT(relative_error(fit.quasi_var[i], row.estimate), kReferenceTolerance)
        << name << ": " << fit.quasi_var[i] << " vs " << row.estimate;
    EXPECT_LT(relative_error(fit.quasi_se[i], row.se), kReferenceTolerance) << name;
  }
  EXPECT_GT(fit.quasi_var_max_error, 0.0);
  EXPECT_LT(fit.quasi_var_max_error, 0.05);
}

TEST(QuasiVariances, ReferenceItemDoesNotChangeThem) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.quasi_variances = true;
  const BradleyTerryFit a = fit_bradley_terry(baseball(), options);
  options.reference = "Toronto";
  const BradleyTerryFit b = fit_bradley_terry(baseball(), options);
  for (std::size_t i = 0; i < a.quasi_var.size(); ++i)
    EXPECT_LT(relative_error(a.quasi_var[i], b.quasi_var[i]), 1e-9);
}

TEST(QuasiVariances, IndependentEstimatesGiveTheirVariancesExactly) {
  // Var(s_i - s_j) = d_i + d_j for a diagonal covariance: q = d with zero error.
  const std::vector<double> d = {0.3, 0.05, 1.2, 0.7, 0.01};
  std::vector<double> cov(d.size() * d.size(), 0.0);
  for (std::size_t i = 0; i < d.size(); ++i) cov[i * d.size() + i] = d[i];
  const QuasiVariances qv = quasi_variances(cov, d.size());
  ASSERT_TRUE(qv.ok) << qv.message;
  for (std::size_t i = 0; i < d.size(); ++i) EXPECT_LT(relative_error(qv.quasi_var[i], d[i]), 1e-12);
  EXPECT_LT(qv.max_relative_error, 1e-12);
  EXPECT_FALSE(quasi_variances({1.0, 0.0, 0.0, 1.0}, 2).ok);  // qvcalc needs 3 items
}

// ---- Wald intervals and scales -------------------------------------------------------------

TEST(WaldIntervals, NormalQuantilesAreExact) {
  EXPECT_NEAR(wald_z(0.95), 1.959963984540054, 1e-15);
  EXPECT_NEAR(wald_z(0.90), 1.6448536269514722, 1e-15);
  EXPECT_NEAR(wald_z(0.99), 2.5758293035489004, 1e-14);
  EXPECT_NEAR(wald_z(0.5), 0.6744897501960817, 1e-15);
  // Lower-tail probabilities are exact in double; the upper tail follows by symmetry.
  for (double x : {-8.0, -5.0, -3.0, -1.0, -0.1, 0.0}) {
    const double p = 0.5 * std::erfc(-x / std::sqrt(2.0));
    EXPECT_NEAR(normal_quantile(p), x, 1e-13 * std::max(1.0, std::fabs(x))) << x;
  }
  for (double p : {0.03125, 0.25, 0.4375, 0.0009765625})  // 1 - p exact
    EXPECT_EQ(normal_quantile(1.0 - p), -normal_quantile(p)) << p;
  EXPECT_THROW(wald_z(1.0), UsageError);
  EXPECT_THROW(wald_z(0.0), UsageError);
  EXPECT_THROW(wald_z(std::nan("")), UsageError);
}

TEST(WaldIntervals, EstimatePlusMinusZTimesSe) {
  for (double level : {0.95, 0.8}) {
    BradleyTerryOptions options = tight_bradley_terry();
    options.home_advantage = true;
    options.ci_level = level;
    options.wald_intervals = true;
    const BradleyTerryFit fit = fit_bradley_terry(baseball_games(), options);
    const double z = wald_z(level);
    for (std::size_t i = 0; i < fit.item_names.size(); ++i) {
      EXPECT_DOUBLE_EQ(fit.ci_lo[i], fit.strength[i] - z * fit.se[i]);
      EXPECT_DOUBLE_EQ(fit.ci_hi[i], fit.strength[i] + z * fit.se[i]);
    }
    EXPECT_DOUBLE_EQ(fit.home_ci_lo, fit.home - z * fit.home_se);
    LogisticOptions lo = tight_logistic();
    lo.ci_level = level;
    lo.wald_intervals = true;
    lo.robust = RobustCovariance::hc0;  // intervals then use the robust SE
    const LogisticFit lf = fit_logistic(pima("pima_cluster.csv", "", ""), lo);
    for (std::size_t j = 0; j < lf.terms.size(); ++j) {
      EXPECT_DOUBLE_EQ(lf.ci_lo[j], lf.estimate[j] - z * lf.robust_se[j]);
      EXPECT_DOUBLE_EQ(lf.ci_hi[j], lf.estimate[j] + z * lf.robust_se[j]);
    }
  }
}

TEST(Scales, EloIsLinearAndWorthUsesTheDeltaMethod) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.home_advantage = true;
  options.robust = RobustCovariance::hc0;
  options.quasi_variances = true;
  options.wald_intervals = true;
  const BradleyTerryFit fit = fit_bradley_terry(baseball_games(), options);
  const double offset = 1234.5;
  for (std::size_t i = 0; i < fit.item_names.size(); ++i) {
    const ScaledEstimate s = scaled_item(fit, i, StrengthScale::strength, offset);
    EXPECT_EQ(s.strength, fit.strength[i]);
    EXPECT_EQ(s.ci_lo, fit.ci_lo[i]);
    const ScaledEstimate elo = scaled_item(fit, i, StrengthScale::elo, offset);
    EXPECT_NEAR(elo.strength, offset + kEloScale * fit.strength[i], 1e-9);
    EXPECT_NEAR(elo.se, kEloScale * fit.se[i], 1e-12);
    EXPECT_NEAR(elo.robust_se, kEloScale * fit.robust_se[i], 1e-12);
    EXPECT_NEAR(elo.ci_lo, offset + kEloScale * fit.ci_lo[i], 1e-9);
    EXPECT_NEAR(elo.ci_hi, offset + kEloScale * fit.ci_hi[i], 1e-9);
    EXPECT_NEAR(elo.quasi_var, kEloScale * kEloScale * fit.quasi_var[i], 1e-9);
    // worth: the SE is |d exp(s)/ds| SE, the derivative by central differences
    const ScaledEstimate worth = scaled_item(fit, i, StrengthScale::worth, offset);
    const double h = 1e-6, s0 = fit.strength[i];
    const double derivative = (std::exp(s0 + h) - std::exp(s0 - h)) / (2 * h);
    EXPECT_NEAR(worth.strength, std::exp(s0), 1e-15);
    EXPECT_NEAR(worth.se, derivative * fit.se[i], 1e-8);
    EXPECT_NEAR(worth.robust_se, derivative * fit.robust_se[i], 1e-8);
    EXPECT_NEAR(worth.ci_lo, std::exp(fit.ci_lo[i]), 1e-15);  // endpoints transformed directly
    EXPECT_NEAR(worth.ci_hi, std::exp(fit.ci_hi[i]), 1e-15);
    EXPECT_LT(worth.ci_lo, worth.strength);
    EXPECT_GT(worth.ci_hi, worth.strength);
  }
  const ScaledEstimate home_elo = scaled_home(fit, StrengthScale::elo);
  EXPECT_NEAR(home_elo.strength, kEloScale * fit.home, 1e-9);  // a difference: no offset
  const ScaledEstimate home_worth = scaled_home(fit, StrengthScale::worth);
  EXPECT_NEAR(home_worth.strength, std::exp(fit.home), 1e-15);
  EXPECT_NEAR(home_worth.se, std::exp(fit.home) * fit.home_se, 1e-15);
}

// ---- saved models and predictions ----------------------------------------------------------

BradleyTerryFit baseball_fit_with_covariance(bool home, RobustCovariance robust = RobustCovariance::none) {
  BradleyTerryOptions options = tight_bradley_terry();
  options.keep_covariance = true;
  options.home_advantage = home;
  options.robust = robust;
  return fit_bradley_terry(home ? baseball_games() : baseball(), options);
}

TEST(SavedModel, RoundTripIsExact) {
  for (bool home : {false, true}) {
    const SavedModel model = saved_model(baseball_fit_with_covariance(home, RobustCovariance::hc0));
    EXPECT_EQ(model.covariance_kind, "hc0");
    const SavedModel back = model_from_string(model_to_string(model), "model.txt");
    EXPECT_EQ(back.kind, ModelKind::bradley_terry);
    EXPECT_EQ(back.names, model.names);
    EXPECT_EQ(back.estimate, model.estimate);  // bit for bit: shortest round-trip decimals
    EXPECT_EQ(back.covariance, model.covariance);
    EXPECT_EQ(back.has_home, home);
    EXPECT_EQ(back.covariance_kind, "hc0");
  }
  LogisticOptions options = tight_logistic();
  options.keep_covariance = true;
  const SavedModel model = saved_model(fit_logistic(pima("pima_cluster.csv", "", ""), options));
  const SavedModel back = model_from_string(model_to_string(model), "m");
  EXPECT_EQ(back.kind, ModelKind::logistic);
  EXPECT_TRUE(back.intercept);
  EXPECT_EQ(back.estimate, model.estimate);
  EXPECT_EQ(back.covariance, model.covariance);
  // Odd names survive.
  SavedModel odd = model;
  odd.names[1] = "a \"quoted\", name\\ with\nnewline\tand tab";
  EXPECT_EQ(model_from_string(model_to_string(odd), "m").names, odd.names);
}

TEST(SavedModel, PairPredictionsAreTheSigmoidOfTheDifference) {
  const BradleyTerryFit fit = baseball_fit_with_covariance(false);
  const SavedModel model = saved_model(fit);
  const std::size_t n = fit.item_names.size();
  // Var(s_a - s_b) from the saved covariance equals the SE of s_a with b as the reference.
  BradleyTerryOptions options = tight_bradley_terry();
  options.reference = "Boston";
  const BradleyTerryFit ref = fit_bradley_terry(baseball(), options);
  const std::size_t b = index_of(fit.item_names, "Boston");
  for (std::size_t a = 0; a < n; ++a) {
    const Prediction pr = predict_pair(model, a, b, false, 0.95);
    const double eta = fit.strength[a] - fit.strength[b];
    EXPECT_NEAR(pr.p, sigmoid(eta), 1e-15);
    if (a == b) continue;
    EXPECT_LT(pr.p_lo, pr.p);
    EXPECT_GT(pr.p_hi, pr.p);
    const double half = wald_z(0.95) * ref.se[a];
    EXPECT_NEAR(pr.p_lo, sigmoid(eta - half), 1e-9);
    EXPECT_NEAR(pr.p_hi, sigmoid(eta + half), 1e-9);
  }
  // Symmetry: P(a beats b) + P(b beats a) = 1, and the intervals mirror.
  const Prediction ab = predict_pair(model, 0, 3, false, 0.9), ba = predict_pair(model, 3, 0, false, 0.9);
  EXPECT_NEAR(ab.p + ba.p, 1.0, 1e-15);
  EXPECT_NEAR(ab.p_lo + ba.p_hi, 1.0, 1e-15);
}

TEST(SavedModel, HomeAdvantageEntersTheMarginAndItsVariance) {
  const BradleyTerryFit fit = baseball_fit_with_covariance(true);
  const SavedModel model = saved_model(fit);
  const std::size_t n = fit.item_names.size(), p = n + 1;
  const std::size_t a = 2, b = 5;
  const Prediction pr = predict_pair(model, a, b, true, 0.95);
  const double eta = fit.strength[a] - fit.strength[b] + fit.home;
  EXPECT_NEAR(pr.p, sigmoid(eta), 1e-15);
  const auto& c = fit.covariance;
  const double var =
      c[a * p + a] + c[b * p + b] + c[n * p + n] - 2 * c[a * p + b] + 2 * c[a * p + n] - 2 * c[b * p + n];
  EXPECT_NEAR(pr.p_lo, sigmoid(eta - wald_z(0.95) * std::sqrt(var)), 1e-12);
  EXPECT_THROW(predict_pair(saved_model(baseball_fit_with_covariance(false)), a, b, true, 0.95), UsageError);
}

TEST(SavedModel, RowPredictionsUseTheLinearPredictorsInterval) {
  LogisticOptions options = tight_logistic();
  options.keep_covariance = true;
  const LogisticFit fit = fit_logistic(pima("pima_cluster.csv", "", ""), options);
  const SavedModel model = saved_model(fit);
  const std::vector<double> zero(7, 0.0);
  const Prediction at_zero = predict_row(model, zero.data(), 0.95);  // eta = intercept alone
  EXPECT_NEAR(at_zero.p, sigmoid(fit.estimate[0]), 1e-15);
  EXPECT_NEAR(at_zero.p_lo, sigmoid(fit.estimate[0] - wald_z(0.95) * fit.se[0]), 1e-12);
  const std::vector<double> x = {2, 120, 70, 30, 32.5, 0.4, 35};
  double eta = fit.estimate[0];
  for (std::size_t j = 0; j < 7; ++j) eta += x[j] * fit.estimate[j + 1];
  const Prediction pr = predict_row(model, x.data(), 0.95);
  EXPECT_NEAR(pr.p, sigmoid(eta), 1e-14);
  EXPECT_LT(pr.p_lo, pr.p);
  EXPECT_GT(pr.p_hi, pr.p);
  EXPECT_THROW(predict_row(saved_model(baseball_fit_with_covariance(false)), x.data(), 0.95), UsageError);
}

TEST(SavedModel, WithoutCovarianceTheIntervalsAreEmpty) {
  BradleyTerryOptions options = tight_bradley_terry();
  const SavedModel model = saved_model(fit_bradley_terry(baseball(), options));  // keep_covariance off
  EXPECT_TRUE(model.covariance.empty());
  EXPECT_NE(model_to_string(model).find("\ncovariance none\n"), std::string::npos);
  const Prediction pr = predict_pair(model_from_string(model_to_string(model), "m"), 0, 1, false, 0.95);
  EXPECT_TRUE(std::isnan(pr.p_lo) && std::isnan(pr.p_hi));
}

// Expects model_from_string to throw an InputError whose message contains `needle`.
void expect_rejected(const std::string& text, const std::string& needle) {
  try {
    model_from_string(text, "model.txt");
    ADD_FAILURE() << "accepted a bad model file; expected \"" << needle << "\"";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.txt"), std::string::npos) << e.what();
  }
}

TEST(SavedModel, WrongCorruptOrVersionMismatchedFilesAreRefused) {
  const std::string good = model_to_string(saved_model(baseball_fit_with_covariance(false)));
  ASSERT_NO_THROW(model_from_string(good, "model.txt"));
  expect_rejected("winner,loser\nA,B\n", "not a btfit model file");
  expect_rejected("", "not a btfit model file");
  std::string v2 = good;
  v2.replace(0, std::string("btfit-model 1").size(), "btfit-model 2");
  expect_rejected(v2, "version 2 is not supported");
  expect_rejected(good.substr(0, good.size() / 2), "truncated");
  std::string flipped = good;
  const auto digit = flipped.find("param \"Boston\" ") + 17;  // a digit after "0."
  flipped[digit] = flipped[digit] == '1' ? '2' : '1';
  expect_rejected(flipped, "checksum does not match");
  std::string cut = good;
  cut.erase(cut.find("cov "), cut.find('\n', cut.find("cov ")) - cut.find("cov ") + 1);  // a line removed
  expect_rejected(cut, "checksum does not match");
}

}  // namespace
}  // namespace btfit
