// CPU objectives. The per-comparison and per-row maths comes from btfit/detail/maths.h,
// shared with the CUDA backend. Sums over the data are split into static OpenMP chunks,
// each thread adding into its own gradient buffer, then the buffers are added in thread
// order, so a result depends only on the data and the thread count.
#include "objective_cpu.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "btfit/detail/maths.h"

namespace btfit {

using detail::bernoulli_terms;
using detail::bernoulli_value;
using detail::outcome_y;

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return std::max(1, omp_get_max_threads());
}

StrengthSpan strength_span(const double* theta, std::size_t n) {
  if (n == 0) return {};
  double lowest = theta[0], highest = theta[0];
  for (std::size_t j = 1; j < n; ++j) {
    lowest = std::min(lowest, theta[j]);
    highest = std::max(highest, theta[j]);
  }
  return {0.5 * (lowest + highest), 0.5 * (highest - lowest)};
}

namespace {

// Adds the per-thread buffers (threads x n, row-major) into out (n).
void reduce_threads(const std::vector<double>& scratch, int threads, std::size_t n, double* out) {
  const auto n_signed = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::ptrdiff_t j = 0; j < n_signed; ++j) {
    double sum = 0.0;
    for (int t = 0; t < threads; ++t) sum += scratch[static_cast<std::size_t>(t) * n + j];
    out[j] = sum;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Bradley-Terry

BradleyTerryCpuObjective::BradleyTerryCpuObjective(const Comparisons& data, bool home_advantage,
                                                   int threads)
    : data_(data),
      home_(home_advantage),
      n_items_(data.n_items()),
      n_params_(data.n_items() + (home_advantage ? 1 : 0)),
      threads_(resolve_threads(threads)),
      scratch_(static_cast<std::size_t>(threads_) * n_params_, 0.0) {}

// The curvature per comparison is allocated by the first call that needs it (8 bytes per
// comparison that Newman's iteration and value() never use); before any value_gradient it is 0.
double* BradleyTerryCpuObjective::curvature() {
  if (curvature_.size() != data_.size()) curvature_.assign(data_.size(), 0.0);
  return curvature_.data();
}

double BradleyTerryCpuObjective::value_gradient(const double* theta, double* gradient) {
  const std::size_t n = data_.size();
  const std::size_t p = n_params_;
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* y2 = data_.outcome2.data();
  const double* w = data_.has_weights() ? data_.weight.data() : nullptr;
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  const double h = home_ ? theta[n_items_] : 0.0;
  double* curvature = this->curvature();
  // Per-thread sums added in thread order (an OpenMP reduction's order is unspecified).
  std::vector<double> totals(static_cast<std::size_t>(threads_), 0.0);
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
    double gh = 0.0;
    double total = 0.0;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
      const auto k = static_cast<std::size_t>(kk);
      const bool at_home = home != nullptr && home[k] != 0;
      const double eta = detail::bt_margin(theta, a[k], b[k], h, at_home);
      const auto t = bernoulli_terms(eta, outcome_y(y2[k]), w ? w[k] : 1.0);
      total += t.value;
      g[a[k]] += t.residual;
      g[b[k]] -= t.residual;
      if (at_home) gh += t.residual;
      curvature[k] = t.curvature;
    }
    if (home_) g[n_items_] += gh;
    totals[static_cast<std::size_t>(omp_get_thread_num())] = total;
  }
  reduce_threads(scratch_, threads_, p, gradient);
  ++passes_;
  double total = 0.0;
  for (const double thread_total : totals) total += thread_total;
  return total;
}

