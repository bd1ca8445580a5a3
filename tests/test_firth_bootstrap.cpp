// Firth's penalized estimates against brglm2 (tests/reference/make_reference_firth.R), the
// bootstrap (replicate weights, the replicate seam, batched against one-at-a-time fits,
// dropped replicates, reproducibility) and standard errors above the dense limit (conjugate
// gradients against the dense inverse, the stochastic estimator).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "bootstrap.h"
#include "btfit/btfit.h"
#include "btfit/detail/rng.h"
#include "firth.h"
#include "objective_cpu.h"
#include "replicate_weights.h"
#include "se_at_scale.h"
#include "test_helpers.h"

namespace btfit {
namespace {

using testing::data_path;
using testing::read_reference;
using testing::relative_error;

constexpr double kReferenceTolerance = 1e-6;  // relative, as the issue asks

Comparisons load_baseball(const std::string& file) {
  ComparisonColumns columns;
  columns.count = "count";
  return load_comparisons(data_path(file), columns);
}

Comparisons load_baseball_games() {
  ComparisonColumns columns;
  columns.a = "home";
  columns.b = "away";
  columns.outcome = "outcome";
  columns.home_flags = true;
  return load_comparisons(data_path("baseball_games.csv"), columns);
}

Rows load_pima(const std::string& file, const std::vector<std::string>& features = {}, const std::string& weight = "") {
  RowColumns columns;
  columns.label = "y";
  columns.features = features;
  columns.weight = weight;
  return load_rows(data_path(file), columns);
}

std::size_t index_of(const std::vector<std::string>& names, const std::string& name) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  ADD_FAILURE() << "no " << name;
  return 0;
}

Comparisons simulated(std::size_t items, std::size_t comparisons, std::uint64_t seed, double ties = 0.0) {
  ComparisonSimulation spec;
  spec.n_items = items;
  spec.n_comparisons = comparisons;
  spec.seed = seed;
  spec.tie_rate = ties;
  std::vector<double> truth;
  return simulate_comparisons(spec, &truth);
}

// The comparisons of replicate r: each row's weight replaced by its Poisson draw.
Comparisons reweighted(const Comparisons& data, std::uint64_t seed, std::uint64_t replicate) {
  Comparisons copy = data;
  copy.weight.resize(data.size());
  for (std::size_t k = 0; k < data.size(); ++k)
    copy.weight[k] = detail::counter_poisson(data.w(k), seed, replicate, k);
  return copy;
}

Rows reweighted(const Rows& data, std::uint64_t seed, std::uint64_t replicate) {
  Rows copy = data;
  copy.weight.resize(data.n_rows);
  for (std::size_t i = 0; i < data.n_rows; ++i) copy.weight[i] = detail::counter_poisson(data.w(i), seed, replicate, i);
  return copy;
}

// ---- Firth against brglm2 -------------------------------------------------------------

void expect_logistic_matches(const LogisticFit& fit, const std::string& reference_file) {
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.diagnosis;
  const auto ref = read_reference(reference_file);
  ASSERT_EQ(ref.size(), fit.terms.size());
  for (std::size_t j = 0; j < fit.terms.size(); ++j) {
    const auto& r = ref.at(fit.terms[j]);
    EXPECT_LT(relative_error(fit.estimate[j], r.estimate), kReferenceTolerance) << fit.terms[j];
    EXPECT_LT(relative_error(fit.se[j], r.se), kReferenceTolerance) << fit.terms[j];
  }
}

TEST(Firth, LogisticPimaMatchesBrglm2) {
  LogisticOptions options;
  options.firth = true;
  options.solver.tolerance = 1e-12;
  expect_logistic_matches(fit_logistic(load_pima("pima_tr.csv"), options), "ref_firth_logistic_pima.csv");
}

TEST(Firth, LogisticWeightedPimaMatchesBrglm2) {
  LogisticOptions options;
  options.firth = true;
  options.solver.tolerance = 1e-12;
  expect_logistic_matches(fit_logistic(load_pima("pima_weighted.csv", {}, "w"), options),
                          "ref_firth_logistic_pima_weighted.csv");
}

TEST(Firth, LogisticIsFiniteUnderSeparationAndMatchesBrglm2) {
  const Rows rows = load_pima("pima_separable.csv", {"glu", "bmi"});
  LogisticOptions options;
  const LogisticFit ml = fit_logistic(rows, options);
  ASSERT_EQ(ml.status, FitStatus::not_estimable);
  EXPECT_NE(ml.diagnosis.find("--firth"), std::string::npos) << ml.diagnosis;
  options.firth = true;
  options.solver.tolerance = 1e-12;
  const LogisticFit fit = fit_logistic(rows, options);
  for (double b : fit.estimate) EXPECT_TRUE(std::isfinite(b));
  expect_logistic_matches(fit, "ref_firth_logistic_pima_separable.csv");
}

TEST(Firth, LogisticAllLabelsEqualIsFinite) {
  // Intercept only, 9 rows all 0: the adjusted score -n p + (1/2 - p) = 0 gives p = 1/(2(n+1)).
  Rows rows;
  rows.n_rows = 9;
  rows.label.assign(9, 0.0);
  LogisticOptions options;
  options.firth = true;
  options.solver.tolerance = 1e-13;
  const LogisticFit fit = fit_logistic(rows, options);
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.diagnosis;
  EXPECT_NEAR(fit.estimate[0], std::log(1.0 / 19.0), 1e-10);
}

void expect_bradley_terry_matches(const BradleyTerryFit& fit, const std::string& reference_file) {
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.diagnosis.message;
  const auto ref = read_reference(reference_file);
  for (std::size_t i = 0; i < fit.item_names.size(); ++i) {
    const auto& r = ref.at(fit.item_names[i]);
    if (r.estimate == 0.0) {
      EXPECT_EQ(fit.strength[i], 0.0) << fit.item_names[i];
      EXPECT_EQ(fit.se[i], 0.0) << fit.item_names[i];
      continue;
    }
    EXPECT_LT(relative_error(fit.strength[i], r.estimate), kReferenceTolerance) << fit.item_names[i];
    EXPECT_LT(relative_error(fit.se[i], r.se), kReferenceTolerance) << fit.item_names[i];
  }
  if (fit.has_home) {
    const auto& r = ref.at("(home)");
    EXPECT_LT(relative_error(fit.home, r.estimate), kReferenceTolerance);
    EXPECT_LT(relative_error(fit.home_se, r.se), kReferenceTolerance);
  }
}

TEST(Firth, BradleyTerryBaseballMatchesBrglm2) {
  BradleyTerryOptions options;
  options.firth = true;
  options.reference = "Baltimore";
  options.solver.tolerance = 1e-12;
  const Comparisons data = load_baseball("baseball.csv");
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  expect_bradley_terry_matches(fit, "ref_firth_bt_baseball.csv");
  // Without a reference: the same estimate, centred.
  options.reference.clear();
  const BradleyTerryFit centred = fit_bradley_terry(data, options);
  const double mean = std::accumulate(fit.strength.begin(), fit.strength.end(), 0.0) / 7.0;
  for (std::size_t i = 0; i < 7; ++i) EXPECT_NEAR(centred.strength[i], fit.strength[i] - mean, 1e-9);
  EXPECT_NE(centred.se_method.find("Fisher information"), std::string::npos);
}

TEST(Firth, BradleyTerryUndefeatedItemIsFiniteAndMatchesBrglm2) {
  const Comparisons data = load_baseball("baseball_undefeated.csv");
  BradleyTerryOptions options;
  const BradleyTerryFit ml = fit_bradley_terry(data, options);
  ASSERT_EQ(ml.status, FitStatus::not_estimable);
  EXPECT_NE(ml.diagnosis.message.find("--firth"), std::string::npos) << ml.diagnosis.message;
  options.firth = true;
  options.reference = "Baltimore";
  options.solver.tolerance = 1e-12;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  for (double s : fit.strength) EXPECT_TRUE(std::isfinite(s));
  expect_bradley_terry_matches(fit, "ref_firth_bt_baseball_undefeated.csv");
}

TEST(Firth, BradleyTerryHomeAdvantageMatchesBrglm2) {
  BradleyTerryOptions options;
  options.firth = true;
  options.home_advantage = true;
  options.reference = "Baltimore";
  options.solver.tolerance = 1e-12;
  expect_bradley_terry_matches(fit_bradley_terry(load_baseball_games(), options), "ref_firth_bt_baseball_home.csv");
}

TEST(Firth, HomeSideThatWonEveryHomeGameIsFinite) {
  ItemDictionary names;
  Comparisons games;
  for (int k = 0; k < 3; ++k) {
    games.add(names, "A", "B", 1.0, 1.0, true);
    games.add(names, "B", "C", 1.0, 1.0, true);
    games.add(names, "C", "A", 1.0, 1.0, true);
  }
  games.add(names, "A", "C", 1.0, 1.0, false);
  games.add(names, "B", "A", 0.0, 1.0, false);
  BradleyTerryOptions options;
  options.home_advantage = true;
  EXPECT_EQ(fit_bradley_terry(games, options).status, FitStatus::not_estimable);
  options.firth = true;
  const BradleyTerryFit fit = fit_bradley_terry(games, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  EXPECT_TRUE(std::isfinite(fit.home));
  EXPECT_GT(fit.home, 0.5);
}

TEST(Firth, DisconnectedGroupsAreFittedSeparately) {
  // Two copies of baseball with different names never meet: each group's Firth estimate is
  // the one of its own data, with mean zero in the group.
  const Comparisons one = load_baseball("baseball.csv");
  const Comparisons other = load_baseball("baseball_undefeated.csv");
  ItemDictionary names;
  Comparisons both;
  for (std::size_t k = 0; k < one.size(); ++k)
    both.add(names, one.item_names[one.a[k]], one.item_names[one.b[k]], one.y(k), one.w(k));
  for (std::size_t k = 0; k < other.size(); ++k)
    both.add(names, other.item_names[other.a[k]] + "'", other.item_names[other.b[k]] + "'", other.y(k), other.w(k));
  BradleyTerryOptions options;
  options.firth = true;
  options.solver.tolerance = 1e-12;
  const BradleyTerryFit fit = fit_bradley_terry(both, options);
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.diagnosis.message;
  bool said = false;
  for (const auto& note : fit.notes) said = said || note.find("fitted on its own") != std::string::npos;
  EXPECT_TRUE(said);
  const BradleyTerryFit fit_one = fit_bradley_terry(one, options);
  const BradleyTerryFit fit_other = fit_bradley_terry(other, options);
  for (std::size_t i = 0; i < one.n_items(); ++i) {
    const std::size_t j = index_of(fit.item_names, one.item_names[i]);
    EXPECT_NEAR(fit.strength[j], fit_one.strength[i], 1e-8);
    EXPECT_NEAR(fit.se[j], fit_one.se[i], 1e-8);
  }
  for (std::size_t i = 0; i < other.n_items(); ++i) {
    const std::size_t j = index_of(fit.item_names, other.item_names[i] + "'");
    EXPECT_NEAR(fit.strength[j], fit_other.strength[i], 1e-8);
    EXPECT_NEAR(fit.se[j], fit_other.se[i], 1e-8);
  }
}

TEST(Firth, CombinesWithL2AndPriors) {
  // With L2 the objective is NLL - (1/2) log det I + (lambda/2)|s|^2: its gradient vanishes at
  // the estimate (checked by central differences of the objective the fit reports).
  const Comparisons data = load_baseball("baseball_undefeated.csv");
  BradleyTerryOptions options;
  options.firth = true;
  options.l2 = 0.5;
  options.solver.tolerance = 1e-12;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  DiagonalPenalty penalty(data.n_items());
  for (double& l : penalty.l2) l = 0.5;
  const ItemGroups groups = item_groups(data, nullptr);
  OptimizerSettings settings;
  settings.max_iterations = 0;  // evaluate only
  auto objective_at = [&](std::vector<double> theta) {
    return firth_bradley_terry(data, false, nullptr, penalty, groups, theta.data(), settings).objective;
  };
  EXPECT_NEAR(objective_at(fit.strength), fit.objective, 1e-9 * std::fabs(fit.objective));
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    std::vector<double> up = fit.strength, down = fit.strength;
    up[i] += 1e-5;
    down[i] -= 1e-5;
    EXPECT_NEAR((objective_at(up) - objective_at(down)) / 2e-5, 0.0, 1e-6) << data.item_names[i];
  }
}

TEST(Firth, RefusesAboveTheDenseLimit) {
  BradleyTerryOptions options;
  options.firth = true;
  options.solver.dense_limit = 3;
  EXPECT_THROW(fit_bradley_terry(load_baseball("baseball.csv"), options), UsageError);
}

// ---- replicate weights and the replicate seam ------------------------------------------

TEST(ReplicateWeights, EqualCounterPoissonBitForBit) {
  const std::uint64_t seeds[] = {1, 42, 0x9E3779B97F4A7C15ULL};
  const double weights[] = {1.0, 0.0, 0.5, 2.0, 3.7, 30.0, 31.5, 100.0, 1e-3};
  for (std::uint64_t seed : seeds)
    for (std::uint64_t replicate : {0ull, 1ull, 999ull}) {
      const ReplicateWeights draw(seed, replicate);
      for (double w : weights)
        for (std::uint64_t row = 0; row < 5000; ++row)
          ASSERT_EQ(draw(w, row), detail::counter_poisson(w, seed, replicate, row))
              << "seed " << seed << " replicate " << replicate << " w " << w << " row " << row;
    }
  // Poisson(1): mean and variance 1.
  const ReplicateWeights draw(3, 5);
  double sum = 0, sum_sq = 0;
  const int n = 200000;
  for (int r = 0; r < n; ++r) {
    const double d = draw(1.0, static_cast<std::uint64_t>(r));
    sum += d;
    sum_sq += d * d;
  }
  EXPECT_NEAR(sum / n, 1.0, 0.01);
  EXPECT_NEAR(sum_sq / n - (sum / n) * (sum / n), 1.0, 0.02);
}

// Replicate j of the seam equals the plain objective on the reweighted data.
void expect_replicates_equal_reweighted(const Comparisons& data, bool home, int threads) {
  BradleyTerryCpuObjective objective(data, home, threads);
  const std::size_t p = objective.n_params();
  const std::size_t k = 5;
  ReplicateBatch batch{17, 3, k};
  std::mt19937_64 rng(4);
  std::normal_distribution<double> z(0.0, 0.5);
  std::vector<double> theta(p * k), values(k), grads(p * k);
  for (double& t : theta) t = z(rng);
  objective.value_gradient_replicates(batch, theta.data(), values.data(), grads.data());
  for (std::size_t j = 0; j < k; ++j) {
    const Comparisons copy = reweighted(data, batch.seed, batch.first + j);
    BradleyTerryCpuObjective plain(copy, home, 1);
    std::vector<double> g(p);
    const double f = plain.value_gradient(theta.data() + j * p, g.data());
    EXPECT_LT(relative_error(values[j], f), 1e-12);
    for (std::size_t i = 0; i < p; ++i) EXPECT_NEAR(grads[j * p + i], g[i], 1e-9 * (1.0 + std::fabs(g[i])));
    // Hessian-vector product and diagonal at the replicate's point.
    std::vector<double> v(p), hv(p), hv_batch(p * k, 0.0), v_batch(p * k, 0.0), diag(p), diag_batch(p * k);
    for (double& x : v) x = z(rng);
    std::copy(v.begin(), v.end(), v_batch.begin() + static_cast<std::ptrdiff_t>(j * p));
    plain.hessian_vector(v.data(), hv.data());
    plain.hessian_diagonal(diag.data());
    objective.hessian_vector_replicates(batch, v_batch.data(), hv_batch.data());
    objective.hessian_diagonal_replicates(batch, diag_batch.data());
    for (std::size_t i = 0; i < p; ++i) {
      EXPECT_NEAR(hv_batch[j * p + i], hv[i], 1e-9 * (1.0 + std::fabs(hv[i])));
      EXPECT_NEAR(diag_batch[j * p + i], diag[i], 1e-9 * (1.0 + std::fabs(diag[i])));
    }
  }
}

TEST(ReplicateSeam, BradleyTerryRowsEqualReweightedObjective) {
  // 40 items, 3000 comparisons: few repeated pairs, weights drawn on the fly.
  expect_replicates_equal_reweighted(simulated(40, 3000, 9, 0.1), false, 2);
}

TEST(ReplicateSeam, BradleyTerryGroupedRowsEqualReweightedObjective) {
  // 273 games among 7 teams with home flags: the rows are grouped by (home, away).
  expect_replicates_equal_reweighted(load_baseball_games(), true, 2);
  // Weighted rows (counts).
  expect_replicates_equal_reweighted(load_baseball("baseball.csv"), false, 2);
}

TEST(ReplicateSeam, DrawsOnLargeDataEqualCounterPoisson) {
  // 200,000 unweighted rows: the vectorized Poisson(1) draws, including the one-in-1e5 draws of
  // 8 or more, rows on the fly (many items) and summed per distinct pair (few items).
  expect_replicates_equal_reweighted(simulated(3000, 200000, 31), false, 2);
  expect_replicates_equal_reweighted(simulated(12, 200000, 32, 0.1), false, 2);
}

TEST(ReplicateSeam, BradleyTerryIsTheSameOnAnyThreadCount) {
  for (const Comparisons& data : {simulated(50, 20000, 2), simulated(10, 20000, 3)}) {
    BradleyTerryCpuObjective one(data, false, 1), two(data, false, 2);
    const std::size_t p = one.n_params(), k = 6;
    ReplicateBatch batch{5, 0, k};
    std::vector<double> theta(p * k);
    for (std::size_t i = 0; i < theta.size(); ++i) theta[i] = 0.01 * static_cast<double>(i % 17);
    std::vector<double> v1(k), v2(k), g1(p * k), g2(p * k);
    one.value_gradient_replicates(batch, theta.data(), v1.data(), g1.data());
    two.value_gradient_replicates(batch, theta.data(), v2.data(), g2.data());
    EXPECT_EQ(v1, v2);
    EXPECT_EQ(g1, g2);
  }
}

TEST(ReplicateSeam, LogisticEqualsReweightedObjective) {
  for (bool sparse : {false, true}) {
    Rows rows = load_pima("pima_tr.csv");
    if (sparse) {
      Rows s = rows;
      s.sparse = true;
      s.dense.clear();
      s.row_ptr.push_back(0);
      for (std::size_t i = 0; i < rows.n_rows; ++i) {
        for (std::size_t j = 0; j < rows.n_features; ++j) {
          const double x = rows.dense[i * rows.n_features + j];
          if (x != 0.0) {
            s.col.push_back(static_cast<std::uint32_t>(j));
            s.val.push_back(x / 100.0);
          }
        }
        s.row_ptr.push_back(s.col.size());
      }
      rows = s;
    }
    LogisticCpuObjective objective(rows, true, 2);
    const std::size_t p = objective.n_params(), k = 4;
    ReplicateBatch batch{11, 7, k};
    std::vector<double> theta(p * k), values(k), grads(p * k), v(p * k), hv(p * k), diag(p * k);
    for (std::size_t i = 0; i < theta.size(); ++i) theta[i] = 0.001 * static_cast<double>(i % 7) - 0.002;
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<double>(i));
    objective.value_gradient_replicates(batch, theta.data(), values.data(), grads.data());
    objective.hessian_vector_replicates(batch, v.data(), hv.data());
    objective.hessian_diagonal_replicates(batch, diag.data());
    for (std::size_t j = 0; j < k; ++j) {
      const Rows copy = reweighted(rows, batch.seed, batch.first + j);
      LogisticCpuObjective plain(copy, true, 1);
      std::vector<double> g(p), h(p), d(p);
      const double f = plain.value_gradient(theta.data() + j * p, g.data());
      plain.hessian_vector(v.data() + j * p, h.data());
      plain.hessian_diagonal(d.data());
      EXPECT_LT(relative_error(values[j], f), 1e-12);
      for (std::size_t i = 0; i < p; ++i) {
        EXPECT_NEAR(grads[j * p + i], g[i], 1e-9 * (1.0 + std::fabs(g[i])));
        EXPECT_NEAR(hv[j * p + i], h[i], 1e-9 * (1.0 + std::fabs(h[i])));
        EXPECT_NEAR(diag[j * p + i], d[i], 1e-9 * (1.0 + std::fabs(d[i])));
      }
    }
  }
}

