// Bootstrap replicates and batched Hessian-vector products on the CPU.
//
// Replicate j of a batch is the same objective with row r reweighted by
//   w_rj = counter_poisson(w_r, seed, first + j, r)       (CONVENTIONS.md; host/replicate_weights.h)
// so its NLL, gradient and Hessian are the sums of objective_cpu.h with w_rj in place of w_r.
//
// Bradley-Terry. Each replicate is summed by one thread, in row order, so a replicate's
// numbers do not depend on the thread count. When rows repeat (the same a, b and home flag;
// arena data: a million comparisons among a hundred items have about ten thousand distinct
// pairs), the rows are grouped into distinct units once, and at the start of each batch one
// pass over the rows draws every replicate's weights and sums them per unit:
//   W_uj = sum_{r in u} w_rj,  S_uj = sum_{r in u} w_rj y_r,
//   NLL_j = sum_u W_uj softplus(eta_u) - S_uj eta_u,
// after which every pass of that batch reads the units only (the rows of each unit are listed
// together, with their outcomes, so the sums read memory in order and add integers). Otherwise
// the weights are drawn on the fly in each value+gradient pass. Either way the curvature
// w p (1 - p) of each unit and replicate at the replicate's current point is kept (K x units
// doubles) for the Hessian products. Unweighted rows draw Poisson(1) in blocks, in code the
// compiler vectorizes (unit_draws below: AVX-512DQ when the CPU has it), bit for bit the
// draws of counter_poisson.
//
// Logistic regression. Blocks of rows in parallel as in objective_cpu.cpp: a block's margins
// for the K vectors come from one matrix product, then each replicate's weights are drawn for
// the block's rows.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <unordered_map>

#include "btfit/detail/maths.h"
#include "objective_cpu.h"
#include "replicate_weights.h"