double BradleyTerryCpuObjective::value(const double* theta) {
  const std::size_t n = data_.size();
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* y2 = data_.outcome2.data();
  const double* w = data_.has_weights() ? data_.weight.data() : nullptr;
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  const double h = home_ ? theta[n_items_] : 0.0;
  // softplus(eta) = max(eta, 0) + log1p(e^-|eta|), and e^-|eta| = min(pi_a, pi_b) /
  // max(pi_a, pi_b) with the worths pi_i = exp(theta_i - m) (pi_a times e^h at home): exact
  // to rounding while no worth overflows or underflows (|theta_i - m| + |h| <= 600), which
  // holds unless the strengths span more than 1200; beyond that, one exp per comparison.
  const StrengthSpan span = strength_span(theta, n_items_);
  const double middle = span.middle;
  const bool use_worth = span.half_range + std::fabs(h) <= kWorthRange;
  std::vector<double> worth(use_worth ? n_items_ : 0);
  if (use_worth) {
#pragma omp parallel for num_threads(threads_) schedule(static) if (n_items_ > 100000)
    for (std::ptrdiff_t j = 0; j < static_cast<std::ptrdiff_t>(n_items_); ++j)
      worth[static_cast<std::size_t>(j)] = std::exp(theta[j] - middle);
  }
  const double home_factor = use_worth ? std::exp(h) : 0.0;
  // Unweighted, the log1p terms are summed as the log of their product: factors in [1, 2],
  // multiplied 32 at a time and taken apart into mantissa and exponent (frexp), one log per
  // thread at the end. The product's rounding (one ulp per factor) moves the sum by about
  // 1e-16 per comparison, the size of the summation's own rounding.
  const bool product = use_worth && w == nullptr;
  std::vector<double> totals(static_cast<std::size_t>(threads_), 0.0);
#pragma omp parallel num_threads(threads_)
  {
    double total = 0.0;
    double mantissa = 1.0;
    long long exponent = 0;
    int since_frexp = 0;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
      const auto k = static_cast<std::size_t>(kk);
      const bool at_home = home != nullptr && home[k] != 0;
      const double eta = detail::bt_margin(theta, a[k], b[k], h, at_home);
      const double wk = w ? w[k] : 1.0;
      if (use_worth) {
        const double pa = at_home ? worth[a[k]] * home_factor : worth[a[k]];
        const double pb = worth[b[k]];
        const double ratio = pa < pb ? pa / pb : pb / pa;  // e^-|eta|
        const double linear = (eta > 0.0 ? eta : 0.0) - outcome_y(y2[k]) * eta;
        if (product) {
          total += linear;
          mantissa *= 1.0 + ratio;
          if (++since_frexp == 32) {
            int e = 0;
            mantissa = std::frexp(mantissa, &e);
            exponent += e;
            since_frexp = 0;
          }
        } else {
          total += wk * (linear + std::log1p(ratio));
        }
      } else {
        total += bernoulli_value(eta, outcome_y(y2[k]), wk);
      }
    }
    if (product) total += std::log(mantissa) + static_cast<double>(exponent) * 0.69314718055994530942;
    totals[static_cast<std::size_t>(omp_get_thread_num())] = total;
  }
  ++passes_;
  double total = 0.0;
  for (const double thread_total : totals) total += thread_total;
  return total;
}

void BradleyTerryCpuObjective::hessian_vector(const double* v, double* hv) {
  const std::size_t n = data_.size();
  const std::size_t p = n_params_;
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  const double vh = home_ ? v[n_items_] : 0.0;
  const double* curvature = this->curvature();
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
    double gh = 0.0;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
      const auto k = static_cast<std::size_t>(kk);
      const bool at_home = home != nullptr && home[k] != 0;
      const double u = curvature[k] * (v[a[k]] - v[b[k]] + (at_home ? vh : 0.0));
      g[a[k]] += u;
      g[b[k]] -= u;
      if (at_home) gh += u;
    }
    if (home_) g[n_items_] += gh;
  }
  reduce_threads(scratch_, threads_, p, hv);
  ++passes_;
}

void BradleyTerryCpuObjective::hessian_diagonal(double* diag) {
  const std::size_t n = data_.size();
  const std::size_t p = n_params_;
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  const double* curvature = this->curvature();
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
    double gh = 0.0;
#pragma omp for schedule(static)
    for (std::ptrdiff_t kk = 0; kk < static_cast<std::ptrdiff_t>(n); ++kk) {
      const auto k = static_cast<std::size_t>(kk);
      g[a[k]] += curvature[k];
      g[b[k]] += curvature[k];
      if (home != nullptr && home[k] != 0) gh += curvature[k];
    }
    if (home_) g[n_items_] += gh;
  }
  reduce_threads(scratch_, threads_, p, diag);
  ++passes_;
}