TEST(ReplicateSeam, BatchedHessianVectorEqualsSingleProducts) {
  const Comparisons data = simulated(30, 2000, 8);
  BradleyTerryCpuObjective objective(data, false, 2);
  const std::size_t p = objective.n_params(), k = 4;
  std::vector<double> theta(p, 0.1), g(p), v(p * k), hv(p * k), single(p);
  objective.value_gradient(theta.data(), g.data());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::cos(static_cast<double>(i));
  objective.hessian_vector_batch(v.data(), k, hv.data());
  for (std::size_t j = 0; j < k; ++j) {
    objective.hessian_vector(v.data() + j * p, single.data());
    for (std::size_t i = 0; i < p; ++i) EXPECT_NEAR(hv[j * p + i], single[i], 1e-12 * (1.0 + std::fabs(single[i])));
  }
}

// ---- the bootstrap ---------------------------------------------------------------------

// Centred strengths of a fit on the reweighted data (tight tolerance).
std::vector<double> one_at_a_time(const Comparisons& data, const BradleyTerryOptions& base, std::uint64_t replicate) {
  BradleyTerryOptions options = base;
  options.bootstrap = BootstrapOptions{};
  options.solver.tolerance = 1e-12;
  options.solver.standard_errors = false;
  const BradleyTerryFit fit = fit_bradley_terry(reweighted(data, base.bootstrap.seed, replicate), options);
  EXPECT_EQ(fit.status, FitStatus::converged);
  std::vector<double> s = fit.strength;
  if (fit.has_home) s.push_back(fit.home);
  return s;
}

