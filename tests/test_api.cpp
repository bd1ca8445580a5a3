// The README's library example, compiled and run as written.
#include <gtest/gtest.h>

#include <cmath>

#include "btfit/btfit.h"

namespace {

TEST(Api, ReadmeExampleFitsInMemoryData) {
  btfit::ItemDictionary names;
  btfit::Comparisons games;
  games.add(names, "Alice", "Bob", 1.0);       // Alice beat Bob
  games.add(names, "Bob", "Carol", 0.5, 3.0);  // three ties
  games.add(names, "Carol", "Alice", 1.0, 2.0);
  games.add(names, "Bob", "Alice", 1.0);

  btfit::BradleyTerryOptions options;
  options.pseudo = 1.0;
  const btfit::BradleyTerryFit fit = btfit::fit_bradley_terry(games, options);
  ASSERT_EQ(fit.status, btfit::FitStatus::converged);
  ASSERT_EQ(fit.item_names, (std::vector<std::string>{"Alice", "Bob", "Carol"}));
  // Carol beat Alice twice and drew Bob three times; Alice and Bob split: Carol is strongest.
  EXPECT_GT(fit.strength[2], fit.strength[0]);
  EXPECT_GT(fit.strength[2], fit.strength[1]);
  for (double se : fit.se) EXPECT_TRUE(std::isfinite(se) && se > 0.0);
  EXPECT_EQ(fit.ties[1], 3.0);
  EXPECT_EQ(fit.games[0], 4.0);
}

TEST(Api, MisuseThrowsUsageError) {
  btfit::Comparisons c;
  c.item_names = {"a", "b"};
  EXPECT_THROW(c.add(0, 0, 1.0), btfit::UsageError);
  EXPECT_THROW(c.add(0, 1, 0.7), btfit::UsageError);
  EXPECT_THROW(c.add(0, 1, 1.0, -1.0), btfit::UsageError);
  EXPECT_THROW(c.add(0, 5, 1.0), btfit::UsageError);
  c.add(0, 1, 1.0);
  btfit::BradleyTerryOptions options;
  options.l2 = -1.0;
  EXPECT_THROW(btfit::fit_bradley_terry(c, options), btfit::UsageError);
  options.l2 = 0.0;
  options.home_advantage = true;  // no home flags in the data
  EXPECT_THROW(btfit::fit_bradley_terry(c, options), btfit::UsageError);
}

TEST(Api, LoadErrorsCarryFileLineAndColumn) {
  try {
    btfit::load_comparisons(std::string(BTFIT_TEST_DATA) + "/no-such-file.csv", {});
    FAIL() << "expected InputError";
  } catch (const btfit::InputError& e) {
    EXPECT_NE(e.file().find("no-such-file.csv"), std::string::npos);
    EXPECT_EQ(e.line(), 0u);
  }
}

}  // namespace