void BradleyTerryCpuObjective::value_gradient_batch(const double* theta, std::size_t k_vectors,
                                                    double* values, double* gradients) {
  const std::size_t n = data_.size();
  const std::size_t p = n_params_;
  const std::size_t kv = k_vectors;
  const std::uint32_t* a = data_.a.data();
  const std::uint32_t* b = data_.b.data();
  const std::uint8_t* y2 = data_.outcome2.data();
  const double* w = data_.has_weights() ? data_.weight.data() : nullptr;
  const std::uint8_t* home = (home_ && data_.has_home_flags()) ? data_.at_home.data() : nullptr;
  // Parameter-major copy (p x K row-major): one comparison reads K contiguous values.
  std::vector<double> theta_t(p * kv);
  for (std::size_t k = 0; k < kv; ++k)
    for (std::size_t j = 0; j < p; ++j) theta_t[j * kv + k] = theta[k * p + j];
  std::vector<double> sums(static_cast<std::size_t>(threads_) * p * kv);
  std::vector<double> thread_values(static_cast<std::size_t>(threads_) * kv, 0.0);
  const std::size_t hj = n_items_;
#pragma omp parallel num_threads(threads_)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    double* g = sums.data() + t * p * kv;
    std::fill(g, g + p * kv, 0.0);
    double* val = thread_values.data() + t * kv;
#pragma omp for schedule(static)
    for (std::ptrdiff_t rr = 0; rr < static_cast<std::ptrdiff_t>(n); ++rr) {
      const auto r = static_cast<std::size_t>(rr);
      const double y = outcome_y(y2[r]);
      const double wr = w ? w[r] : 1.0;
      const bool at_home = home != nullptr && home[r] != 0;
      const double* sa = theta_t.data() + static_cast<std::size_t>(a[r]) * kv;
      const double* sb = theta_t.data() + static_cast<std::size_t>(b[r]) * kv;
      const double* sh = theta_t.data() + hj * kv;
      double* ga = g + static_cast<std::size_t>(a[r]) * kv;
      double* gb = g + static_cast<std::size_t>(b[r]) * kv;
      double* gh = g + hj * kv;
      for (std::size_t k = 0; k < kv; ++k) {
        const double eta = sa[k] - sb[k] + (at_home ? sh[k] : 0.0);
        const auto terms = bernoulli_terms(eta, y, wr);
        val[k] += terms.value;
        ga[k] += terms.residual;
        gb[k] -= terms.residual;
        if (at_home) gh[k] += terms.residual;
      }
    }
  }
  for (std::size_t k = 0; k < kv; ++k) {
    double v = 0.0;
    for (int t = 0; t < threads_; ++t) v += thread_values[static_cast<std::size_t>(t) * kv + k];
    values[k] = v;
  }
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t jj = 0; jj < static_cast<std::ptrdiff_t>(p); ++jj) {
    const auto j = static_cast<std::size_t>(jj);
    for (std::size_t k = 0; k < kv; ++k) {
      double s = 0.0;
      for (int t = 0; t < threads_; ++t) s += sums[static_cast<std::size_t>(t) * p * kv + j * kv + k];
      gradients[k * p + j] = s;
    }
  }
  ++passes_;
}

// ---------------------------------------------------------------------------------------
// Logistic regression

namespace {
constexpr std::size_t kRowBlock = 256;  // rows per cache block (dense)
using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
}  // namespace

LogisticCpuObjective::LogisticCpuObjective(const Rows& data, bool intercept, int threads)
    : data_(data),
      offset_(intercept ? 1 : 0),
      n_params_(data.n_features + (intercept ? 1 : 0)),
      threads_(resolve_threads(threads)),
      curvature_(data.n_rows, 0.0),
      scratch_(static_cast<std::size_t>(threads_) * n_params_, 0.0) {}