void expect_batched_equals_one_at_a_time(const Comparisons& data, BradleyTerryOptions options, std::size_t batch) {
  options.bootstrap.seed = 21;
  options.bootstrap.batch = batch;
  const std::size_t n = data.n_items();
  const std::size_t p = n + (options.home_advantage ? 1 : 0);
  DiagonalPenalty penalty(p);
  for (std::size_t i = 0; i < n; ++i) penalty.l2[i] = options.l2;
  const BradleyTerryFit full = fit_bradley_terry(data, options);
  std::vector<double> start = full.strength;
  if (options.home_advantage) start.push_back(full.home);
  const std::size_t count = 7;
  const ReplicateFits fits = fit_bradley_terry_replicates(data, options, penalty, start, 2, count);
  for (std::size_t j = 0; j < count; ++j) {
    ASSERT_EQ(fits.outcome[j], ReplicateOutcome::used) << j;
    std::vector<double> batched(fits.theta.begin() + static_cast<std::ptrdiff_t>(j * p),
                                fits.theta.begin() + static_cast<std::ptrdiff_t>((j + 1) * p));
    if (penalty.empty()) {
      const double mean = std::accumulate(batched.begin(), batched.begin() + static_cast<std::ptrdiff_t>(n), 0.0) /
                          static_cast<double>(n);
      for (std::size_t i = 0; i < n; ++i) batched[i] -= mean;
    }
    const std::vector<double> single = one_at_a_time(data, options, 2 + j);
    for (std::size_t i = 0; i < p; ++i) EXPECT_NEAR(batched[i], single[i], 1e-6) << "replicate " << j << " param " << i;
  }
}