namespace btfit {

using detail::bernoulli_terms;
using detail::outcome_y;

namespace {

bool same_batch(const ReplicateBatch& x, const ReplicateBatch& y) {
  return x.seed == y.seed && x.first == y.first && x.count == y.count;
}

void check_batch(const ReplicateBatch& batch) {
  if (batch.count == 0) throw UsageError("a replicate batch needs at least one replicate");
}

constexpr std::size_t kRowBlock = 4096;  // rows per block when one thread serves several replicates
// Below this many unit evaluations a pass takes microseconds: threads would cost more than
// they save (and a busy machine makes every fork and barrier slow).
constexpr std::size_t kParallelWork = std::size_t{1} << 16;

// Poisson(1) draws of one replicate for n rows: out[i] = counter_poisson(1, seed, replicate,
// row(i)), bit for bit, except that 8 stands for "8 or more" (the caller redraws those, one
// in 1e5, with ReplicateWeights::unit). The body is written so that the compiler vectorizes
// it; with AVX-512DQ the 64-bit multiplies of the hash run in vector registers, about six
// times faster than the scalar code on the x86-64 baseline, and the arithmetic is exact
// either way (integer hashing, exact conversion, comparisons), so both give the same draws.
template <typename Row>
inline __attribute__((always_inline)) void unit_draws_body(std::uint64_t key, const double* cdf, Row row,
                                                           std::size_t n, std::uint32_t* out) {
  const double c0 = cdf[0], c1 = cdf[1], c2 = cdf[2], c3 = cdf[3], c4 = cdf[4], c5 = cdf[5], c6 = cdf[6],
               c7 = cdf[7];
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t bits = detail::mix64(key ^ row(i)) >> 11;
    const double u = (static_cast<double>(bits) + 0.5) * (1.0 / 9007199254740992.0);
    out[i] = static_cast<std::uint32_t>(u > c0) + static_cast<std::uint32_t>(u > c1) +
             static_cast<std::uint32_t>(u > c2) + static_cast<std::uint32_t>(u > c3) +
             static_cast<std::uint32_t>(u > c4) + static_cast<std::uint32_t>(u > c5) +
             static_cast<std::uint32_t>(u > c6) + static_cast<std::uint32_t>(u > c7);
  }
}

struct ListedRows {
  const std::uint32_t* rows;
  std::uint64_t operator()(std::size_t i) const { return rows[i]; }
};
struct RangeRows {
  std::uint64_t first;
  std::uint64_t operator()(std::size_t i) const { return first + i; }
};

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((noinline, target("avx512f,avx512dq"))) void unit_draws_avx512(std::uint64_t key, const double* cdf,
                                                                              ListedRows rows, std::size_t n,
                                                                              std::uint32_t* out) {
  unit_draws_body(key, cdf, rows, n, out);
}
__attribute__((noinline, target("avx512f,avx512dq"))) void unit_draws_avx512(std::uint64_t key, const double* cdf,
                                                                              RangeRows rows, std::size_t n,
                                                                              std::uint32_t* out) {
  unit_draws_body(key, cdf, rows, n, out);
}
bool have_avx512dq() {
  static const bool have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return have;
}
#endif

// sum += sum_i d[i], sum_y2 += sum_i d[i] y2[i] (the Poisson(1) draws of a unit's rows and
// their outcomes 2y), in 32-bit lanes (n <= kRowBlock draws of at most 1000 each, so at most
// 8.2e6) added to 64-bit totals.
inline __attribute__((always_inline)) void sum_draws_body(const std::uint32_t* d, const std::uint8_t* y2,
                                                          std::size_t n, std::uint64_t* sum, std::uint64_t* sum_y2) {
  std::uint32_t s = 0, s_y2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[i];
    s_y2 += d[i] * y2[i];
  }
  *sum += s;
  *sum_y2 += s_y2;
}
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((noinline, target("avx512f,avx512dq"))) void sum_draws_avx512(const std::uint32_t* d,
                                                                             const std::uint8_t* y2, std::size_t n,
                                                                             std::uint64_t* sum,
                                                                             std::uint64_t* sum_y2) {
  sum_draws_body(d, y2, n, sum, sum_y2);
}
#endif
void sum_draws(const std::uint32_t* d, const std::uint8_t* y2, std::size_t n, std::uint64_t* sum,
               std::uint64_t* sum_y2) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_avx512dq()) return sum_draws_avx512(d, y2, n, sum, sum_y2);
#endif
  sum_draws_body(d, y2, n, sum, sum_y2);
}

