// Newman's iteration for Bradley-Terry: M. E. J. Newman (2023), "Efficient computation of
// rankings from pairwise comparisons", JMLR 24(238). With worths pi = exp(s), his update is
//   pi_i <- [sum_j w_ij pi_j / (pi_i + pi_j)] / [sum_j w_ji / (pi_i + pi_j)],
// w_ij the (weighted) wins of i over j, a tie counting half a win for each side. In log space,
// with p_k = sigmoid(eta_k) for comparison k = (a, b, y, w),
//   A_i = sum over i's comparisons of (i's win weight) * P(i loses)
//       = sum_{k: a=i} w y (1 - p) + sum_{k: b=i} w (1 - y) p,
//   B_i = sum over i's comparisons of (i's loss weight) * P(i wins)
//       = sum_{k: a=i} w (1 - y) p + sum_{k: b=i} w y (1 - p),
// the update is s_i <- s_i + log(A_i / B_i), and the NLL gradient is B_i - A_i: one pass
// over the comparisons gives both the gradient (for the stopping rule) and the step. The
// home advantage h is one more parameter with A_h, B_h summed over the home games.
//
// Penalty terms (CONVENTIONS.md), per parameter j:
// - pseudo-comparisons: C_j virtual wins and losses against a virtual item at 0 are
//   comparisons like the others: A_j += C_j (1 - sigmoid(s_j)), B_j += C_j sigmoid(s_j);
// - L2 and Gaussian priors: gradient c_j s_j - d_j (c_j = l2_j + 1/sd_j^2, d_j = mean_j/sd_j^2).
//   Newman's update solves A_j e^(-delta/2) = B_j e^(delta/2) (the same as e^delta = A/B);
//   with the penalty the step solves
//       A_j e^(-delta/2) - B_j e^(delta/2) = c_j (s_j + delta) - d_j,
//   which has one root; its fixed points are the stationary points of the full objective.
// The simultaneous (Jacobi) update makes each iteration one parallel pass; the iterates are
// combined by Anderson acceleration (below), which also stops the swing of the plain update on
// bipartite graphs. The iteration stops on the rule of the other solvers (gradient norm of
// the full objective <= tolerance * its value at the start). Without any
// penalty on the items the strengths are recentred after each step (Newman's normalization).
// With one, the common shift of the strengths is the slow mode of the iteration: the NLL does
// not see it, so only the penalty's small curvature (lambda per item, against about a quarter
// of an item's games in B) pulls it to its place, and the plain iteration needs hundreds of
// steps for it. After each step the shift is therefore solved exactly: it minimizes the
// penalty alone, a one-dimensional problem over the items that needs no pass over the data.
#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "btfit/error.h"
#include "btfit/optimize.h"
#include "objective_cpu.h"