TEST(Bootstrap, BatchedReplicatesEqualSeparateFits) {
  BradleyTerryOptions options;
  expect_batched_equals_one_at_a_time(simulated(40, 4000, 12, 0.05), options, 0);
  expect_batched_equals_one_at_a_time(simulated(40, 4000, 12, 0.05), options, 3);  // batches of 3
  expect_batched_equals_one_at_a_time(load_baseball("baseball.csv"), options, 0);
  options.home_advantage = true;
  expect_batched_equals_one_at_a_time(load_baseball_games(), options, 0);
  options.home_advantage = false;
  options.l2 = 2.0;
  expect_batched_equals_one_at_a_time(simulated(40, 4000, 13), options, 0);
}

TEST(Bootstrap, SameSeedSameIntervalsAnyThreadCount) {
  const Comparisons data = simulated(30, 3000, 14);
  BradleyTerryOptions options;
  options.bootstrap.replicates = 60;
  options.bootstrap.seed = 5;
  options.solver.threads = 2;
  const BradleyTerryFit a = fit_bradley_terry(data, options);
  const BradleyTerryFit same = fit_bradley_terry(data, options);
  ASSERT_EQ(a.bootstrap.used, 60u);
  EXPECT_EQ(a.boot_lo, same.boot_lo);
  EXPECT_EQ(a.boot_hi, same.boot_hi);
  EXPECT_EQ(a.rank_lo, same.rank_lo);
  EXPECT_EQ(a.rank_hi, same.rank_hi);
  // One thread: the same weights (ReplicateSeam.BradleyTerryIsTheSameOnAnyThreadCount); the
  // full fit that warm-starts the replicates may differ in its last bits, so the intervals
  // agree to the optimizer's tolerance.
  options.solver.threads = 1;
  const BradleyTerryFit b = fit_bradley_terry(data, options);
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    EXPECT_NEAR(a.boot_lo[i], b.boot_lo[i], 1e-6);
    EXPECT_NEAR(a.boot_hi[i], b.boot_hi[i], 1e-6);
  }
  EXPECT_EQ(a.rank_lo, b.rank_lo);
  EXPECT_EQ(a.rank_hi, b.rank_hi);
  options.bootstrap.seed = 6;
  const BradleyTerryFit c = fit_bradley_terry(data, options);
  EXPECT_NE(a.boot_lo, c.boot_lo);
  // The intervals hold the estimate and the ranks are ranks.
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    EXPECT_LT(a.boot_lo[i], a.boot_hi[i]);
    EXPECT_GE(a.rank_lo[i], 1.0);
    EXPECT_LE(a.rank_hi[i], 30.0);
    EXPECT_LE(a.rank_lo[i], a.rank_hi[i]);
  }
}