double LogisticCpuObjective::value_gradient(const double* theta, double* gradient) {
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const double intercept = o ? theta[0] : 0.0;
  const double* beta = theta + o;
  double* curvature = curvature_.data();
  const std::size_t n_blocks = (n + kRowBlock - 1) / kRowBlock;
  // Per-thread sums added in thread order (an OpenMP reduction's order is unspecified).
  std::vector<double> totals(static_cast<std::size_t>(threads_), 0.0);
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
    Eigen::VectorXd eta(kRowBlock), resid(kRowBlock);
    double total = 0.0;
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(n_blocks); ++bb) {
      const std::size_t begin = static_cast<std::size_t>(bb) * kRowBlock;
      const std::size_t rows = std::min(kRowBlock, n - begin);
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        Eigen::Map<const Eigen::VectorXd> bv(beta, nf);
        eta.head(rows).noalias() = x * bv;
      } else {
        for (std::size_t i = 0; i < rows; ++i) {
          double s = 0.0;
          for (auto e = data_.row_ptr[begin + i]; e < data_.row_ptr[begin + i + 1]; ++e)
            s += data_.val[e] * beta[data_.col[e]];
          eta[i] = s;
        }
      }
      double g0 = 0.0;
      for (std::size_t i = 0; i < rows; ++i) {
        const std::size_t r = begin + i;
        const auto t = bernoulli_terms(eta[i] + intercept, data_.label[r], data_.w(r));
        total += t.value;
        resid[i] = t.residual;
        g0 += t.residual;
        curvature[r] = t.curvature;
      }
      if (o) g[0] += g0;
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        Eigen::Map<Eigen::VectorXd> gv(g + o, nf);
        gv.noalias() += x.transpose() * resid.head(rows);
      } else {
        for (std::size_t i = 0; i < rows; ++i)
          for (auto e = data_.row_ptr[begin + i]; e < data_.row_ptr[begin + i + 1]; ++e)
            g[o + data_.col[e]] += data_.val[e] * resid[i];
      }
    }
    totals[static_cast<std::size_t>(omp_get_thread_num())] = total;
  }
  reduce_threads(scratch_, threads_, p, gradient);
  ++passes_;
  double total = 0.0;
  for (const double thread_total : totals) total += thread_total;
  return total;
}

void LogisticCpuObjective::hessian_vector(const double* v, double* hv) {
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const double v0 = o ? v[0] : 0.0;
  const double* vb = v + o;
  const double* curvature = curvature_.data();
  const std::size_t n_blocks = (n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
    Eigen::VectorXd u(kRowBlock);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(n_blocks); ++bb) {
      const std::size_t begin = static_cast<std::size_t>(bb) * kRowBlock;
      const std::size_t rows = std::min(kRowBlock, n - begin);
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        u.head(rows).noalias() = x * Eigen::Map<const Eigen::VectorXd>(vb, nf);
      } else {
        for (std::size_t i = 0; i < rows; ++i) {
          double s = 0.0;
          for (auto e = data_.row_ptr[begin + i]; e < data_.row_ptr[begin + i + 1]; ++e)
            s += data_.val[e] * vb[data_.col[e]];
          u[i] = s;
        }
      }
      double g0 = 0.0;
      for (std::size_t i = 0; i < rows; ++i) {
        u[i] = curvature[begin + i] * (u[i] + v0);
        g0 += u[i];
      }
      if (o) g[0] += g0;
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        Eigen::Map<Eigen::VectorXd>(g + o, nf).noalias() += x.transpose() * u.head(rows);
      } else {
        for (std::size_t i = 0; i < rows; ++i)
          for (auto e = data_.row_ptr[begin + i]; e < data_.row_ptr[begin + i + 1]; ++e)
            g[o + data_.col[e]] += data_.val[e] * u[i];
      }
    }
  }
  reduce_threads(scratch_, threads_, p, hv);
  ++passes_;
}

