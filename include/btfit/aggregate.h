// Collapsing repeated Bradley-Terry comparisons into counts.
//
// The objective is a sum over comparisons of w_k [softplus(eta_k) - y_k eta_k]; rows with the
// same margin eta and the same outcome y contribute the same term, so they can be replaced by
// one row whose weight is the sum of theirs: the value, gradient and Hessian are the same sums,
// grouped. Two rows have the same margin when they name the same pair in the same order and
// the same home flag (when a home advantage is fitted); (a, b, y) and (b, a, 1 - y) are the
// same term too, so pairs are put in canonical order (smaller id first, outcome flipped) unless
// the row is a home game of a home-advantage fit (there a is the home side and must stay a).
// The LMArena pipeline collapses 1.6M battles among about a hundred models to 22k rows so.
#pragma once

#include <cstddef>

#include "btfit/data.h"

namespace btfit {

// Estimated (number of distinct canonical rows) / (number of rows of positive weight): the
// fraction of rows left after aggregate_comparisons. Unbiased: the distinct count is the sum
// over rows of 1 / (how often the row's key occurs), and that mean is taken over a sample of
// 4096 rows whose keys are counted in one pass over all rows (a small table that stays in
// cache). Returns 1 for data without rows of positive weight. With `above` > 0 the sample is
// made large enough that a fraction <= above would show in it as repeated keys; when it does
// not, 1 is returned at once, without the counting pass (what a caller that only asks "is the
// fraction at most `above`?" needs).
double estimate_distinct_fraction(const Comparisons& data, bool home_advantage, int threads,
                                  double above = 0.0);

// The comparisons with repeated canonical rows collapsed into one weighted row each (rows of
// weight 0 dropped). Same items and names; weights are sums of the original weights, each
// summed in row order; home flags are kept only with home_advantage (without it they do not
// enter the objective). Row order: by a hash of the key (the same for the same thread count).
// distinct_fraction sizes the hash tables: the estimate above, or <= 0 to have it estimated.
Comparisons aggregate_comparisons(const Comparisons& data, bool home_advantage, int threads,
                                  double distinct_fraction = 0.0);

}  // namespace btfit