TEST(Bootstrap, ReplicateEstimatesAreTheSameOnAnyThreadCount) {
  // Few distinct pairs (a batch per thread with two threads) and many (threads inside each
  // pass): the same start gives the same bits on one thread and on two.
  for (const Comparisons& data : {simulated(12, 20000, 41, 0.1), simulated(400, 6000, 42)}) {
    BradleyTerryOptions options;
    options.pseudo = 0.5;  // every replicate estimable
    options.bootstrap.seed = 8;
    options.bootstrap.batch = 4;
    DiagonalPenalty penalty(data.n_items());
    for (double& c : penalty.pseudo) c = 0.5;
    const std::vector<double> start(data.n_items(), 0.01);
    options.solver.threads = 1;
    const ReplicateFits one = fit_bradley_terry_replicates(data, options, penalty, start, 0, 10);
    options.solver.threads = 2;
    const ReplicateFits two = fit_bradley_terry_replicates(data, options, penalty, start, 0, 10);
    EXPECT_EQ(one.theta, two.theta);
  }
}

TEST(Bootstrap, DroppedReplicatesAreCounted) {
  // A > B (weight 2), B > C (1), C > A (3), A ties C (1). The replicate graph is strongly
  // connected iff rows 1 and 2 draw a positive weight and row 3 or row 4 does.
  ItemDictionary names;
  Comparisons data;
  data.add(names, "A", "B", 1.0, 2.0);
  data.add(names, "B", "C", 1.0, 1.0);
  data.add(names, "C", "A", 1.0, 3.0);
  data.add(names, "A", "C", 0.5, 1.0);
  BradleyTerryOptions options;
  options.bootstrap.replicates = 300;
  options.bootstrap.seed = 77;
  std::size_t expected = 0;
  for (std::uint64_t r = 0; r < 300; ++r) {
    auto d = [&](std::size_t k) { return detail::counter_poisson(data.w(k), 77, r, k); };
    if (!(d(0) > 0 && d(1) > 0 && (d(2) > 0 || d(3) > 0))) ++expected;
  }
  ASSERT_GT(expected, 10u);
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  EXPECT_EQ(fit.bootstrap.dropped_not_estimable, expected);
  EXPECT_EQ(fit.bootstrap.dropped_not_converged, 0u);
  EXPECT_EQ(fit.bootstrap.used, 300u - expected);
  // With --pseudo every replicate has an estimate.
  options.pseudo = 1.0;
  EXPECT_EQ(fit_bradley_terry(data, options).bootstrap.dropped_not_estimable, 0u);
}