// out[i] = counter_poisson(1, seed, replicate, rows(i)) for i < n.
template <typename Row>
void unit_draws(const ReplicateWeights& draw, Row rows, std::size_t n, std::uint32_t* out) {
  const double* cdf = poisson_table_mean_one().cdf();
#if defined(__x86_64__) && defined(__GNUC__)
  if (have_avx512dq()) unit_draws_avx512(draw.key(), cdf, rows, n, out);
  else unit_draws_body(draw.key(), cdf, rows, n, out);
#else
  unit_draws_body(draw.key(), cdf, rows, n, out);
#endif
  for (std::size_t i = 0; i < n; ++i)
    if (out[i] == 8) out[i] = draw.unit(rows(i));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Bradley-Terry

struct BradleyTerryCpuObjective::ReplicateState {
  bool built = false;
  bool grouped = false;                 // units are distinct rows (else unit = row)
  std::vector<std::uint32_t> unit_a, unit_b;
  std::vector<std::uint8_t> unit_home;  // units (grouped; empty without home flags)
  // Grouped: the rows of unit u are unit_rows[unit_offset[u] .. unit_offset[u + 1]) (row
  // numbers as loaded, which key the draws), with their outcomes (2y) and weights alongside,
  // so that summing a unit's draws reads memory in order.
  std::vector<std::uint64_t> unit_offset;
  std::vector<std::uint32_t> unit_rows;
  std::vector<std::uint8_t> unit_y2;
  std::vector<double> unit_w;             // empty for unweighted data
  std::vector<std::size_t> unit_blocks;   // unit boundaries of blocks of about kRowBlock rows
  std::size_t n_units = 0;

  bool have_batch = false;
  ReplicateBatch batch;
  std::vector<double> total;      // K x units (grouped): W_uj
  std::vector<double> score;      // K x units (grouped): S_uj
  std::vector<double> curvature;  // K x units: W p (1 - p) at replicate j's current point
};

BradleyTerryCpuObjective::ReplicateState& BradleyTerryCpuObjective::replicate_state(const ReplicateBatch& batch) {
  check_batch(batch);
  if (!replicates_) replicates_ = std::make_shared<ReplicateState>();
  ReplicateState& st = *replicates_;
  const std::size_t n = data_.size();
  const bool flags = home_ && data_.has_home_flags();
  if (!st.built) {
    st.built = true;
    // Group rows by (a, b, home flag) when that leaves at most half of them. Large inputs are
    // judged on their first million rows first, so that a file without repeats never builds a
    // table of all its rows.
    constexpr std::size_t kProbe = 1000000;
    auto key_of = [&](std::size_t r) {
      return (static_cast<std::uint64_t>(data_.a[r]) << 32) | data_.b[r];
    };
    std::unordered_map<std::uint64_t, std::uint32_t> units[2];
    bool worth_it = n > 0 && n < 0xFFFFFFFFull;
    if (worth_it && n > 4 * kProbe) {
      std::unordered_map<std::uint64_t, std::uint32_t> probe[2];
      for (std::size_t r = 0; r < kProbe; ++r) probe[flags && data_.at_home[r] ? 1 : 0].emplace(key_of(r), 0u);
      worth_it = probe[0].size() + probe[1].size() <= kProbe / 2;
    }
    std::vector<std::uint32_t> row_unit;
    if (worth_it) {
      row_unit.resize(n);
      for (std::size_t r = 0; r < n && worth_it; ++r) {
        const int h = flags && data_.at_home[r] ? 1 : 0;
        const auto [it, added] = units[h].emplace(key_of(r), static_cast<std::uint32_t>(st.unit_a.size()));
        if (added) {
          st.unit_a.push_back(data_.a[r]);
          st.unit_b.push_back(data_.b[r]);
          if (flags) st.unit_home.push_back(static_cast<std::uint8_t>(h));
          if (st.unit_a.size() > n / 2) worth_it = false;
        }
        row_unit[r] = it->second;
      }
    }
    st.grouped = worth_it;
    if (!st.grouped) {
      st.unit_a.clear();
      st.unit_b.clear();
      st.unit_home.clear();
      st.n_units = n;
    } else {
      const std::size_t units_count = st.unit_a.size();
      st.n_units = units_count;
      st.unit_offset.assign(units_count + 1, 0);
      for (std::size_t r = 0; r < n; ++r) ++st.unit_offset[row_unit[r] + 1];
      for (std::size_t u = 0; u < units_count; ++u) st.unit_offset[u + 1] += st.unit_offset[u];
      std::vector<std::uint64_t> fill(st.unit_offset.begin(), st.unit_offset.end() - 1);
      st.unit_rows.resize(n);
      st.unit_y2.resize(n);
      if (data_.has_weights()) st.unit_w.resize(n);
      for (std::size_t r = 0; r < n; ++r) {
        const auto q = fill[row_unit[r]]++;
        st.unit_rows[q] = static_cast<std::uint32_t>(r);
        st.unit_y2[q] = data_.outcome2[r];
        if (data_.has_weights()) st.unit_w[q] = data_.weight[r];
      }
      st.unit_blocks.push_back(0);
      for (std::size_t u = 0; u < units_count; ++u)
        if (st.unit_offset[u + 1] - st.unit_offset[st.unit_blocks.back()] >= kRowBlock) st.unit_blocks.push_back(u + 1);
      if (st.unit_blocks.back() != units_count) st.unit_blocks.push_back(units_count);
    }
  }
  if (st.have_batch && same_batch(st.batch, batch)) return st;
  const std::size_t k_vectors = batch.count;
  const std::size_t units = st.n_units;
  st.batch = batch;
  st.have_batch = true;
  st.curvature.assign(k_vectors * units, 0.0);
  if (st.grouped) {
    // One pass over the rows serves the batch: weights drawn and summed per unit. The draws
    // are integers, so the sums are exact in integer arithmetic.
    st.total.assign(k_vectors * units, 0.0);
    st.score.assign(k_vectors * units, 0.0);
    const bool weighted = !st.unit_w.empty();
    const bool parallel = n * k_vectors >= kParallelWork;
#pragma omp parallel num_threads(threads_) if (parallel)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto n_threads = static_cast<std::size_t>(omp_get_num_threads());
      std::vector<std::uint32_t> drawn(kRowBlock);
      for (std::size_t block = 0; block + 1 < st.unit_blocks.size(); ++block) {
        const std::size_t u_begin = st.unit_blocks[block], u_end = st.unit_blocks[block + 1];
        const std::uint64_t q_begin = st.unit_offset[u_begin], q_end = st.unit_offset[u_end];
        for (std::size_t j = t; j < k_vectors; j += n_threads) {
          const ReplicateWeights draw(batch.seed, batch.first + j);
          double* tot = st.total.data() + j * units;
          double* sc = st.score.data() + j * units;
          std::size_t u = u_begin;
          std::uint64_t sum = 0, sum_y2 = 0;
          for (std::uint64_t chunk = q_begin; chunk < q_end; chunk += kRowBlock) {
            const std::size_t m = static_cast<std::size_t>(std::min<std::uint64_t>(kRowBlock, q_end - chunk));
            if (!weighted) {
              unit_draws(draw, ListedRows{st.unit_rows.data() + chunk}, m, drawn.data());
            } else {
              for (std::size_t i = 0; i < m; ++i) drawn[i] = draw(st.unit_w[chunk + i], st.unit_rows[chunk + i]);
            }
            // The units overlapping this chunk, each summed in one tight loop.
            const std::uint64_t chunk_end = chunk + m;
            while (u < u_end) {
              const std::uint64_t lo = std::max<std::uint64_t>(st.unit_offset[u], chunk);
              const std::uint64_t hi = std::min<std::uint64_t>(st.unit_offset[u + 1], chunk_end);
              const std::uint32_t* d = drawn.data() + (lo - chunk);
              const std::uint8_t* y2 = st.unit_y2.data() + lo;
              if (!weighted) {
                sum_draws(d, y2, static_cast<std::size_t>(hi - lo), &sum, &sum_y2);
              } else {  // a large weight draws large counts: 64-bit sums
                for (std::uint64_t i = 0; i < hi - lo; ++i) {
                  sum += d[i];
                  sum_y2 += static_cast<std::uint64_t>(d[i]) * y2[i];
                }
              }
              if (st.unit_offset[u + 1] > chunk_end) break;  // the unit goes on in the next chunk
              tot[u] = static_cast<double>(sum);
              sc[u] = 0.5 * static_cast<double>(sum_y2);
              sum = sum_y2 = 0;
              ++u;
            }
          }
          for (; u < u_end; ++u) {
            tot[u] = static_cast<double>(sum);
            sc[u] = 0.5 * static_cast<double>(sum_y2);
            sum = sum_y2 = 0;
          }
        }
      }
    }
    ++passes_;
  } else {
    st.total.clear();
    st.score.clear();
  }
  return st;
}

