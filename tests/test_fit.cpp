// Fits through the public API: closed forms, agreement with statsmodels/scipy references
// (tests/data/README.md says how they were made), both solvers, and the existence rules.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "btfit/btfit.h"
#include "test_helpers.h"

namespace btfit {
namespace {

using testing::data_path;
using testing::read_reference;
using testing::read_reference_nll;

Comparisons from_records(const std::vector<std::tuple<std::string, std::string, double, double>>& records) {
  ItemDictionary dict;
  Comparisons c;
  for (const auto& [a, b, y, w] : records) c.add(dict, a, b, y, w);
  return c;
}

double strength_of(const BradleyTerryFit& fit, const std::string& name) {
  for (std::size_t i = 0; i < fit.item_names.size(); ++i)
    if (fit.item_names[i] == name) return fit.strength[i];
  ADD_FAILURE() << "no item " << name;
  return NAN;
}

double se_of(const BradleyTerryFit& fit, const std::string& name) {
  for (std::size_t i = 0; i < fit.item_names.size(); ++i)
    if (fit.item_names[i] == name) return fit.se[i];
  ADD_FAILURE() << "no item " << name;
  return NAN;
}

// ---- closed forms ---------------------------------------------------------------------

TEST(ClosedForm, CoinWith63HeadsIn100Tosses) {
  Rows rows;
  rows.n_rows = 100;
  rows.n_features = 0;
  for (int i = 0; i < 100; ++i) rows.label.push_back(i < 63 ? 1.0 : 0.0);
  for (Solver solver : {Solver::newton, Solver::lbfgs}) {
    LogisticOptions options;
    options.solver.solver = solver;
    options.solver.tolerance = 1e-13;  // closed forms are checked to 1e-9
    const LogisticFit fit = fit_logistic(rows, options);
    ASSERT_EQ(fit.status, FitStatus::converged);
    ASSERT_EQ(fit.terms.size(), 1u);
    EXPECT_NEAR(fit.estimate[0], std::log(63.0 / 37.0), 1e-9);
    EXPECT_NEAR(fit.se[0], std::sqrt(1.0 / (100 * 0.63 * 0.37)), 1e-9);
  }
  // The same as two weighted rows.
  Rows weighted;
  weighted.n_rows = 2;
  weighted.label = {1.0, 0.0};
  weighted.weight = {63.0, 37.0};
  LogisticOptions tight;
  tight.solver.tolerance = 1e-13;
  const LogisticFit fit = fit_logistic(weighted, tight);
  EXPECT_NEAR(fit.estimate[0], std::log(63.0 / 37.0), 1e-9);
  EXPECT_NEAR(fit.se[0], std::sqrt(1.0 / (100 * 0.63 * 0.37)), 1e-9);
  EXPECT_NEAR(fit.nll, -(63 * std::log(0.63) + 37 * std::log(0.37)), 1e-9);
}

TEST(ClosedForm, TwoItemsGiveLogOfTheWinRatio) {
  const double wins = 7, losses = 3;
  const Comparisons data = from_records({{"A", "B", 1.0, wins}, {"A", "B", 0.0, losses}});
  BradleyTerryOptions options;
  options.solver.tolerance = 1e-13;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  const double d = std::log(wins / losses);
  EXPECT_NEAR(strength_of(fit, "A"), d / 2, 1e-9);
  EXPECT_NEAR(strength_of(fit, "B"), -d / 2, 1e-9);
  const double p = wins / (wins + losses);
  const double var_d = 1.0 / ((wins + losses) * p * (1 - p));
  EXPECT_NEAR(se_of(fit, "A"), std::sqrt(var_d) / 2, 1e-9);  // mean-zero: s_A = d/2
  options.reference = "B";
  const BradleyTerryFit ref = fit_bradley_terry(data, options);
  EXPECT_NEAR(strength_of(ref, "A"), d, 1e-9);
  EXPECT_NEAR(se_of(ref, "A"), std::sqrt(var_d), 1e-9);
  EXPECT_EQ(strength_of(ref, "B"), 0.0);
  EXPECT_EQ(se_of(ref, "B"), 0.0);
  EXPECT_EQ(fit.wins[0], wins);
  EXPECT_EQ(fit.losses[0], losses);
  EXPECT_EQ(fit.games[1], wins + losses);
}

TEST(ClosedForm, TiesCountAsHalfAWin) {
  // 3 wins, 1 loss, 2 ties: A scores 4 of 6.
  const Comparisons data =
      from_records({{"A", "B", 1.0, 3}, {"A", "B", 0.0, 1}, {"B", "A", 0.5, 2}});
  BradleyTerryOptions options;
  options.reference = "B";
  options.solver.tolerance = 1e-13;
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  EXPECT_NEAR(strength_of(fit, "A"), std::log(4.0 / 2.0), 1e-9);
  EXPECT_EQ(fit.ties[0], 2.0);
}

TEST(ClosedForm, BalancedRoundRobinGivesEqualStrengths) {
  std::vector<std::tuple<std::string, std::string, double, double>> records;
  const int n = 6;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      records.emplace_back("p" + std::to_string(i), "p" + std::to_string(j), 1.0, 2.0);
      records.emplace_back("p" + std::to_string(j), "p" + std::to_string(i), 1.0, 2.0);
    }
  const BradleyTerryFit fit = fit_bradley_terry(from_records(records), BradleyTerryOptions{});
  ASSERT_EQ(fit.status, FitStatus::converged);
  for (double s : fit.strength) EXPECT_NEAR(s, 0.0, 1e-12);
  for (double se : fit.se) EXPECT_NEAR(se, fit.se[0], 1e-12);
}

TEST(ClosedForm, DoublingEveryWeightDoublesTheNll) {
  const Comparisons one = from_records({{"A", "B", 1.0, 2}, {"B", "C", 1.0, 1}, {"C", "A", 1.0, 3}, {"B", "A", 1.0, 1}});
  const Comparisons two = from_records({{"A", "B", 1.0, 4}, {"B", "C", 1.0, 2}, {"C", "A", 1.0, 6}, {"B", "A", 1.0, 2}});
  const auto f1 = fit_bradley_terry(one, BradleyTerryOptions{});
  const auto f2 = fit_bradley_terry(two, BradleyTerryOptions{});
  EXPECT_NEAR(f2.nll, 2 * f1.nll, 1e-9);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(f1.strength[i], f2.strength[i], 1e-9);
    EXPECT_NEAR(f2.se[i], f1.se[i] / std::sqrt(2.0), 1e-9);
  }
}