namespace btfit {

namespace {

// Largest step of one parameter in one iteration: guards a side with no mass left (A or B
// equal to 0 after underflow); a fixed point never reaches it.
constexpr double kMaxStep = 20.0;
// Anderson acceleration: differences kept, and the growth of the gradient norm at an
// extrapolated point that makes the iteration drop them and restart.
constexpr std::size_t kAndersonDepth = 3;
constexpr double kRestartGrowth = 4.0;
constexpr std::size_t kRowsPerThread = 100000;
// Iterations over which the convergence rate is measured for settings.newman_pass_budget.
constexpr std::size_t kRateWindow = 5;
// Work per parameter (a step, a worth) is shared between threads from this many parameters.
constexpr std::size_t kParallelItems = 20000;
// Largest |x_i - midpoint| for which a tiled pass also computes the NLL (products of 32 sums of
// two worths, each in [2e-9, 1e9], stay within double range); and log 2.
constexpr double kValueRange = 20.0;
constexpr double kLn2 = 0.69314718055994530942;

double dot(const std::vector<double>& x, const std::vector<double>& y) {
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

// The step delta of one parameter under a penalty (c > 0): the root of
//   f(delta) = A e^(-delta/2) - B e^(delta/2) - c (s + delta) + d,
// Newman's A e^(-delta/2) = B e^(delta/2) (exp(delta) = A / B) with the penalty's gradient at
// s + delta added. Splitting e^delta evenly between the two sides keeps the step's curvature
// (A + B)/2 + c symmetric in wins and losses; putting it all on B (B e^delta + ... = A) makes
// strong items (A > B at the optimum) overshoot and the iteration oscillate. f is strictly
// decreasing: safeguarded Newton's method inside a bracket that starts from the linear step.
double penalized_step(double big_a, double big_b, double c, double s, double d) {
  auto f = [&](double delta) {
    const double half = std::exp(0.5 * delta);
    return big_a / half - big_b * half - c * (s + delta) + d;
  };
  const double f0 = f(0.0);
  if (f0 == 0.0) return 0.0;
  // Bracket [lo, hi] with f(lo) > 0 > f(hi), grown from 0 in the direction of the root.
  double lo = 0.0, hi = 0.0;
  double step = std::clamp(f0 / (0.5 * (big_a + big_b) + c), -kMaxStep, kMaxStep);
  if (f0 > 0.0) {
    hi = step;
    while (f(hi) > 0.0 && hi < kMaxStep) {
      lo = hi;
      hi = std::min(2.0 * hi + 1.0, kMaxStep);
    }
    if (f(hi) > 0.0) return kMaxStep;
  } else {
    lo = step;
    while (f(lo) < 0.0 && lo > -kMaxStep) {
      hi = lo;
      lo = std::max(2.0 * lo - 1.0, -kMaxStep);
    }
    if (f(lo) < 0.0) return -kMaxStep;
  }
  double delta = f0 > 0.0 ? hi : lo;
  for (int iteration = 0; iteration < 60; ++iteration) {
    const double half = std::exp(0.5 * delta);  // one exp for f and its slope
    const double value = big_a / half - big_b * half - c * (s + delta) + d;
    const double slope = -0.5 * big_a / half - 0.5 * big_b * half - c;
    if (value == 0.0) return delta;
    if (value > 0.0)
      lo = delta;
    else
      hi = delta;
    double next = delta - value / slope;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::fabs(next - delta) <= 1e-14 * std::max(1.0, std::fabs(delta))) return next;
    delta = next;
  }
  return delta;
}

// The shift t minimizing sum_j [c_j/2 (s_j + t)^2 - d_j (s_j + t) + C_j (2 softplus(s_j + t)
// - (s_j + t))] over the items j (convex in t): Newton's method, steps limited to 1.
double best_shift(const double* theta, std::size_t n_items, const std::vector<double>& c,
                  const std::vector<double>& d, const std::vector<double>& pseudo) {
  bool any_pseudo = false;
  double curvature0 = 0.0, slope0 = 0.0;
  for (std::size_t j = 0; j < n_items; ++j) {
    curvature0 += c[j];
    slope0 += c[j] * theta[j] - d[j];
    if (pseudo[j] != 0.0) any_pseudo = true;
  }
  if (!any_pseudo) return curvature0 > 0.0 ? -slope0 / curvature0 : 0.0;
  double shift = 0.0;
  for (int iteration = 0; iteration < 50; ++iteration) {
    double slope = slope0 + curvature0 * shift, curvature = curvature0;
    for (std::size_t j = 0; j < n_items; ++j) {
      if (pseudo[j] == 0.0) continue;
      const double t = theta[j] + shift;
      const double e = std::exp(-std::fabs(t));
      const double inv = 1.0 / (1.0 + e);
      const double prob = t >= 0.0 ? inv : e * inv;
      slope += pseudo[j] * (2.0 * prob - 1.0);
      curvature += 2.0 * pseudo[j] * prob * (1.0 - prob);
    }
    if (!(curvature > 0.0)) break;
    const double step = std::clamp(-slope / curvature, -1.0, 1.0);
    shift += step;
    if (std::fabs(step) <= 1e-15 * std::max(1.0, std::fabs(shift))) break;
  }
  return shift;
}

double newman_step(double big_a, double big_b, double c, double s, double d) {
  double delta;
  if (c > 0.0) {
    delta = penalized_step(big_a, big_b, c, s, d);
  } else if (!(big_a > 0.0)) {
    delta = -kMaxStep;
  } else if (!(big_b > 0.0)) {
    delta = kMaxStep;
  } else {
    delta = std::log(big_a / big_b);
  }
  return std::clamp(delta, -kMaxStep, kMaxStep);
}

// The comparisons as weighted wins "winner beat loser", sorted into tiles of kTileItems
// winners x kTileItems losers. A pass over one tile touches the worths and sums of 2
// kTileItems items (512 KiB), which stay in the core's cache; in the order the rows come
// (random pairs of 1e5 or more items) nearly every access would miss it. Ids are stored as
// 16-bit offsets within the tile's blocks: 4 bytes per win (12 with weights). A row b-won is
// stored as a win of b, a tie as half a win each way, so a pass adds w P(winner loses) to
// A_winner and B_loser and nothing else. Built in two parallel passes (count, place) with a
// static split of the rows, so the order within a tile, and every sum, is the same on every
// run with the same number of threads.
constexpr std::size_t kTileItems = 16384;

struct WinTiles {
  std::size_t n_blocks = 0;
  std::vector<std::size_t> begin;             // per tile, n_tiles + 1
  std::vector<std::uint16_t> winner, loser;   // offsets within the tile's blocks
  std::vector<double> weight;                 // per win, or empty: each weighs 1
  std::vector<std::size_t> thread_first_tile;  // threads + 1: the tiles each thread sums
};

WinTiles make_win_tiles(const Comparisons& data, int threads) {
  WinTiles tiles;
  const std::size_t n = data.size();
  tiles.n_blocks = (data.n_items() + kTileItems - 1) / kTileItems;
  const std::size_t n_tiles = tiles.n_blocks * tiles.n_blocks;
  const std::uint8_t* y2 = data.outcome2.data();
  bool weighted = data.has_weights();
  for (std::size_t k = 0; k < n && !weighted; ++k) weighted = y2[k] == 1;  // a tie: two half wins
  const auto nt = static_cast<std::size_t>(threads);
  std::vector<std::size_t> count(nt * n_tiles, 0);
  auto tile_of = [&](std::uint32_t winner, std::uint32_t loser) {
    return (winner / kTileItems) * tiles.n_blocks + loser / kTileItems;
  };
  // for_each_win(k, emit): the wins of row k (one, or two halves for a tie).
  auto for_each_win = [&](std::size_t k, auto&& emit) {
    const double w = data.w(k);
    switch (y2[k]) {
      case 2: emit(data.a[k], data.b[k], w); break;
      case 0: emit(data.b[k], data.a[k], w); break;
      default: emit(data.a[k], data.b[k], 0.5 * w); emit(data.b[k], data.a[k], 0.5 * w); break;
    }
  };
#pragma omp parallel num_threads(threads)
  {
    std::size_t* mine = count.data() + static_cast<std::size_t>(omp_get_thread_num()) * n_tiles;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk)
      for_each_win(static_cast<std::size_t>(kk),
                   [&](std::uint32_t winner, std::uint32_t loser, double) { ++mine[tile_of(winner, loser)]; });
  }
  // Offsets: tile by tile, thread by thread (thread t's wins of a tile follow thread t-1's).
  tiles.begin.assign(n_tiles + 1, 0);
  std::size_t total = 0;
  for (std::size_t tile = 0; tile < n_tiles; ++tile) {
    tiles.begin[tile] = total;
    for (std::size_t t = 0; t < nt; ++t) {
      const std::size_t c = count[t * n_tiles + tile];
      count[t * n_tiles + tile] = total;
      total += c;
    }
  }
  tiles.begin[n_tiles] = total;
  tiles.winner.resize(total);
  tiles.loser.resize(total);
  if (weighted) tiles.weight.resize(total);
#pragma omp parallel num_threads(threads)
  {
    std::size_t* next = count.data() + static_cast<std::size_t>(omp_get_thread_num()) * n_tiles;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk)
      for_each_win(static_cast<std::size_t>(kk), [&](std::uint32_t winner, std::uint32_t loser, double w) {
        const std::size_t at = next[tile_of(winner, loser)]++;
        tiles.winner[at] = static_cast<std::uint16_t>(winner % kTileItems);
        tiles.loser[at] = static_cast<std::uint16_t>(loser % kTileItems);
        if (weighted) tiles.weight[at] = w;
      });
  }
  // Whole tiles per thread, about total / threads wins each.
  tiles.thread_first_tile.assign(nt + 1, n_tiles);
  tiles.thread_first_tile[0] = 0;
  std::size_t tile = 0;
  for (std::size_t t = 1; t < nt; ++t) {
    const std::size_t target = total / nt * t;
    while (tile < n_tiles && tiles.begin[tile] < target) ++tile;
    tiles.thread_first_tile[t] = tile;
  }
  return tiles;
}

}  // namespace