void BradleyTerryCpuObjective::value_gradient_replicates(const ReplicateBatch& batch, const double* theta,
                                                         double* values, double* gradients) {
  ReplicateState& st = replicate_state(batch);
  const std::size_t p = n_params_;
  const std::size_t units = st.n_units;
  const std::size_t k_vectors = batch.count;
  const bool flags = home_ && data_.has_home_flags();
  const double* w = data_.has_weights() ? data_.weight.data() : nullptr;
  const std::uint8_t* y2 = data_.outcome2.data();
  const std::uint32_t* a = st.grouped ? st.unit_a.data() : data_.a.data();
  const std::uint32_t* b = st.grouped ? st.unit_b.data() : data_.b.data();
  const std::uint8_t* home = flags ? (st.grouped ? st.unit_home.data() : data_.at_home.data()) : nullptr;
  const auto kv = static_cast<std::ptrdiff_t>(k_vectors);
  const bool parallel = units * k_vectors >= kParallelWork;
#pragma omp parallel for num_threads(threads_) schedule(static, 1) if (parallel)
  for (std::ptrdiff_t jj = 0; jj < kv; ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    const double* s = theta + j * p;
    double* g = gradients + j * p;
    std::fill(g, g + p, 0.0);
    const double h = home_ ? s[n_items_] : 0.0;
    double* curvature = st.curvature.data() + j * units;
    double value = 0.0, gh = 0.0;
    auto add = [&](std::size_t u, double weight, double y) {
      const bool at_home = home != nullptr && home[u] != 0;
      const double eta = detail::bt_margin(s, a[u], b[u], h, at_home);
      const auto terms = values ? bernoulli_terms(eta, y, weight) : detail::bernoulli_gradient_terms(eta, y, weight);
      value += terms.value;
      g[a[u]] += terms.residual;
      g[b[u]] -= terms.residual;
      if (at_home) gh += terms.residual;
      curvature[u] = terms.curvature;
    };
    if (st.grouped) {
      const double* tot = st.total.data() + j * units;
      const double* sc = st.score.data() + j * units;
      for (std::size_t u = 0; u < units; ++u) {
        if (tot[u] > 0.0) add(u, tot[u], sc[u] / tot[u]);
        else curvature[u] = 0.0;
      }
    } else {
      const ReplicateWeights draw(batch.seed, batch.first + j);
      std::uint32_t drawn[kRowBlock];
      for (std::size_t begin = 0; begin < units; begin += kRowBlock) {
        const std::size_t m = std::min(kRowBlock, units - begin);
        if (w == nullptr) {
          unit_draws(draw, RangeRows{begin}, m, drawn);
        } else {
          for (std::size_t i = 0; i < m; ++i) drawn[i] = draw(w[begin + i], begin + i);
        }
        for (std::size_t i = 0; i < m; ++i) {
          const std::size_t r = begin + i;
          if (drawn[i] > 0) add(r, static_cast<double>(drawn[i]), outcome_y(y2[r]));
          else curvature[r] = 0.0;
        }
      }
    }
    if (home_) g[n_items_] += gh;
    if (values) values[j] = value;
  }
  ++passes_;
}