TEST(Bootstrap, LogisticBatchedEqualsSeparateFits) {
  const Rows rows = load_pima("pima_tr.csv");
  LogisticOptions options;
  options.bootstrap.seed = 3;
  const LogisticFit full = fit_logistic(rows, options);
  const DiagonalPenalty penalty(full.estimate.size());
  const std::size_t p = full.estimate.size();
  const ReplicateFits fits = fit_logistic_replicates(rows, options, penalty, full.estimate, 0, 5);
  for (std::size_t j = 0; j < 5; ++j) {
    ASSERT_EQ(fits.outcome[j], ReplicateOutcome::used);
    LogisticOptions single = options;
    single.solver.tolerance = 1e-12;
    const LogisticFit fit = fit_logistic(reweighted(rows, 3, j), single);
    for (std::size_t i = 0; i < p; ++i)
      EXPECT_NEAR(fits.theta[j * p + i], fit.estimate[i], 1e-6 * (1.0 + std::fabs(fit.estimate[i])));
  }
  options.bootstrap.replicates = 100;
  const LogisticFit boot = fit_logistic(rows, options);
  EXPECT_EQ(boot.bootstrap.used, 100u);
  for (std::size_t i = 0; i < p; ++i) {
    EXPECT_LT(boot.boot_lo[i], full.estimate[i]);
    EXPECT_GT(boot.boot_hi[i], full.estimate[i]);
  }
}