OptimizerResult minimize_newman(const Comparisons& data, bool home_advantage, const DiagonalPenalty& penalty,
                                double* theta, const OptimizerSettings& settings, int threads_in,
                                Objective* device_sums) {
  if (device_sums != nullptr && (!device_sums->has_newman_sums() || device_sums->n_params() !=
                                     data.n_items() + (home_advantage ? 1 : 0)))
    throw UsageError("Newman's iteration: the objective does not offer Newman's sums for these parameters");
  if (home_advantage && !data.has_home_flags())
    throw UsageError("Newman's iteration: a home advantage needs home flags in the data");
  const std::size_t n_items = data.n_items();
  const std::size_t p = n_items + (home_advantage ? 1 : 0);
  if (penalty.l2.size() != p)
    throw UsageError("Newman's iteration: the penalty has the wrong number of parameters");
  const std::size_t n = data.size();
  // One thread per kRowsPerThread rows at most: below that a parallel region costs more than
  // it saves (and on a busy machine a barrier can wait a whole time slice).
  const int threads = static_cast<int>(std::max<std::size_t>(
      1, std::min<std::size_t>(static_cast<std::size_t>(resolve_threads(threads_in)), n / kRowsPerThread)));
  const std::uint32_t* a = data.a.data();
  const std::uint32_t* b = data.b.data();
  const std::uint8_t* y2 = data.outcome2.data();
  const double* weight = data.has_weights() ? data.weight.data() : nullptr;
  const std::uint8_t* home = home_advantage ? data.at_home.data() : nullptr;

  bool items_free = true;  // no penalty term pins the level of the strengths
  for (std::size_t j = 0; j < n_items; ++j)
    if (penalty.covers(j)) items_free = false;
  std::vector<double> c(p), d(p);
  for (std::size_t j = 0; j < p; ++j) {
    c[j] = penalty.l2[j] + penalty.prior_precision[j];
    d[j] = penalty.prior_precision[j] * penalty.prior_mean[j];
  }

  // One pass at x: sums[2j] = A_j, sums[2j + 1] = B_j (pseudo-comparisons included), the
  // gradient of the full objective, and its norm. Per-thread sums are threads x (2 p), A_j and
  // B_j side by side (one cache line for both).
  //
  // A comparison needs p = sigmoid(eta) and q = 1 - p. With the worths pi_i = exp(x_i - m) of
  // the pass (one exp per item, m the midpoint of the strengths), p = pi_a / (pi_a + pi_b) and
  // q = pi_b / (pi_a + pi_b): a division instead of an exp per comparison, and neither loses
  // digits to cancellation. It is used while every |x_i - m| (plus |h|) stays within
  // kWorthRange, so no worth overflows or underflows; otherwise the pass takes one exp per
  // comparison. When every row is a win of side a (the winner,loser layout), the loss terms
  // vanish and a row adds one number to A_a and B_b.
  // With device_sums the backend's device makes the passes, and none of this is needed.
  const bool on_host = device_sums == nullptr;
  bool all_wins_of_a = on_host;
  for (std::size_t k = 0; k < n && all_wins_of_a; ++k) all_wins_of_a = y2[k] == 2;
  // More items than one tile holds: the passes read the comparisons as tiles (WinTiles).
  WinTiles tiles;
  const bool tiled = on_host && !home_advantage && n_items > kTileItems;
  if (tiled) tiles = make_win_tiles(data, threads);
  std::vector<double> scratch(on_host ? static_cast<std::size_t>(threads) * 2 * p : 0);
  std::vector<double> sums(2 * p), gradient(p), worth(n_items);
  std::vector<double> thread_log(static_cast<std::size_t>(threads), 0.0);
  std::vector<double> win_count;  // wins per item, for the value (unweighted tiles)
  if (tiled && tiles.weight.empty()) {
    win_count.assign(n_items, 0.0);
    for (std::size_t tile = 0; tile + 1 < tiles.begin.size(); ++tile) {
      double* count = win_count.data() + tile / tiles.n_blocks * kTileItems;
      for (std::size_t r = tiles.begin[tile]; r < tiles.begin[tile + 1]; ++r) count[tiles.winner[r]] += 1.0;
    }
  }
  double pass_nll = std::numeric_limits<double>::quiet_NaN();  // the NLL at the last pass's point
  // The sums A and B at x from the comparisons in host memory (threads x tiles or rows).
  auto host_sums = [&](const double* x) {
    const double h = home_advantage ? x[n_items] : 0.0;
    const StrengthSpan span = strength_span(x, n_items);
    const double middle = span.middle;
    const bool use_worth = span.half_range + std::fabs(h) <= kWorthRange;
    if (use_worth) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n_items >= kParallelItems)
      for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(n_items); ++j)
        worth[static_cast<std::size_t>(j)] = std::exp(x[j] - middle);
    }
    const double* pi = worth.data();
    const double home_factor = std::exp(h);
    // The NLL comes with the pass when the wins are unweighted and the strengths span at most
    // 2 kValueRange: NLL = sum over wins of log(pi_w + pi_l) - log(pi_w), the second sum being
    // sum_i wins_i (x_i - m), from the win counts.
    const bool with_value =
        use_worth && tiled && tiles.weight.empty() && span.half_range <= kValueRange;
    pass_nll = std::numeric_limits<double>::quiet_NaN();