void BradleyTerryCpuObjective::hessian_vector_replicates(const ReplicateBatch& batch, const double* v,
                                                         double* hv) {
  ReplicateState& st = replicate_state(batch);
  const std::size_t p = n_params_;
  const std::size_t units = st.n_units;
  const bool flags = home_ && data_.has_home_flags();
  const std::uint32_t* a = st.grouped ? st.unit_a.data() : data_.a.data();
  const std::uint32_t* b = st.grouped ? st.unit_b.data() : data_.b.data();
  const std::uint8_t* home = flags ? (st.grouped ? st.unit_home.data() : data_.at_home.data()) : nullptr;
  const auto kv = static_cast<std::ptrdiff_t>(batch.count);
  const bool parallel = units * batch.count >= kParallelWork;
#pragma omp parallel for num_threads(threads_) schedule(static, 1) if (parallel)
  for (std::ptrdiff_t jj = 0; jj < kv; ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    const double* x = v + j * p;
    double* out = hv + j * p;
    std::fill(out, out + p, 0.0);
    const double xh = home_ ? x[n_items_] : 0.0;
    const double* curvature = st.curvature.data() + j * units;
    double gh = 0.0;
    for (std::size_t u = 0; u < units; ++u) {
      const double c = curvature[u];
      if (c == 0.0) continue;
      const bool at_home = home != nullptr && home[u] != 0;
      const double t = c * (x[a[u]] - x[b[u]] + (at_home ? xh : 0.0));
      out[a[u]] += t;
      out[b[u]] -= t;
      if (at_home) gh += t;
    }
    if (home_) out[n_items_] += gh;
  }
  ++passes_;
}