// ---- references ------------------------------------------------------------------------

void expect_matches(const BradleyTerryFit& fit, const std::string& file) {
  const auto ref = read_reference(file);
  ASSERT_FALSE(ref.empty()) << file;
  for (const auto& [name, row] : ref) {
    if (name == "(home)") {
      EXPECT_NEAR(fit.home, row.estimate, 1e-6 * std::max(1.0, std::fabs(row.estimate))) << file;
      EXPECT_NEAR(fit.home_se, row.se, 1e-5 * row.se) << file;
      continue;
    }
    EXPECT_NEAR(strength_of(fit, name), row.estimate, 1e-6 * std::max(1.0, std::fabs(row.estimate))) << file << " " << name;
    EXPECT_NEAR(se_of(fit, name), row.se, 1e-5 * row.se) << file << " " << name;
  }
}

class BaseballReference : public ::testing::TestWithParam<Solver> {};

TEST_P(BaseballReference, UnpenalizedMatchesStatsmodels) {
  ComparisonColumns cols;
  cols.count = "count";
  const Comparisons data = load_comparisons(data_path("baseball.csv"), cols);
  BradleyTerryOptions options;
  options.solver.solver = GetParam();
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.optimizer_status;
  expect_matches(fit, "ref_bt_baseball.csv");
  EXPECT_NEAR(fit.nll, read_reference_nll("bt_baseball").first, 1e-8);
}