#pragma omp parallel num_threads(threads)
    {
      double* mine = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * 2 * p;
      std::fill(mine, mine + 2 * p, 0.0);
      double home_a = 0.0, home_b = 0.0;
      if (use_worth && tiled) {
        const auto t = static_cast<std::size_t>(omp_get_thread_num());
        double mantissa = 1.0;
        long long exponent = 0;
        const double* tw = tiles.weight.empty() ? nullptr : tiles.weight.data();
        for (std::size_t tile = tiles.thread_first_tile[t]; tile < tiles.thread_first_tile[t + 1]; ++tile) {
          const std::size_t first_winner = tile / tiles.n_blocks * kTileItems;
          const std::size_t first_loser = tile % tiles.n_blocks * kTileItems;
          const double* pi_winner = pi + first_winner;
          const double* pi_loser = pi + first_loser;
          double* a_winner = mine + 2 * first_winner;     // A of the winners
          double* b_loser = mine + 2 * first_loser + 1;   // B of the losers
          const std::uint16_t* wi = tiles.winner.data();
          const std::uint16_t* lo = tiles.loser.data();
          const std::size_t end = tiles.begin[tile + 1];
          if (with_value) {
            // The products of pi_winner + pi_loser, 32 factors in [2e-9, 1e9] at a time, kept as
            // mantissa and exponent (the value's sum of logs, below).
            std::size_t r = tiles.begin[tile];
            while (r < end) {
              const std::size_t block_end = std::min(end, r + 32);
              double product = 1.0;
              for (; r < block_end; ++r) {
                const double pl = pi_loser[lo[r]];
                const double total = pi_winner[wi[r]] + pl;
                const double u = pl / total;
                product *= total;
                a_winner[2 * wi[r]] += u;
                b_loser[2 * lo[r]] += u;
              }
              int e = 0;
              mantissa *= std::frexp(product, &e);
              exponent += e;
              mantissa = std::frexp(mantissa, &e);
              exponent += e;
            }
          } else {
            for (std::size_t r = tiles.begin[tile]; r < end; ++r) {
              const double pl = pi_loser[lo[r]];
              const double u = (tw ? tw[r] : 1.0) * pl / (pi_winner[wi[r]] + pl);  // w P(winner loses)
              a_winner[2 * wi[r]] += u;
              b_loser[2 * lo[r]] += u;
            }
          }
        }
        thread_log[t] = std::log(mantissa) + static_cast<double>(exponent) * kLn2;
      } else if (use_worth && all_wins_of_a && home == nullptr) {
#pragma omp for schedule(static)
        for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
          const auto k = static_cast<std::size_t>(kk);
          const double pb = pi[b[k]];
          const double u = (weight ? weight[k] : 1.0) * pb / (pi[a[k]] + pb);  // w P(a loses)
          mine[2 * a[k]] += u;
          mine[2 * b[k] + 1] += u;
        }
      } else {
#pragma omp for schedule(static)
        for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
          const auto k = static_cast<std::size_t>(kk);
          const bool at_home = home != nullptr && home[k] != 0;
          double prob, q;
          if (use_worth) {
            const double pa = at_home ? pi[a[k]] * home_factor : pi[a[k]];
            const double pb = pi[b[k]];
            const double inv = 1.0 / (pa + pb);
            prob = pa * inv;
            q = pb * inv;
          } else {
            // p = sigmoid(eta) and q = 1 - p without cancellation (one exp).
            const double eta = x[a[k]] - x[b[k]] + (at_home ? h : 0.0);
            const double e = std::exp(-std::fabs(eta));
            const double inv = 1.0 / (1.0 + e);
            prob = eta >= 0.0 ? inv : e * inv;
            q = eta >= 0.0 ? e * inv : inv;
          }
          const double w = weight ? weight[k] : 1.0;
          const double win = 0.5 * w * static_cast<double>(y2[k]);  // w y: a's win weight
          const double loss = w - win;                              // w (1 - y)
          const double u = win * q;                                 // a's wins weighted by P(a loses)
          const double v = loss * prob;                             // a's losses weighted by P(a wins)
          mine[2 * a[k]] += u;
          mine[2 * a[k] + 1] += v;
          mine[2 * b[k]] += v;
          mine[2 * b[k] + 1] += u;
          if (at_home) {
            home_a += u;
            home_b += v;
          }
        }
      }
      if (home_advantage) {
        mine[2 * n_items] += home_a;
        mine[2 * n_items + 1] += home_b;
      }
    }
    if (with_value) {
      double logs = 0.0, linear = 0.0;
      for (int t = 0; t < threads; ++t) logs += thread_log[static_cast<std::size_t>(t)];
      for (std::size_t j = 0; j < n_items; ++j) linear += win_count[j] * (x[j] - middle);
      pass_nll = logs - linear;
    }
    const auto two_p = static_cast<std::ptrdiff_t>(2 * p);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::ptrdiff_t j = 0; j < two_p; ++j) {
      double total = 0.0;
      for (int t = 0; t < threads; ++t)
        total += scratch[static_cast<std::size_t>(t) * 2 * p + static_cast<std::size_t>(j)];
      sums[static_cast<std::size_t>(j)] = total;
    }
  };
  // One pass at x: the sums (from the host's comparisons or the backend's device), the
  // pseudo-comparisons, and the gradient of the full objective; returns its norm.
  auto pass = [&](const double* x) {
    if (on_host) {
      host_sums(x);
    } else {
      device_sums->newman_sums(x, sums.data());
      pass_nll = std::numeric_limits<double>::quiet_NaN();
    }
    double norm2 = 0.0;
    for (std::size_t j = 0; j < p; ++j) {
      if (penalty.pseudo[j] != 0.0) {
        const double e = std::exp(-std::fabs(x[j]));
        const double inv = 1.0 / (1.0 + e);
        const double prob = x[j] >= 0.0 ? inv : e * inv;
        const double q = x[j] >= 0.0 ? e * inv : inv;
        sums[2 * j] += penalty.pseudo[j] * q;
        sums[2 * j + 1] += penalty.pseudo[j] * prob;
      }
      gradient[j] = sums[2 * j + 1] - sums[2 * j] + c[j] * x[j] - d[j];
      norm2 += gradient[j] * gradient[j];
    }
    return std::sqrt(norm2);
  };

  // Newman's map x -> G(x): the step of every parameter from the sums of the last pass at x,
  // then the level of the strengths (recentred, or the penalty's best shift).
  auto newman_map = [&](const double* x, double* out) {
    // A penalized step solves a small equation per parameter (a few exps each): in parallel.
#pragma omp parallel for num_threads(threads) schedule(static) if (p >= kParallelItems)
    for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(p); ++jj) {
      const auto j = static_cast<std::size_t>(jj);
      out[j] = x[j] + newman_step(sums[2 * j], sums[2 * j + 1], c[j], x[j], d[j]);
    }
    double shift = 0.0;
    if (items_free) {
      for (std::size_t j = 0; j < n_items; ++j) shift -= out[j];
      shift /= static_cast<double>(n_items);
    } else {
      shift = best_shift(out, n_items, c, d, penalty.pseudo);
    }
    for (std::size_t j = 0; j < n_items; ++j) out[j] += shift;
  };

  // Anderson acceleration of G (Anderson 1965; Walker and Ni 2011, "Anderson acceleration for
  // fixed-point iterations", SIAM J. Numer. Anal. 49): with the residuals f_i = G(x_i) - x_i
  // of the last m + 1 points, gamma = argmin ||f_k - dF gamma|| over the differences dF of
  // consecutive residuals, and x_{k+1} = G(x_k) - dG gamma. On a bipartite component (a star:
  // every item against one reference) the plain Jacobi update swings by the full step around
  // the fixed point forever; the combination of two consecutive points removes that mode,
  // and it also speeds up the slow smooth modes the way a Krylov method does. Safeguard: when
  // the gradient norm at an extrapolated point exceeds kRestartGrowth times the previous one,
  // the history is dropped and the iteration goes on from the plain step G(x_{k-1}).
  const std::size_t depth = kAndersonDepth;
  std::vector<std::vector<double>> delta_f, delta_g;  // ring of the last `depth` differences
  std::vector<double> x(theta, theta + p), mapped(p), residual(p), previous_mapped(p), previous_residual(p);
  bool have_previous = false;
  OptimizerResult result;
  result.value = std::numeric_limits<double>::quiet_NaN();
  result.status = OptimizerStatus::max_iterations;
  double target = 0.0, previous_gnorm = 0.0;
  std::vector<double> history;  // gradient norms at the points evaluated
  for (int iteration = 0;; ++iteration) {
    double gnorm = pass(x.data());
    ++result.passes;
    if (iteration > 0 && depth > 0 && !delta_f.empty() &&
        (!std::isfinite(gnorm) || gnorm > kRestartGrowth * previous_gnorm)) {
      // The extrapolation went wrong: back to the plain step from the previous point.
      delta_f.clear();
      delta_g.clear();
      have_previous = false;
      x = previous_mapped;
      gnorm = pass(x.data());
      ++result.passes;
    }
    result.gradient_norm = gnorm;
    if (!std::isfinite(gnorm)) {
      result.status = OptimizerStatus::numeric_error;
      break;
    }
    if (iteration == 0) {
      result.initial_gradient_norm = gnorm;
      target = settings.tolerance * gnorm;
    } else if (settings.progress) {
      settings.progress(settings.progress_context, iteration, result.value, gnorm);
    }
    std::copy(x.begin(), x.end(), theta);
    result.data_value = pass_nll;
    if (gnorm <= target || gnorm == 0.0) {
      result.status = OptimizerStatus::converged;
      break;
    }
    if (iteration >= settings.max_iterations) break;
    // Give up when the rate of the last kRateWindow iterations predicts more passes in all
    // than settings.newman_pass_budget (graphs with a small spectral gap, such as long chains).
    history.push_back(gnorm);
    if (settings.newman_pass_budget > 0 && history.size() > kRateWindow + 4) {
      const double ratio = gnorm / history[history.size() - 1 - kRateWindow];
      const double per_pass = std::log(ratio) / static_cast<double>(kRateWindow);
      const double remaining = per_pass < 0.0 ? std::log(target / gnorm) / per_pass : 1e300;
      if (static_cast<double>(result.passes) + remaining > static_cast<double>(settings.newman_pass_budget)) {
        result.status = OptimizerStatus::no_progress;
        break;
      }
    }
    result.iterations = iteration + 1;
    previous_gnorm = gnorm;

    newman_map(x.data(), mapped.data());
    for (std::size_t j = 0; j < p; ++j) residual[j] = mapped[j] - x[j];
    std::vector<double> next = mapped;
    if (depth > 0 && have_previous) {
      if (delta_f.size() == depth) {
        delta_f.erase(delta_f.begin());
        delta_g.erase(delta_g.begin());
      }
      std::vector<double> df(p), dg(p);
      for (std::size_t j = 0; j < p; ++j) {
        df[j] = residual[j] - previous_residual[j];
        dg[j] = mapped[j] - previous_mapped[j];
      }
      delta_f.push_back(std::move(df));
      delta_g.push_back(std::move(dg));
      const auto m = static_cast<Eigen::Index>(delta_f.size());
      Eigen::MatrixXd gram(m, m);
      Eigen::VectorXd rhs(m);
      for (Eigen::Index i = 0; i < m; ++i) {
        rhs[i] = dot(delta_f[static_cast<std::size_t>(i)], residual);
        for (Eigen::Index k = 0; k <= i; ++k)
          gram(i, k) = gram(k, i) =
              dot(delta_f[static_cast<std::size_t>(i)], delta_f[static_cast<std::size_t>(k)]);
      }
      gram.diagonal().array() += 1e-12 * gram.diagonal().maxCoeff() + 1e-300;
      const Eigen::VectorXd gamma = gram.ldlt().solve(rhs);
      if (gamma.allFinite()) {
        for (Eigen::Index i = 0; i < m; ++i) {
          const auto& dg = delta_g[static_cast<std::size_t>(i)];
          for (std::size_t j = 0; j < p; ++j) next[j] -= gamma[i] * dg[j];
        }
      }
    }
    previous_mapped.swap(mapped);
    previous_residual.swap(residual);
    have_previous = true;
    x.swap(next);
  }
  return result;
}

}  // namespace btfit