void BradleyTerryCpuObjective::hessian_diagonal_replicates(const ReplicateBatch& batch, double* diag) {
  ReplicateState& st = replicate_state(batch);
  const std::size_t p = n_params_;
  const std::size_t units = st.n_units;
  const bool flags = home_ && data_.has_home_flags();
  const std::uint32_t* a = st.grouped ? st.unit_a.data() : data_.a.data();
  const std::uint32_t* b = st.grouped ? st.unit_b.data() : data_.b.data();
  const std::uint8_t* home = flags ? (st.grouped ? st.unit_home.data() : data_.at_home.data()) : nullptr;
  const auto kv = static_cast<std::ptrdiff_t>(batch.count);
  const bool parallel = units * batch.count >= kParallelWork;
#pragma omp parallel for num_threads(threads_) schedule(static, 1) if (parallel)
  for (std::ptrdiff_t jj = 0; jj < kv; ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    double* out = diag + j * p;
    std::fill(out, out + p, 0.0);
    const double* curvature = st.curvature.data() + j * units;
    double gh = 0.0;
    for (std::size_t u = 0; u < units; ++u) {
      const double c = curvature[u];
      out[a[u]] += c;
      out[b[u]] += c;
      if (home != nullptr && home[u] != 0) gh += c;
    }
    if (home_) out[n_items_] += gh;
  }
  ++passes_;
}

void BradleyTerryCpuObjective::hessian_vector_batch(const double* v, std::size_t k, double* hv) {
  const std::size_t p = n_params_;
  if (k < static_cast<std::size_t>(threads_)) {
    // Too few vectors to give every thread one: each product in parallel over the rows.
    for (std::size_t j = 0; j < k; ++j) hessian_vector(v + j * p, hv + j * p);
    return;
  }
  const std::size_t n = data_.size();
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  const double* curvature = this->curvature();
#pragma omp parallel for num_threads(threads_) schedule(static, 1)
  for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(k); ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    const double* x = v + j * p;
    double* out = hv + j * p;
    std::fill(out, out + p, 0.0);
    const double xh = home_ ? x[n_items_] : 0.0;
    double gh = 0.0;
    for (std::size_t r = 0; r < n; ++r) {
      const bool at_home = home != nullptr && home[r] != 0;
      const double t = curvature[r] * (x[a[r]] - x[b[r]] + (at_home ? xh : 0.0));
      out[a[r]] += t;
      out[b[r]] -= t;
      if (at_home) gh += t;
    }
    if (home_) out[n_items_] += gh;
  }
  ++passes_;
}

// ---------------------------------------------------------------------------------------
// Logistic regression