TEST_P(BaseballReference, L2MatchesScipy) {
  ComparisonColumns cols;
  cols.count = "count";
  const Comparisons data = load_comparisons(data_path("baseball.csv"), cols);
  BradleyTerryOptions options;
  options.l2 = 2.5;
  options.solver.solver = GetParam();
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_bt_baseball_l2.csv");
  EXPECT_NEAR(fit.objective, read_reference_nll("bt_baseball_l2").second, 1e-8);
}

TEST_P(BaseballReference, PseudoComparisonsMatchScipy) {
  ComparisonColumns cols;
  cols.count = "count";
  const Comparisons data = load_comparisons(data_path("baseball.csv"), cols);
  BradleyTerryOptions options;
  options.pseudo = 1.0;
  options.solver.solver = GetParam();
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_bt_baseball_pseudo.csv");
  EXPECT_NEAR(fit.nll, read_reference_nll("bt_baseball_pseudo").first, 1e-8);
  EXPECT_NEAR(fit.objective, read_reference_nll("bt_baseball_pseudo").second, 1e-8);
}

TEST_P(BaseballReference, PriorsMatchScipy) {
  ComparisonColumns cols;
  cols.count = "count";
  const Comparisons data = load_comparisons(data_path("baseball.csv"), cols);
  BradleyTerryOptions options;
  options.prior = load_prior(data_path("prior_baseball.csv"));
  options.solver.solver = GetParam();
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_bt_baseball_prior.csv");
}

