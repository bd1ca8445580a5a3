// The Bradley-Terry solvers and aggregation: Newman's iteration, Newton-CG and L-BFGS reach
// the same optimum; fits on aggregated counts equal fits on the comparisons; --solver auto
// picks what the README documents.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <tuple>

#include "btfit/btfit.h"
#include "btfit/detail/rng.h"
#include "objective_cpu.h"
#include "test_helpers.h"

namespace btfit {
namespace {

using testing::data_path;
using testing::read_reference;
using testing::relative_error;

// Few items, many rows: every pair repeats, in both orders, with ties, weights (some 0) and
// home flags, so that aggregation has much to merge.
Comparisons repeated_comparisons(std::size_t n_items, std::size_t n_rows, bool weights) {
  Comparisons data;
  for (std::size_t i = 0; i < n_items; ++i) data.item_names.push_back("item" + std::to_string(i));
  for (std::size_t k = 0; k < n_rows; ++k) {
    const auto a = static_cast<std::uint32_t>(detail::counter_hash(7, 1, k) % n_items);
    auto b = static_cast<std::uint32_t>(detail::counter_hash(7, 2, k) % n_items);
    if (b == a) b = static_cast<std::uint32_t>((a + 1) % n_items);
    const bool home = detail::counter_uniform(7, 3, k) < 0.6;
    const double eta = 0.3 * std::sin(1.0 + a) - 0.3 * std::sin(1.0 + b) + (home ? 0.25 : 0.0);
    const double u = detail::counter_uniform(7, 4, k);
    const double p = 1.0 / (1.0 + std::exp(-eta));
    const double y = u < 0.1 ? 0.5 : (u < 0.1 + 0.9 * p ? 1.0 : 0.0);
    const double w = weights ? static_cast<double>(detail::counter_hash(7, 5, k) % 4) : 1.0;  // 0 to 3
    data.add(a, b, y, w, home);
  }
  return data;
}

void expect_same_fit(const BradleyTerryFit& raw, const BradleyTerryFit& agg) {
  ASSERT_EQ(raw.status, FitStatus::converged);
  ASSERT_EQ(agg.status, FitStatus::converged);
  EXPECT_LT(agg.n_rows_fitted, raw.n_rows_fitted);
  EXPECT_EQ(agg.n_comparisons, raw.n_comparisons);
  EXPECT_LT(relative_error(agg.nll, raw.nll), 1e-12);
  EXPECT_LT(relative_error(agg.objective, raw.objective), 1e-12);
  ASSERT_EQ(agg.strength.size(), raw.strength.size());
  for (std::size_t i = 0; i < raw.strength.size(); ++i) {
    EXPECT_NEAR(agg.strength[i], raw.strength[i], 1e-9) << i;
    EXPECT_NEAR(agg.se[i], raw.se[i], 1e-9 * raw.se[i]) << i;
    EXPECT_EQ(agg.wins[i], raw.wins[i]) << i;
    EXPECT_EQ(agg.losses[i], raw.losses[i]) << i;
    EXPECT_EQ(agg.ties[i], raw.ties[i]) << i;
    EXPECT_EQ(agg.games[i], raw.games[i]) << i;
  }
  EXPECT_NEAR(agg.home, raw.home, 1e-9);
  if (raw.has_home) {
    EXPECT_NEAR(agg.home_se, raw.home_se, 1e-9 * raw.home_se);
  }
}

BradleyTerryFit fit_with(const Comparisons& data, BradleyTerryOptions options, Aggregation aggregate) {
  options.aggregate = aggregate;
  options.solver.tolerance = 1e-12;
  return fit_bradley_terry(data, options);
}

// ---- aggregation -----------------------------------------------------------------------

TEST(Aggregation, GivesTheSameEstimatesSesNllAndRecords) {
  const Comparisons data = repeated_comparisons(12, 5000, true);
  for (bool home : {false, true}) {
    for (double l2 : {0.0, 0.5}) {
      BradleyTerryOptions options;
      options.home_advantage = home;
      options.l2 = l2;
      SCOPED_TRACE("home " + std::to_string(home) + ", l2 " + std::to_string(l2));
      expect_same_fit(fit_with(data, options, Aggregation::off), fit_with(data, options, Aggregation::on));
    }
  }
}

TEST(Aggregation, CollapsesBothOrdersOfAPairAndKeepsHomeGamesApart) {
  Comparisons data;
  data.item_names = {"x", "y", "z"};
  data.add(0, 1, 1.0, 2.0, false);  // x beats y twice
  data.add(1, 0, 0.0, 1.0, false);  // y loses to x: the same term as (x, y, 1)
  data.add(1, 0, 0.5, 1.0, false);  // a tie, either order
  data.add(0, 1, 0.5, 3.0, false);
  data.add(2, 0, 1.0, 1.0, true);  // z at home beats x: z stays first
  data.add(2, 0, 1.0, 0.0, true);  // weight 0: dropped
  const Comparisons plain = aggregate_comparisons(data, false, 2);
  EXPECT_EQ(plain.size(), 3u);  // (x,y,1) weight 3, (x,y,tie) weight 4, (x,z,0) weight 1
  EXPECT_TRUE(plain.at_home.empty());
  double total = 0.0;
  for (std::size_t k = 0; k < plain.size(); ++k) {
    EXPECT_LT(plain.a[k], plain.b[k]);
    total += plain.w(k);
    if (plain.a[k] == 0 && plain.b[k] == 1) EXPECT_EQ(plain.w(k), plain.outcome2[k] == 2 ? 3.0 : 4.0);
    if (plain.b[k] == 2) {
      EXPECT_EQ(plain.outcome2[k], 0);  // x lost to z
      EXPECT_EQ(plain.w(k), 1.0);
    }
  }
  EXPECT_EQ(total, 8.0);
  const Comparisons with_home = aggregate_comparisons(data, true, 1);
  ASSERT_EQ(with_home.at_home.size(), with_home.size());
  bool found = false;
  for (std::size_t k = 0; k < with_home.size(); ++k) {
    if (with_home.at_home[k] == 0) continue;
    found = true;
    EXPECT_EQ(with_home.a[k], 2u);
    EXPECT_EQ(with_home.b[k], 0u);
    EXPECT_EQ(with_home.outcome2[k], 2);
  }
  EXPECT_TRUE(found);
}

TEST(Aggregation, TheSameRowsWhateverTheThreadCount) {
  const Comparisons data = repeated_comparisons(30, 20000, true);
  const Comparisons one = aggregate_comparisons(data, true, 1);
  const Comparisons three = aggregate_comparisons(data, true, 3);
  ASSERT_EQ(one.size(), three.size());
  std::map<std::tuple<std::uint32_t, std::uint32_t, int, int>, double> rows;
  for (std::size_t k = 0; k < one.size(); ++k)
    rows[{one.a[k], one.b[k], one.outcome2[k], one.at_home[k]}] = one.w(k);
  for (std::size_t k = 0; k < three.size(); ++k)
    EXPECT_EQ((rows[{three.a[k], three.b[k], three.outcome2[k], three.at_home[k]}]), three.w(k));
}

TEST(Aggregation, TheDistinctFractionEstimateIsClose) {
  for (auto popularity : {Popularity::uniform, Popularity::heavy_tailed}) {
    ComparisonSimulation spec;
    spec.n_items = 300;
    spec.n_comparisons = 200000;
    spec.popularity = popularity;
    spec.tie_rate = 0.05;
    const Comparisons data = simulate_comparisons(spec, nullptr);
    const double actual = static_cast<double>(aggregate_comparisons(data, false, 2).size()) / data.size();
    EXPECT_NEAR(estimate_distinct_fraction(data, false, 2), actual, 0.03);
  }
}

TEST(Aggregation, AutomaticWhenRowsRepeatAndNotWhenTheyDoNot) {
  BradleyTerryOptions options;
  options.solver.standard_errors = false;
  ComparisonSimulation spec;
  spec.n_items = 50;  // 1225 pairs: 100000 comparisons collapse to a few thousand rows
  spec.n_comparisons = 100000;
  const BradleyTerryFit few = fit_bradley_terry(simulate_comparisons(spec, nullptr), options);
  EXPECT_LT(few.n_rows_fitted, 5000u);
  EXPECT_EQ(few.n_comparisons, 100000u);
  spec.n_items = 20000;  // 2e8 pairs: nearly every comparison is its own row
  spec.n_comparisons = 100000;
  options.l2 = 1.0;
  const BradleyTerryFit many = fit_bradley_terry(simulate_comparisons(spec, nullptr), options);
  EXPECT_EQ(many.n_rows_fitted, many.n_comparisons);
}

// ---- the solvers reach the same optimum ------------------------------------------------

struct SolverCase {
  Popularity popularity;
  double l2;
  double pseudo;
  std::string name;
};

class SameOptimum : public ::testing::TestWithParam<SolverCase> {};

TEST_P(SameOptimum, NewmanNewtonAndLbfgs) {
  const SolverCase c = GetParam();
  ComparisonSimulation spec;
  spec.n_items = 150;
  spec.n_comparisons = 60000;
  spec.tie_rate = 0.05;
  spec.popularity = c.popularity;
  spec.seed = 3;
  const Comparisons data = simulate_comparisons(spec, nullptr);
  BradleyTerryOptions options;
  options.l2 = c.l2;
  options.pseudo = c.pseudo;
  options.aggregate = Aggregation::off;
  options.solver.tolerance = 1e-10;
  options.solver.max_iterations = 5000;
  BradleyTerryFit fits[3];
  const Solver solvers[3] = {Solver::newman, Solver::newton, Solver::lbfgs};
  for (int s = 0; s < 3; ++s) {
    options.solver.solver = solvers[s];
    fits[s] = fit_bradley_terry(data, options);
    ASSERT_EQ(fits[s].status, FitStatus::converged)
        << fits[s].solver << " " << fits[s].optimizer_status << fits[s].diagnosis.message;
  }
  EXPECT_EQ(fits[0].solver, "newman");
  for (int s = 1; s < 3; ++s) {
    EXPECT_LT(relative_error(fits[s].objective, fits[0].objective), 1e-10) << fits[s].solver;
    for (std::size_t i = 0; i < spec.n_items; ++i)
      EXPECT_NEAR(fits[s].strength[i], fits[0].strength[i], 1e-6) << fits[s].solver << " item " << i;
  }
  // Newman's iteration needs far fewer passes than the seam solvers here.
  EXPECT_LT(fits[0].passes, fits[1].passes);
}

INSTANTIATE_TEST_SUITE_P(Simulated, SameOptimum,
                         ::testing::Values(SolverCase{Popularity::uniform, 0.0, 0.0, "uniform_mle"},
                                           SolverCase{Popularity::uniform, 1.0, 0.0, "uniform_l2"},
                                           SolverCase{Popularity::uniform, 0.0, 1.0, "uniform_pseudo"},
                                           SolverCase{Popularity::heavy_tailed, 0.0, 0.0, "heavy_mle"},
                                           SolverCase{Popularity::heavy_tailed, 1.0, 0.0, "heavy_l2"},
                                           SolverCase{Popularity::heavy_tailed, 0.0, 1.0, "heavy_pseudo"}),
                         [](const ::testing::TestParamInfo<SolverCase>& info) { return info.param.name; });

TEST(Newman, HomeAdvantageWeightsTiesAndPriors) {
  const Comparisons data = repeated_comparisons(40, 20000, true);
  BradleyTerryOptions options;
  options.home_advantage = true;
  options.prior = {{"item3", 0.5, 0.2}, {"(home)", 0.0, 1.0}};
  options.pseudo = 0.5;
  options.aggregate = Aggregation::off;
  options.solver.tolerance = 1e-12;
  options.solver.solver = Solver::newman;
  const BradleyTerryFit newman = fit_bradley_terry(data, options);
  options.solver.solver = Solver::newton;
  const BradleyTerryFit newton = fit_bradley_terry(data, options);
  ASSERT_EQ(newman.status, FitStatus::converged);
  ASSERT_EQ(newton.status, FitStatus::converged);
  EXPECT_LT(relative_error(newman.objective, newton.objective), 1e-12);
  EXPECT_NEAR(newman.home, newton.home, 1e-7);
  for (std::size_t i = 0; i < newman.strength.size(); ++i)
    EXPECT_NEAR(newman.strength[i], newton.strength[i], 1e-7);
}

// More items than one tile of host/newman.cpp (16384): the passes read the comparisons as
// tiles of wins, and on unweighted wins the NLL comes with the last pass. Against Newton-CG
// on the comparisons as they are: winner-loser rows; ties (half wins, weighted tiles) with
// rows where b won; and a prior that puts one strength near 1500, beyond the range where
// worths exp(s - m) are used, so that the passes take one exp per comparison instead.
struct TiledCase {
  double tie_rate;
  bool extreme_prior;
  const char* name;
};

class NewmanTiles : public ::testing::TestWithParam<TiledCase> {};

TEST_P(NewmanTiles, SameOptimumAsNewtonCg) {
  const TiledCase c = GetParam();
  ComparisonSimulation spec;
  spec.n_items = 20000;
  spec.n_comparisons = 300000;
  spec.tie_rate = c.tie_rate;
  spec.seed = 11;
  Comparisons data = simulate_comparisons(spec, nullptr);
  if (c.tie_rate > 0.0) {
    // Every third row as "b lost to a" written the other way round (outcome 0).
    for (std::size_t k = 0; k < data.size(); k += 3) {
      if (data.outcome2[k] == 1) continue;
      std::swap(data.a[k], data.b[k]);
      data.outcome2[k] = static_cast<std::uint8_t>(2 - data.outcome2[k]);
    }
  }
  BradleyTerryOptions options;
  options.l2 = 1.0;
  if (c.extreme_prior) options.prior = {{data.item_names[5], 3000.0, 1.0}};  // with --l2 1: about 1500
  options.aggregate = Aggregation::off;
  options.solver.standard_errors = false;
  options.solver.tolerance = 1e-10;
  options.solver.solver = Solver::newman;
  const BradleyTerryFit newman = fit_bradley_terry(data, options);
  options.solver.solver = Solver::newton;
  const BradleyTerryFit newton = fit_bradley_terry(data, options);
  ASSERT_EQ(newman.status, FitStatus::converged) << newman.optimizer_status;
  ASSERT_EQ(newton.status, FitStatus::converged) << newton.optimizer_status;
  EXPECT_EQ(newman.solver, "newman");
  EXPECT_LT(relative_error(newman.objective, newton.objective), 1e-12);
  EXPECT_LT(relative_error(newman.nll, newton.nll), 1e-11);
  double largest = 0.0;
  for (std::size_t i = 0; i < newman.strength.size(); ++i) {
    EXPECT_NEAR(newman.strength[i], newton.strength[i], 1e-6) << i;
    largest = std::max(largest, std::fabs(newman.strength[i]));
  }
  if (c.extreme_prior) EXPECT_GT(largest, 1250.0);  // half the range above 600
  // The NLL from Newman's last pass equals a separate evaluation at the same point.
  BradleyTerryCpuObjective objective(data, false, 0);
  std::vector<double> theta(newman.strength);
  EXPECT_LT(relative_error(newman.nll, objective.value(theta.data())), 1e-13);
  std::vector<double> gradient(theta.size());
  EXPECT_LT(relative_error(newman.nll, objective.value_gradient(theta.data(), gradient.data())), 1e-13);
}

INSTANTIATE_TEST_SUITE_P(ManyItems, NewmanTiles,
                         ::testing::Values(TiledCase{0.0, false, "wins"}, TiledCase{0.05, false, "ties_and_b_wins"},
                                           TiledCase{0.0, true, "extreme_prior"}),
                         [](const ::testing::TestParamInfo<TiledCase>& info) { return info.param.name; });

// Logistic regression on dense rows: Solver::automatic takes Newton's method with the
// Hessian from the rows (all of them, or a sample of blocks above 2 x 131072 rows); it must
// reach Newton-CG's optimum, with weights, an intercept, L2 and a prior.
struct DenseNewtonCase {
  std::size_t rows;
  bool penalized;
  const char* solver;
  const char* name;
};

class DenseNewton : public ::testing::TestWithParam<DenseNewtonCase> {};

TEST_P(DenseNewton, SameOptimumAsNewtonCg) {
  const DenseNewtonCase c = GetParam();
  RowSimulation spec;
  spec.n_rows = c.rows;
  spec.n_features = 6;
  spec.seed = 4;
  Rows rows = simulate_rows(spec, nullptr);
  rows.weight.resize(rows.n_rows);
  for (std::size_t i = 0; i < rows.n_rows; ++i) rows.weight[i] = 0.5 + static_cast<double>(i % 4);
  LogisticOptions options;
  if (c.penalized) {
    options.l2 = 2.0;
    options.prior = {{"x3", 0.5, 0.1}};
  }
  options.solver.standard_errors = false;
  options.solver.tolerance = 1e-10;
  const LogisticFit automatic = fit_logistic(rows, options);
  options.solver.solver = Solver::newton;
  const LogisticFit newton_cg = fit_logistic(rows, options);
  ASSERT_EQ(automatic.status, FitStatus::converged) << automatic.optimizer_status;
  ASSERT_EQ(newton_cg.status, FitStatus::converged) << newton_cg.optimizer_status;
  EXPECT_EQ(automatic.solver, c.solver);
  EXPECT_EQ(newton_cg.solver, "newton-cg");
  EXPECT_LT(relative_error(automatic.objective, newton_cg.objective), 1e-12);
  EXPECT_LT(relative_error(automatic.nll, newton_cg.nll), 1e-12);
  for (std::size_t j = 0; j < automatic.estimate.size(); ++j)
    EXPECT_NEAR(automatic.estimate[j], newton_cg.estimate[j], 1e-7) << automatic.terms[j];
  // One pass per iteration (and per rejected step) against Newton-CG's three or more.
  EXPECT_LT(automatic.passes, newton_cg.passes);
  // The value reported is the objective at the estimate.
  LogisticCpuObjective objective(rows, true, 0);
  std::vector<double> theta(automatic.estimate), gradient(theta.size());
  const double nll = objective.value_gradient(theta.data(), gradient.data());
  EXPECT_LT(relative_error(automatic.nll, nll), 1e-13);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DenseNewton,
    ::testing::Values(DenseNewtonCase{5000, true, "newton (exact Hessian)", "exact_penalized"},
                      DenseNewtonCase{5000, false, "newton (exact Hessian)", "exact_mle"},
                      DenseNewtonCase{300000, false, "newton (Hessian from a sample of rows)", "sampled_mle"},
                      DenseNewtonCase{300000, true, "newton (Hessian from a sample of rows)", "sampled_penalized"}),
    [](const ::testing::TestParamInfo<DenseNewtonCase>& info) { return info.param.name; });

TEST(Newman, ConvergesOnABipartiteStar) {
  // Every item against one reference: the plain simultaneous update swings forever here.
  Comparisons data;
  for (int i = 0; i < 30; ++i) data.item_names.push_back("m" + std::to_string(i));
  for (std::uint32_t i = 1; i < 30; ++i) {
    data.add(i, 0, 1.0, 1.0 + i % 5);
    data.add(i, 0, 0.0, 2.0 + i % 3);
  }
  BradleyTerryOptions options;
  options.solver.solver = Solver::newman;
  options.solver.tolerance = 1e-12;
  options.reference = "m0";
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  for (std::uint32_t i = 1; i < 30; ++i)
    EXPECT_NEAR(fit.strength[i], std::log((1.0 + i % 5) / (2.0 + i % 3)), 1e-9);  // closed form
}

TEST(NewmanReference, BaseballMatchesStatsmodelsAndScipy) {
  ComparisonColumns cols;
  cols.count = "count";
  const Comparisons data = load_comparisons(data_path("baseball.csv"), cols);
  struct Case {
    const char* file;
    double l2, pseudo;
    bool prior;
  };
  for (const Case c :
       {Case{"ref_bt_baseball.csv", 0.0, 0.0, false}, Case{"ref_bt_baseball_l2.csv", 2.5, 0.0, false},
        Case{"ref_bt_baseball_pseudo.csv", 0.0, 1.0, false},
        Case{"ref_bt_baseball_prior.csv", 0.0, 0.0, true}}) {
    BradleyTerryOptions options;
    options.l2 = c.l2;
    options.pseudo = c.pseudo;
    if (c.prior) options.prior = load_prior(data_path("prior_baseball.csv"));
    options.solver.solver = Solver::newman;
    const BradleyTerryFit fit = fit_bradley_terry(data, options);
    ASSERT_EQ(fit.status, FitStatus::converged) << c.file;
    for (const auto& [name, row] : read_reference(c.file)) {
      std::size_t i = 0;
      while (i < fit.item_names.size() && fit.item_names[i] != name) ++i;
      ASSERT_LT(i, fit.item_names.size()) << name;
      EXPECT_NEAR(fit.strength[i], row.estimate, 1e-6 * std::max(1.0, std::fabs(row.estimate)))
          << c.file << name;
      EXPECT_NEAR(fit.se[i], row.se, 1e-5 * row.se) << c.file << name;
    }
  }
}

// ---- --solver auto ---------------------------------------------------------------------

TEST(AutomaticSolver, NewmanOnTheCpu) {
  ComparisonSimulation spec;
  spec.n_items = 100;
  spec.n_comparisons = 20000;
  BradleyTerryOptions options;
  options.solver.device = Device::cpu;
  const BradleyTerryFit fit = fit_bradley_terry(simulate_comparisons(spec, nullptr), options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  EXPECT_EQ(fit.solver, "newman");
}

TEST(AutomaticSolver, NewtonTakesOverOnALongChain) {
  // A chain of 400 items, each against the next: the spectral gap is tiny and Newman's rate
  // predicts thousands of passes; auto hands over to Newton-CG and still converges.
  Comparisons data;
  const std::uint32_t n = 400;
  for (std::uint32_t i = 0; i < n; ++i) data.item_names.push_back("c" + std::to_string(i));
  for (std::uint32_t i = 0; i + 1 < n; ++i) {
    data.add(i, i + 1, 1.0, 3.0 + i % 2);
    data.add(i + 1, i, 1.0, 2.0 + i % 3);
  }
  BradleyTerryOptions options;
  options.solver.device = Device::cpu;
  options.solver.standard_errors = false;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.optimizer_status;
  EXPECT_EQ(fit.solver, "newman, then newton-cg");
  options.solver.solver = Solver::newton;
  const BradleyTerryFit newton = fit_bradley_terry(data, options);
  EXPECT_LT(relative_error(fit.objective, newton.objective), 1e-10);
}

TEST(AutomaticSolver, NewmanIsForBradleyTerryOnly) {
  Rows rows;
  rows.n_rows = 4;
  rows.label = {1, 0, 1, 0};
  LogisticOptions options;
  options.solver.solver = Solver::newman;
  EXPECT_THROW(fit_logistic(rows, options), UsageError);
}

TEST(AutomaticSolver, TheCommandLineAcceptsNewmanAndAggregate) {
  const std::string out = ::testing::TempDir() + "btfit_solver_cli.csv";
  const std::string command = std::string(BTFIT_BINARY) + " fit " + data_path("baseball.csv") +
                              " --count count --solver newman --aggregate on --out " + out + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string summary;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) summary += buffer;
  EXPECT_EQ(pclose(pipe), 0) << summary;
  EXPECT_NE(summary.find("of newman"), std::string::npos) << summary;
  std::ifstream in(out);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("item,strength,se", 0), 0u);
  std::remove(out.c_str());
}

}  // namespace
}  // namespace btfit