namespace {
using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr std::size_t kLogisticBlock = 256;

// out = the sum of the per-thread buffers (threads x size), in thread order.
void sum_buffers(const std::vector<double>& buffers, int threads, std::size_t size, double* out) {
  for (std::size_t i = 0; i < size; ++i) {
    double s = 0.0;
    for (int t = 0; t < threads; ++t) s += buffers[static_cast<std::size_t>(t) * size + i];
    out[i] = s;
  }
}

// One pass over the rows for K parameter columns b (nf x K), in blocks of kLogisticBlock rows:
// E = X_block b (rows x K), then transform(thread, first row, E) rewrites E in place, then the
// thread's sums (p x K, column-major; row 0 the intercept's when o = 1) get the column sums of
// E and X_block^T E. sums: threads x p x K, zeroed by the caller.
template <class Transform>
void replicate_rows_pass(const Rows& data, std::size_t o, std::size_t p, const Eigen::MatrixXd& b, int threads,
                         bool parallel, std::vector<double>& sums, Transform&& transform) {
  const std::size_t n = data.n_rows;
  const std::size_t nf = data.n_features;
  const auto kv = static_cast<Eigen::Index>(b.cols());
  const std::size_t n_blocks = (n + kLogisticBlock - 1) / kLogisticBlock;
#pragma omp parallel num_threads(threads) if (parallel)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    Eigen::Map<Eigen::MatrixXd> g(sums.data() + t * p * static_cast<std::size_t>(kv), static_cast<Eigen::Index>(p),
                                  kv);
    Eigen::MatrixXd block(static_cast<Eigen::Index>(kLogisticBlock), kv);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(n_blocks); ++bb) {
      const std::size_t begin = static_cast<std::size_t>(bb) * kLogisticBlock;
      const auto rows = static_cast<Eigen::Index>(std::min(kLogisticBlock, n - begin));
      auto e = block.topRows(rows);
      if (!data.sparse) {
        Eigen::Map<const RowMajorMatrix> x(data.dense.data() + begin * nf, rows, static_cast<Eigen::Index>(nf));
        e.noalias() = x * b;
      } else {
        e.setZero();
        for (Eigen::Index i = 0; i < rows; ++i)
          for (auto q = data.row_ptr[begin + i]; q < data.row_ptr[begin + i + 1]; ++q)
            e.row(i) += data.val[q] * b.row(data.col[q]);
      }
      transform(t, begin, e);
      if (o) g.row(0) += e.colwise().sum();
      if (!data.sparse) {
        Eigen::Map<const RowMajorMatrix> x(data.dense.data() + begin * nf, rows, static_cast<Eigen::Index>(nf));
        g.bottomRows(static_cast<Eigen::Index>(nf)).noalias() += x.transpose() * e;
      } else {
        for (Eigen::Index i = 0; i < rows; ++i)
          for (auto q = data.row_ptr[begin + i]; q < data.row_ptr[begin + i + 1]; ++q)
            g.row(static_cast<Eigen::Index>(o + data.col[q])) += data.val[q] * e.row(i);
      }
    }
  }
}
}  // namespace

void LogisticCpuObjective::value_gradient_replicates(const ReplicateBatch& batch, const double* theta,
                                                     double* values, double* gradients) {
  check_batch(batch);
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const std::size_t kv = batch.count;
  if (!same_batch(replicate_batch_, batch) || replicate_curvature_.size() != n * kv) {
    replicate_curvature_.assign(n * kv, 0.0);
    replicate_batch_ = batch;
  }
  Eigen::Map<const Eigen::MatrixXd> theta_m(theta, static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(kv));
  const Eigen::MatrixXd beta = theta_m.bottomRows(static_cast<Eigen::Index>(nf));
  Eigen::RowVectorXd intercepts = Eigen::RowVectorXd::Zero(static_cast<Eigen::Index>(kv));
  if (o) intercepts = theta_m.row(0);
  std::vector<double> sums(static_cast<std::size_t>(threads_) * p * kv, 0.0);
  std::vector<double> thread_values(static_cast<std::size_t>(threads_) * kv, 0.0);
  double* curvature = replicate_curvature_.data();
  const bool parallel = n * kv * p >= kParallelWork;
  // E holds the margins X beta; each becomes the residual of its replicate's row weight.
  replicate_rows_pass(data_, o, p, beta, threads_, parallel, sums, [&](std::size_t t, std::size_t begin, auto& e) {
    double* val = thread_values.data() + t * kv;
    for (std::size_t k = 0; k < kv; ++k) {
      const ReplicateWeights draw(batch.seed, batch.first + k);
      const auto kk = static_cast<Eigen::Index>(k);
      for (Eigen::Index i = 0; i < e.rows(); ++i) {
        const std::size_t r = begin + static_cast<std::size_t>(i);
        const std::uint32_t d = draw(data_.w(r), r);
        if (d == 0) {
          e(i, kk) = 0.0;
          curvature[k * n + r] = 0.0;
          continue;
        }
        const auto terms =
            values ? bernoulli_terms(e(i, kk) + intercepts[kk], data_.label[r], static_cast<double>(d))
                   : detail::bernoulli_gradient_terms(e(i, kk) + intercepts[kk], data_.label[r], static_cast<double>(d));
        val[k] += terms.value;
        e(i, kk) = terms.residual;
        curvature[k * n + r] = terms.curvature;
      }
    }
  });
  if (values) sum_buffers(thread_values, threads_, kv, values);
  sum_buffers(sums, threads_, p * kv, gradients);
  ++passes_;
}