TEST_P(BaseballReference, HomeAdvantageMatchesStatsmodels) {
  ComparisonColumns cols;
  cols.a = "home";
  cols.b = "away";
  cols.outcome = "outcome";
  cols.home_flags = true;
  const Comparisons data = load_comparisons(data_path("baseball_games.csv"), cols);
  BradleyTerryOptions options;
  options.home_advantage = true;
  options.solver.solver = GetParam();
  const BradleyTerryFit fit = fit_bradley_terry(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_bt_baseball_home.csv");
  EXPECT_NEAR(fit.nll, read_reference_nll("bt_baseball_home").first, 1e-8);
}

INSTANTIATE_TEST_SUITE_P(Solvers, BaseballReference, ::testing::Values(Solver::newton, Solver::lbfgs));

void expect_matches(const LogisticFit& fit, const std::string& file) {
  const auto ref = read_reference(file);
  ASSERT_EQ(ref.size(), fit.terms.size()) << file;
  for (std::size_t j = 0; j < fit.terms.size(); ++j) {
    const auto& row = ref.at(fit.terms[j]);
    EXPECT_NEAR(fit.estimate[j], row.estimate, 1e-6 * std::max(1e-2, std::fabs(row.estimate))) << file << " " << fit.terms[j];
    EXPECT_NEAR(fit.se[j], row.se, 1e-5 * row.se) << file << " " << fit.terms[j];
  }
}

class PimaReference : public ::testing::TestWithParam<Solver> {};

TEST_P(PimaReference, UnpenalizedMatchesStatsmodels) {
  RowColumns cols;
  cols.label = "y";
  const Rows data = load_rows(data_path("pima_tr.csv"), cols);
  LogisticOptions options;
  options.solver.solver = GetParam();
  const LogisticFit fit = fit_logistic(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged) << fit.optimizer_status;
  expect_matches(fit, "ref_logistic_pima.csv");
  EXPECT_NEAR(fit.nll, read_reference_nll("logistic_pima").first, 1e-8);
  // z and p-value follow from the estimate and SE.
  EXPECT_NEAR(fit.z[0], fit.estimate[0] / fit.se[0], 1e-12);
  EXPECT_NEAR(fit.p_value[0], std::erfc(std::fabs(fit.z[0]) / std::sqrt(2.0)), 1e-15);
}

TEST_P(PimaReference, L2MatchesScikitLearn) {
  RowColumns cols;
  cols.label = "y";
  const Rows data = load_rows(data_path("pima_tr.csv"), cols);
  LogisticOptions options;
  options.l2 = 3.0;
  options.solver.solver = GetParam();
  const LogisticFit fit = fit_logistic(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_logistic_pima_l2.csv");
  EXPECT_NEAR(fit.objective, read_reference_nll("logistic_pima_l2").second, 1e-8);
}

TEST_P(PimaReference, FrequencyWeightsMatchStatsmodels) {
  RowColumns cols;
  cols.label = "y";
  cols.weight = "w";
  const Rows data = load_rows(data_path("pima_weighted.csv"), cols);
  LogisticOptions options;
  options.solver.solver = GetParam();
  const LogisticFit fit = fit_logistic(data, options);
  ASSERT_EQ(fit.status, FitStatus::converged);
  expect_matches(fit, "ref_logistic_pima_weighted.csv");
}

INSTANTIATE_TEST_SUITE_P(Solvers, PimaReference, ::testing::Values(Solver::newton, Solver::lbfgs));

// ---- existence ---------------------------------------------------------------------------

TEST(Existence, UndefeatedAndWinlessItemsAreNamed) {
  // A, B, C beat each other in a cycle; D beat everyone; E lost to everyone.
  const Comparisons data = from_records({{"A", "B", 1, 1}, {"B", "C", 1, 1}, {"C", "A", 1, 1}, {"D", "A", 1, 2},
                                         {"D", "B", 1, 1}, {"A", "E", 1, 1}, {"C", "E", 1, 3}});
  const BradleyTerryFit fit = fit_bradley_terry(data, BradleyTerryOptions{});
  EXPECT_EQ(fit.status, FitStatus::not_estimable);
  const auto& d = fit.diagnosis;
  EXPECT_FALSE(d.strongly_connected);
  ASSERT_EQ(d.never_lost.size(), 1u);
  ASSERT_EQ(d.never_lost[0].items.size(), 1u);
  EXPECT_EQ(data.item_names[d.never_lost[0].items[0]], "D");
  EXPECT_EQ(d.never_lost[0].wins, 3.0);
  EXPECT_EQ(d.never_lost[0].losses, 0.0);
  ASSERT_EQ(d.never_won.size(), 1u);
  EXPECT_EQ(data.item_names[d.never_won[0].items[0]], "E");
  EXPECT_EQ(d.never_won[0].losses, 4.0);
  EXPECT_NE(d.message.find("D (3 wins, 0 losses"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("--pseudo"), std::string::npos);
  EXPECT_NE(d.message.find("--l2"), std::string::npos);
  EXPECT_NE(d.message.find("--prior"), std::string::npos);
}

TEST(Existence, AGroupThatNeverLostIsNamedAsAGroup) {
  // {X, Y} beat each other and beat A; A, B beat each other.
  const Comparisons data = from_records({{"X", "Y", 1, 1}, {"Y", "X", 1, 1}, {"X", "A", 1, 1}, {"Y", "B", 1, 1},
                                         {"A", "B", 1, 1}, {"B", "A", 1, 1}});
  const auto d = diagnose_bradley_terry(data, BradleyTerryOptions{});
  EXPECT_FALSE(d.estimable);
  ASSERT_EQ(d.never_lost.size(), 1u);
  EXPECT_EQ(d.never_lost[0].items.size(), 2u);
  EXPECT_NE(d.message.find("group of 2 items"), std::string::npos) << d.message;
}

TEST(Existence, PenaltiesAndPseudoComparisonsMakeItFinite) {
  const Comparisons data = from_records({{"A", "B", 1, 1}, {"B", "C", 1, 1}, {"C", "A", 1, 1}, {"D", "A", 1, 2}});
  for (int mode = 0; mode < 2; ++mode) {
    BradleyTerryOptions options;
    if (mode == 0) options.l2 = 1.0; else options.pseudo = 1.0;
    const BradleyTerryFit fit = fit_bradley_terry(data, options);
    ASSERT_EQ(fit.status, FitStatus::converged);
    for (double s : fit.strength) EXPECT_TRUE(std::isfinite(s));
    EXPECT_GT(strength_of(fit, "D"), strength_of(fit, "A"));
    for (double se : fit.se) EXPECT_TRUE(std::isfinite(se) && se > 0);
  }
}

TEST(Existence, PriorsMustBoundEveryComponentFromBothSides) {
  // {A, B, C} strongly connected; D beat A and never lost.
  const Comparisons data = from_records({{"A", "B", 1, 1}, {"B", "C", 1, 1}, {"C", "A", 1, 1}, {"D", "A", 1, 2}});
  auto with_prior = [&](std::vector<std::string> names) {
    BradleyTerryOptions options;
    for (auto& n : names) options.prior.push_back({n, 0.0, 1.0});
    return diagnose_bradley_terry(data, options).estimable;
  };
  EXPECT_FALSE(with_prior({}));
  EXPECT_FALSE(with_prior({"D"}));  // {A,B,C} can still fall to -infinity
  EXPECT_FALSE(with_prior({"A"}));  // D can still rise to +infinity
  EXPECT_TRUE(with_prior({"A", "D"}));
  BradleyTerryOptions options;
  options.prior = {{"A", 0.0, 1.0}, {"D", 0.0, 1.0}};
  const auto fit = fit_bradley_terry(data, options);
  EXPECT_EQ(fit.status, FitStatus::converged);
}

TEST(Existence, DisconnectedGroupsAreReportedEvenWithAPenalty) {
  const Comparisons data = from_records({{"A", "B", 1, 1}, {"B", "A", 1, 1}, {"C", "D", 1, 1}, {"D", "C", 1, 2}});
  const auto d = diagnose_bradley_terry(data, BradleyTerryOptions{});
  EXPECT_FALSE(d.estimable);
  EXPECT_EQ(d.n_groups, 2u);
  BradleyTerryOptions options;
  options.l2 = 0.5;
  const auto fit = fit_bradley_terry(data, options);
  EXPECT_EQ(fit.status, FitStatus::converged);
  EXPECT_EQ(fit.diagnosis.n_groups, 2u);
  EXPECT_NE(fit.diagnosis.message.find("not comparable"), std::string::npos);
  ASSERT_FALSE(fit.notes.empty());
}

// Strongly connected components by brute force (reachability from every item), the
// reference for the propagation and contraction in host/existence.cpp.
std::size_t count_strong_components(const Comparisons& data) {
  const std::size_t n = data.n_items();
  std::vector<std::vector<std::uint32_t>> out(n);
  for (std::size_t k = 0; k < data.size(); ++k) {
    if (!(data.w(k) > 0.0)) continue;
    if (data.outcome2[k] >= 1) out[data.b[k]].push_back(data.a[k]);
    if (data.outcome2[k] <= 1) out[data.a[k]].push_back(data.b[k]);
  }
  std::vector<std::vector<char>> reach(n, std::vector<char>(n, 0));
  for (std::size_t s = 0; s < n; ++s) {
    std::vector<std::uint32_t> stack{static_cast<std::uint32_t>(s)};
    reach[s][s] = 1;
    while (!stack.empty()) {
      const auto v = stack.back();
      stack.pop_back();
      for (auto w : out[v])
        if (!reach[s][w]) { reach[s][w] = 1; stack.push_back(w); }
    }
  }
  std::vector<char> seen(n, 0);
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (seen[i]) continue;
    ++count;
    for (std::size_t j = i; j < n; ++j)
      if (reach[i][j] && reach[j][i]) seen[j] = 1;
  }
  return count;
}

TEST(Existence, LargeGraphWithAFewItemsOutsideItsMainComponent) {
  // 300 items in random games (one strongly connected component), plus: X lost every game
  // to them, {Y1, Y2} beat each other and beat them, {Z1, Z2} played only each other, U never
  // played, and a weight-0 row in which X won (ignored). The first row of positive weight
  // decides where the check starts: in the main component, at Y1 or Y2, or (the weight-0 row
  // first) at the row after it.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> pick(0, 299);
  auto item = [](int i) { return "i" + std::to_string(i); };
  std::vector<std::tuple<std::string, std::string, double, double>> rows;
  for (int k = 0; k < 4000; ++k) {
    const int a = pick(rng);
    int b = pick(rng);
    if (b == a) b = (a + 1) % 300;
    rows.emplace_back(item(a), item(b), k % 7 == 0 ? 0.5 : 1.0, 1.0);
  }
  for (int k = 0; k < 5; ++k) rows.emplace_back(item(pick(rng)), "X", 1.0, 1.0);
  rows.emplace_back("X", item(3), 1.0, 0.0);
  rows.emplace_back("Y1", "Y2", 1.0, 1.0);
  rows.emplace_back("Y2", "Y1", 1.0, 1.0);
  for (int k = 0; k < 3; ++k) rows.emplace_back(k % 2 ? "Y1" : "Y2", item(pick(rng)), 1.0, 2.0);
  rows.emplace_back("Z1", "Z2", 1.0, 1.0);
  rows.emplace_back("Z2", "Z1", 0.0, 1.0);  // b won: Z1 beat Z2 again
  rows.emplace_back("Z2", "Z1", 1.0, 1.0);
  const std::size_t y_row = 4008, zero_weight_row = 4005;
  ASSERT_EQ(std::get<3>(rows[zero_weight_row]), 0.0);
  ASSERT_EQ(std::get<0>(rows[y_row]), "Y2");
  for (int start = 0; start < 3; ++start) {
    auto ordered = rows;
    if (start == 1) std::swap(ordered[0], ordered[y_row]);
    if (start == 2) std::swap(ordered[0], ordered[zero_weight_row]);
    ItemDictionary dict;
    Comparisons data;
    for (const auto& [a, b, y, w] : ordered) data.add(dict, a, b, y, w);
    data.item_names = dict.names();
    data.item_names.push_back("U");  // an item with no comparison
    const auto d = diagnose_bradley_terry(data, BradleyTerryOptions{});
    SCOPED_TRACE("start " + std::to_string(start));
    EXPECT_FALSE(d.estimable);
    EXPECT_FALSE(d.strongly_connected);
    EXPECT_EQ(d.n_strong_components, count_strong_components(data));
    EXPECT_EQ(d.n_strong_components, 5u);  // main, X, {Y1, Y2}, {Z1, Z2}, U
    EXPECT_EQ(d.n_groups, 3u);             // main + X + Y, Z, U
    ASSERT_EQ(d.unplayed.size(), 1u);
    EXPECT_EQ(data.item_names[d.unplayed[0]], "U");
    ASSERT_EQ(d.never_won.size(), 1u);
    ASSERT_EQ(d.never_won[0].items.size(), 1u);
    EXPECT_EQ(data.item_names[d.never_won[0].items[0]], "X");
    EXPECT_EQ(d.never_won[0].losses, 5.0);
    ASSERT_EQ(d.never_lost.size(), 1u);
    EXPECT_EQ(d.never_lost[0].items.size(), 2u);
    EXPECT_EQ(d.never_lost[0].wins, 6.0);
    EXPECT_EQ(d.never_lost[0].losses, 0.0);
    BradleyTerryOptions penalized;
    penalized.l2 = 1.0;
    const auto with_l2 = diagnose_bradley_terry(data, penalized);
    EXPECT_TRUE(with_l2.estimable);
    EXPECT_EQ(with_l2.n_groups, 3u);
  }
  // Without X, Y, Z and U the same games are one strongly connected component.
  ItemDictionary dict;
  Comparisons main_only;
  for (std::size_t k = 0; k < 4000; ++k) {
    const auto& [a, b, y, w] = rows[k];
    main_only.add(dict, a, b, y, w);
  }
  main_only.item_names = dict.names();
  ASSERT_EQ(count_strong_components(main_only), 1u);
  const auto d = diagnose_bradley_terry(main_only, BradleyTerryOptions{});
  EXPECT_TRUE(d.strongly_connected);
  EXPECT_TRUE(d.estimable);
  EXPECT_EQ(d.n_strong_components, 1u);
  EXPECT_EQ(d.n_groups, 1u);
}

TEST(Existence, HomeSideWinningEveryGameIsRefused) {
  ItemDictionary dict;
  Comparisons data;
  data.add(dict, "A", "B", 1.0, 1.0, true);
  data.add(dict, "B", "A", 1.0, 1.0, true);
  data.add(dict, "A", "B", 1.0, 2.0, true);
  data.add(dict, "B", "A", 1.0, 1.0, true);
  BradleyTerryOptions options;
  options.home_advantage = true;
  const auto fit = fit_bradley_terry(data, options);
  EXPECT_EQ(fit.status, FitStatus::not_estimable);
  EXPECT_NE(fit.diagnosis.message.find("won every game played at home"), std::string::npos) << fit.diagnosis.message;
  options.prior = {{"(home)", 0.0, 1.0}};
  EXPECT_EQ(fit_bradley_terry(data, options).status, FitStatus::converged);
}

Rows dense_rows(const std::vector<std::vector<double>>& x, const std::vector<double>& y) {
  Rows r;
  r.n_rows = x.size();
  r.n_features = x[0].size();
  for (std::size_t j = 0; j < r.n_features; ++j) r.feature_names.push_back("x" + std::to_string(j + 1));
  for (const auto& row : x) r.dense.insert(r.dense.end(), row.begin(), row.end());
  r.label = y;
  return r;
}

TEST(Existence, OneSeparatingColumnIsNamed) {
  const Rows rows = dense_rows({{1, 0.3}, {2, 0.1}, {3, 0.9}, {4, 0.2}, {5, 0.5}, {6, 0.4}}, {0, 0, 0, 1, 1, 1});
  const LogisticFit fit = fit_logistic(rows, LogisticOptions{});
  EXPECT_EQ(fit.status, FitStatus::not_estimable);
  ASSERT_EQ(fit.problem_terms.size(), 1u);
  EXPECT_EQ(fit.problem_terms[0], "x1");
  EXPECT_NE(fit.diagnosis.find("--l2"), std::string::npos);
  LogisticOptions options;
  options.l2 = 1.0;
  const LogisticFit penalized = fit_logistic(rows, options);
  EXPECT_EQ(penalized.status, FitStatus::converged);
  EXPECT_GT(penalized.estimate[1], 0.0);
}

TEST(Existence, SeparationByACombinationIsDetected) {
  // y = 1 exactly when x1 + x2 > 0; neither column separates alone.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int i = 0; i < 200; ++i) {
    const double a = z(rng), b = z(rng);
    if (std::fabs(a + b) < 0.05) continue;
    x.push_back({a, b, z(rng)});
    y.push_back(a + b > 0 ? 1.0 : 0.0);
  }
  const LogisticFit fit = fit_logistic(dense_rows(x, y), LogisticOptions{});
  EXPECT_EQ(fit.status, FitStatus::not_estimable);
  EXPECT_NE(fit.diagnosis.find("separated"), std::string::npos) << fit.diagnosis;
  EXPECT_NE(std::find(fit.problem_terms.begin(), fit.problem_terms.end(), "x1"), fit.problem_terms.end());
  EXPECT_NE(std::find(fit.problem_terms.begin(), fit.problem_terms.end(), "x2"), fit.problem_terms.end());
}

TEST(Existence, ConstantAndCollinearColumnsAreNamed) {
  const Rows constant = dense_rows({{1, 5}, {2, 5}, {3, 5}, {4, 5}, {2, 5}}, {0, 1, 0, 1, 1});
  const LogisticFit c = fit_logistic(constant, LogisticOptions{});
  EXPECT_EQ(c.status, FitStatus::not_estimable);
  EXPECT_EQ(c.problem_terms, std::vector<std::string>{"x2"});
  const Rows collinear = dense_rows({{1, 2, 3}, {2, 1, 3}, {3, 5, 8}, {4, 1, 5}, {2, 2, 4}, {0, 1, 1}}, {0, 1, 0, 1, 1, 0});
  const LogisticFit l = fit_logistic(collinear, LogisticOptions{});
  EXPECT_EQ(l.status, FitStatus::not_estimable);
  EXPECT_FALSE(l.problem_terms.empty());
  EXPECT_NE(l.diagnosis.find("rank-deficient"), std::string::npos);
  LogisticOptions options;
  options.l2 = 0.1;
  EXPECT_EQ(fit_logistic(collinear, options).status, FitStatus::converged);
}

TEST(Existence, AllLabelsEqualIsRefused) {
  const Rows rows = dense_rows({{1}, {2}, {3}}, {1, 1, 1});
  const LogisticFit fit = fit_logistic(rows, LogisticOptions{});
  EXPECT_EQ(fit.status, FitStatus::not_estimable);
  EXPECT_EQ(fit.problem_terms, std::vector<std::string>{"(intercept)"});
}

// ---- solvers ---------------------------------------------------------------------------

TEST(Solvers, NewtonAndLbfgsReachTheSameOptimumOnSimulatedData) {
  ComparisonSimulation spec;
  spec.n_items = 200;
  spec.n_comparisons = 20000;
  spec.tie_rate = 0.1;
  spec.popularity = Popularity::heavy_tailed;
  const Comparisons data = simulate_comparisons(spec, nullptr);
  BradleyTerryOptions a, b;
  a.solver.solver = Solver::newton;
  b.solver.solver = Solver::lbfgs;
  a.l2 = b.l2 = 0.01;
  const auto fa = fit_bradley_terry(data, a);
  const auto fb = fit_bradley_terry(data, b);
  ASSERT_EQ(fa.status, FitStatus::converged);
  ASSERT_EQ(fb.status, FitStatus::converged);
  EXPECT_NEAR(fa.objective, fb.objective, 1e-9 * fa.objective);
  for (std::size_t i = 0; i < spec.n_items; ++i) EXPECT_NEAR(fa.strength[i], fb.strength[i], 1e-5);
}

TEST(Simulation, RecoversTheTruthWithinItsStandardErrors) {
  ComparisonSimulation spec;
  spec.n_items = 30;
  spec.n_comparisons = 60000;
  spec.seed = 9;
  std::vector<double> truth;
  const Comparisons data = simulate_comparisons(spec, &truth);
  const auto fit = fit_bradley_terry(data, BradleyTerryOptions{});
  ASSERT_EQ(fit.status, FitStatus::converged);
  int covered = 0;
  for (std::size_t i = 0; i < spec.n_items; ++i)
    if (std::fabs(fit.strength[i] - truth[i]) < 3.0 * fit.se[i]) ++covered;
  EXPECT_GE(covered, 29);  // 3-sigma: each misses with probability 0.003
  // Same seed, same data.
  const Comparisons again = simulate_comparisons(spec, nullptr);
  EXPECT_EQ(again.a, data.a);
  EXPECT_EQ(again.b, data.b);
}

TEST(Simulation, RowsRecoverTheCoefficients) {
  RowSimulation spec;
  spec.n_rows = 50000;
  spec.n_features = 4;
  std::vector<double> truth;
  const Rows rows = simulate_rows(spec, &truth);
  const auto fit = fit_logistic(rows, LogisticOptions{});
  ASSERT_EQ(fit.status, FitStatus::converged);
  for (std::size_t j = 0; j < truth.size(); ++j) EXPECT_NEAR(fit.estimate[j], truth[j], 4.0 * fit.se[j]) << j;
}

TEST(StandardErrors, SkippedAboveTheDenseLimitWithAReason) {
  ComparisonSimulation spec;
  spec.n_items = 50;
  spec.n_comparisons = 5000;
  const Comparisons data = simulate_comparisons(spec, nullptr);
  BradleyTerryOptions options;
  options.solver.dense_limit = 20;
  const auto fit = fit_bradley_terry(data, options);
  EXPECT_EQ(fit.status, FitStatus::converged);
  EXPECT_TRUE(std::isnan(fit.se[0]));
  EXPECT_NE(fit.se_method.find("dense limit"), std::string::npos);
}

}  // namespace
}  // namespace btfit