void LogisticCpuObjective::hessian_diagonal(double* diag) {
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const double* curvature = curvature_.data();
#pragma omp parallel num_threads(threads_)
  {
    double* g = scratch_.data() + static_cast<std::size_t>(omp_get_thread_num()) * p;
    std::fill(g, g + p, 0.0);
#pragma omp for schedule(static)
    for (std::ptrdiff_t rr = 0; rr < static_cast<std::ptrdiff_t>(n); ++rr) {
      const auto r = static_cast<std::size_t>(rr);
      const double d = curvature[r];
      if (o) g[0] += d;
      if (!data_.sparse) {
        const double* x = data_.dense.data() + r * nf;
        for (std::size_t j = 0; j < nf; ++j) g[o + j] += d * x[j] * x[j];
      } else {
        for (auto e = data_.row_ptr[r]; e < data_.row_ptr[r + 1]; ++e)
          g[o + data_.col[e]] += d * data_.val[e] * data_.val[e];
      }
    }
  }
  reduce_threads(scratch_, threads_, p, diag);
  ++passes_;
}

void LogisticCpuObjective::value_gradient_batch(const double* theta, std::size_t k_vectors,
                                                double* values, double* gradients) {
  const std::size_t n = data_.n_rows;
  const std::size_t p = n_params_;
  const std::size_t nf = data_.n_features;
  const std::size_t o = offset_;
  const std::size_t kv = k_vectors;
  // theta is p x K column-major: the feature block is rows o..p-1 of it.
  Eigen::Map<const Eigen::MatrixXd> theta_m(theta, p, kv);
  const Eigen::MatrixXd beta = theta_m.bottomRows(nf);
  Eigen::RowVectorXd intercepts = Eigen::RowVectorXd::Zero(kv);
  if (o) intercepts = theta_m.row(0);
  std::vector<double> sums(static_cast<std::size_t>(threads_) * p * kv);
  std::vector<double> thread_values(static_cast<std::size_t>(threads_) * kv, 0.0);
  const std::size_t n_blocks = (n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel num_threads(threads_)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    Eigen::Map<Eigen::MatrixXd> g(sums.data() + t * p * kv, p, kv);
    g.setZero();
    double* val = thread_values.data() + t * kv;
    Eigen::MatrixXd eta(kRowBlock, kv);
#pragma omp for schedule(static)
    for (std::ptrdiff_t bb = 0; bb < static_cast<std::ptrdiff_t>(n_blocks); ++bb) {
      const std::size_t begin = static_cast<std::size_t>(bb) * kRowBlock;
      const std::size_t rows = std::min(kRowBlock, n - begin);
      auto e = eta.topRows(rows);
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        e.noalias() = x * beta;
      } else {
        e.setZero();
        for (std::size_t i = 0; i < rows; ++i)
          for (auto q = data_.row_ptr[begin + i]; q < data_.row_ptr[begin + i + 1]; ++q)
            e.row(i) += data_.val[q] * beta.row(data_.col[q]);
      }
      for (std::size_t k = 0; k < kv; ++k) {
        for (std::size_t i = 0; i < rows; ++i) {
          const std::size_t r = begin + i;
          const auto terms = bernoulli_terms(e(i, k) + intercepts[k], data_.label[r], data_.w(r));
          val[k] += terms.value;
          e(i, k) = terms.residual;
        }
      }
      if (o) g.row(0) += e.colwise().sum();
      if (!data_.sparse) {
        Eigen::Map<const RowMajor> x(data_.dense.data() + begin * nf, rows, nf);
        g.bottomRows(nf).noalias() += x.transpose() * e;
      } else {
        for (std::size_t i = 0; i < rows; ++i)
          for (auto q = data_.row_ptr[begin + i]; q < data_.row_ptr[begin + i + 1]; ++q)
            g.row(o + data_.col[q]) += data_.val[q] * e.row(i);
      }
    }
  }
  for (std::size_t k = 0; k < kv; ++k) {
    double v = 0.0;
    for (int t = 0; t < threads_; ++t) v += thread_values[static_cast<std::size_t>(t) * kv + k];
    values[k] = v;
  }
  reduce_threads(sums, threads_, p * kv, gradients);
  ++passes_;
}

}  // namespace btfit