void LogisticCpuObjective::hessian_vector_replicates(const ReplicateBatch& batch, const double* v, double* hv) {
  check_batch(batch);
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const std::size_t kv = batch.count;
  if (!same_batch(replicate_batch_, batch) || replicate_curvature_.size() != n * kv)
    throw UsageError("hessian_vector_replicates before value_gradient_replicates for this batch");
  Eigen::Map<const Eigen::MatrixXd> v_m(v, static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(kv));
  const Eigen::MatrixXd vb = v_m.bottomRows(static_cast<Eigen::Index>(nf));
  Eigen::RowVectorXd v0 = Eigen::RowVectorXd::Zero(static_cast<Eigen::Index>(kv));
  if (o) v0 = v_m.row(0);
  std::vector<double> sums(static_cast<std::size_t>(threads_) * p * kv, 0.0);
  const double* curvature = replicate_curvature_.data();
  const bool parallel = n * kv * p >= kParallelWork;
  // E holds X v; each becomes c (x . v), c the curvature of its replicate's row.
  replicate_rows_pass(data_, o, p, vb, threads_, parallel, sums, [&](std::size_t, std::size_t begin, auto& e) {
    for (std::size_t k = 0; k < kv; ++k) {
      const auto kk = static_cast<Eigen::Index>(k);
      for (Eigen::Index i = 0; i < e.rows(); ++i)
        e(i, kk) = curvature[k * n + begin + static_cast<std::size_t>(i)] * (e(i, kk) + v0[kk]);
    }
  });
  sum_buffers(sums, threads_, p * kv, hv);
  ++passes_;
}

void LogisticCpuObjective::hessian_diagonal_replicates(const ReplicateBatch& batch, double* diag) {
  check_batch(batch);
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const std::size_t kv = batch.count;
  if (!same_batch(replicate_batch_, batch) || replicate_curvature_.size() != n * kv)
    throw UsageError("hessian_diagonal_replicates before value_gradient_replicates for this batch");
  std::vector<double> sums(static_cast<std::size_t>(threads_) * p * kv, 0.0);
  const double* curvature = replicate_curvature_.data();
  const bool parallel = n * kv * p >= kParallelWork;
#pragma omp parallel num_threads(threads_) if (parallel)
  {
    double* g = sums.data() + static_cast<std::size_t>(omp_get_thread_num()) * p * kv;
#pragma omp for schedule(static)
    for (std::ptrdiff_t rr = 0; rr < static_cast<std::ptrdiff_t>(n); ++rr) {
      const auto r = static_cast<std::size_t>(rr);
      for (std::size_t k = 0; k < kv; ++k) {
        const double c = curvature[k * n + r];
        if (c == 0.0) continue;
        double* gk = g + k * p;
        if (o) gk[0] += c;
        if (!data_.sparse) {
          const double* x = data_.dense.data() + r * nf;
          for (std::size_t j = 0; j < nf; ++j) gk[o + j] += c * x[j] * x[j];
        } else {
          for (auto q = data_.row_ptr[r]; q < data_.row_ptr[r + 1]; ++q)
            gk[o + data_.col[q]] += c * data_.val[q] * data_.val[q];
        }
      }
    }
  }
  sum_buffers(sums, threads_, p * kv, diag);
  ++passes_;
}

}  // namespace btfit