TEST(Bootstrap, FirthReplicatesAreFinite) {
  const Comparisons data = load_baseball("baseball_undefeated.csv");
  BradleyTerryOptions options;
  options.firth = true;
  options.bootstrap.replicates = 40;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  EXPECT_EQ(fit.bootstrap.used, 40u);
  for (std::size_t i = 0; i < data.n_items(); ++i) EXPECT_TRUE(std::isfinite(fit.boot_hi[i]));
}

TEST(Bootstrap, Quantiles) {
  const std::vector<double> x = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(quantile_linear(x, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(quantile_inverse_cdf(x, 0.2), 1.0);
  EXPECT_DOUBLE_EQ(quantile_inverse_cdf(x, 0.21), 2.0);
  EXPECT_DOUBLE_EQ(quantile_inverse_cdf(x, 0.975), 5.0);
  EXPECT_DOUBLE_EQ(quantile_inverse_cdf(x, 0.025), 1.0);
}

// ---- standard errors above the dense limit ---------------------------------------------

void expect_cg_equals_dense(const Comparisons& data, BradleyTerryOptions options) {
  const BradleyTerryFit dense = fit_bradley_terry(data, options);
  ASSERT_EQ(dense.status, FitStatus::converged);
  options.solver.dense_limit = 5;
  options.large_scale_se.top = data.n_items();
  const BradleyTerryFit cg = fit_bradley_terry(data, options);
  EXPECT_NE(cg.se_method.find("conjugate gradients"), std::string::npos) << cg.se_method;
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    if (dense.se[i] == 0.0) {
      EXPECT_EQ(cg.se[i], 0.0);
      continue;
    }
    EXPECT_LT(relative_error(cg.se[i], dense.se[i]), 1e-7) << data.item_names[i];
  }
  if (dense.has_home) EXPECT_LT(relative_error(cg.home_se, dense.home_se), 1e-7);
}

TEST(SeAtScale, ConjugateGradientsEqualTheDenseInverse) {
  const Comparisons data = simulated(120, 3000, 15, 0.1);
  BradleyTerryOptions options;
  expect_cg_equals_dense(data, options);  // pseudo-inverse, mean-zero strengths
  options.reference = data.item_names[3];
  expect_cg_equals_dense(data, options);  // differences from a reference
  options.reference.clear();
  options.l2 = 0.7;
  expect_cg_equals_dense(data, options);  // penalized: H^-1
  options.l2 = 0.0;
  options.pseudo = 1.0;
  expect_cg_equals_dense(data, options);
  BradleyTerryOptions home;
  home.home_advantage = true;
  expect_cg_equals_dense(load_baseball_games(), home);
}

TEST(SeAtScale, NamedItemsAndTheStochasticEstimate) {
  const Comparisons data = simulated(60, 6000, 16);
  BradleyTerryOptions options;
  const BradleyTerryFit dense = fit_bradley_terry(data, options);
  options.solver.dense_limit = 10;
  options.large_scale_se.items = {data.item_names[5], data.item_names[7]};
  BradleyTerryFit fit = fit_bradley_terry(data, options);
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    if (i == 5 || i == 7) EXPECT_LT(relative_error(fit.se[i], dense.se[i]), 1e-7);
    else EXPECT_TRUE(std::isnan(fit.se[i]));
  }
  options.large_scale_se.probes = 400;
  fit = fit_bradley_terry(data, options);
  EXPECT_NE(fit.se_method.find("Bekas"), std::string::npos);
  double total = 0.0;
  for (std::size_t i = 0; i < data.n_items(); ++i) {
    if (i == 5 || i == 7) {
      EXPECT_LT(relative_error(fit.se[i], dense.se[i]), 1e-7);  // exact ones are kept
      continue;
    }
    ASSERT_TRUE(std::isfinite(fit.se[i]));
    total += std::fabs(fit.se[i] / dense.se[i] - 1.0);
  }
  EXPECT_LT(total / 58.0, 0.05);  // mean relative error of the SEs
  options.large_scale_se.items = {"no such item"};
  EXPECT_THROW(fit_bradley_terry(data, options), UsageError);
}

// ---- the command line ------------------------------------------------------------------

std::string run(const std::string& args, int* status) {
  const std::string command = std::string(BTFIT_BINARY) + " " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  *status = pipe ? pclose(pipe) : -1;
  return out;
}

TEST(Cli, FirthBootstrapAndSeTop) {
  int status = 0;
  std::string out = run("fit " + data_path("baseball_undefeated.csv") + " --count count --firth", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out.rfind("item,strength,se,", 0), 0u) << out;
  out = run("fit " + data_path("baseball.csv") + " --count count --bootstrap 50 --seed 3", &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find(",boot_lo,boot_hi,rank_lo,rank_hi"), std::string::npos) << out;
  const std::string again = run("fit " + data_path("baseball.csv") + " --count count --bootstrap 50 --seed 3", &status);
  EXPECT_EQ(out, again);
  out = run("fit " + data_path("baseball.csv") + " --count count --dense-limit 3 --se-top 2", &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find(",0.207419476"), std::string::npos) << out;  // Milwaukee, the dense SE to 1e-9
  EXPECT_NE(out.find(",0.204156558"), std::string::npos) << out;  // Detroit
  const std::size_t toronto = out.find("\nToronto,");
  ASSERT_NE(toronto, std::string::npos) << out;
  const std::size_t strength_end = out.find(',', toronto + 9);
  EXPECT_EQ(out[strength_end + 1], ',') << out;  // the third item has no SE
  out = run("logistic " + data_path("pima_separable.csv") + " --label y --features glu,bmi --firth --bootstrap 20",
            &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find("boot_lo,boot_hi"), std::string::npos) << out;
}

}  // namespace
}  // namespace btfit
