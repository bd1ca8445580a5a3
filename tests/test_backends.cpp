// One test body per model, run on every backend: value, gradient, Hessian-vector product,
// Hessian diagonal, batched evaluation and batched Hessian-vector products agree with a
// reference to 1e-10 relative, and finite differences of each backend's own value and
// gradient agree with its gradient and Hessian-vector product.
//   - CPU backend: the reference is a naive loop over the observations written below,
//     independent of btfit/detail/maths.h, so these cases assert something on any machine.
//   - CUDA backend (and its variants: deterministic scatter, unfused gemv): the reference is
//     the CPU objective. Without a usable device these cases skip with the reason.
// Sizes are not multiples of the block size (1, 255, 1000, 4099), with and without weights,
// ties, home advantage and an intercept, dense and sparse rows, K = 1, 3 and 16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "btfit/backend.h"
#include "btfit/data.h"
#include "btfit/error.h"
#include "btfit/fit.h"
#include "btfit/objective.h"
#include "btfit/optimize.h"
#include "btfit/simulate.h"
#include "objective_cpu.h"

// The CUDA backend's own header is on the include path only in builds with CUDA; it gives
// the tests the variants that the Device choice does not reach.
#if __has_include("objective_cuda.h")
#include "cuda_check.cuh"  // only the CUDA runtime's C API: the host compiler can test it
#include "objective_cuda.h"
#define BTFIT_TEST_HAS_CUDA_BACKEND 1
#else
#define BTFIT_TEST_HAS_CUDA_BACKEND 0
#endif

namespace btfit {
namespace {

constexpr double kTolerance = 1e-10;  // relative, CUDA or CPU against the reference
constexpr int kCpuThreads = 3;        // not a divisor of the sizes: uneven thread chunks

// ---------------------------------------------------------------------------------------
// The naive reference: every observation is a sparse design row xt_i with outcome y_i and
// weight w_i, and f = sum_i w_i [softplus(xt_i . theta) - y_i xt_i . theta].

struct Observation {
  std::vector<std::pair<std::size_t, double>> entries;  // (parameter, coefficient)
  double y = 0.0;
  double w = 1.0;
};

class NaiveObjective : public Objective {
 public:
  NaiveObjective(std::vector<Observation> observations, std::size_t n_params)
      : observations_(std::move(observations)), n_params_(n_params), current_(n_params, 0.0) {}

  std::size_t n_params() const override { return n_params_; }
  double value_gradient(const double* theta, double* gradient) override {
    current_.assign(theta, theta + n_params_);
    ++passes_;
    return evaluate(theta, gradient);
  }
  void hessian_vector(const double* v, double* hv) override {
    std::fill(hv, hv + n_params_, 0.0);
    for (const auto& obs : observations_) {
      const double c = curvature(obs, current_.data());
      const double u = c * dot(obs, v);
      for (const auto& [j, x] : obs.entries) hv[j] += u * x;
    }
    ++passes_;
  }
  void hessian_diagonal(double* diag) override {
    std::fill(diag, diag + n_params_, 0.0);
    for (const auto& obs : observations_) {
      const double c = curvature(obs, current_.data());
      // A parameter can appear twice in one row only with a = b, which the data avoid.
      for (const auto& [j, x] : obs.entries) diag[j] += c * x * x;
    }
    ++passes_;
  }
  void value_gradient_batch(const double* theta, std::size_t k, double* values, double* gradients) override {
    for (std::size_t column = 0; column < k; ++column) {
      values[column] = evaluate(theta + column * n_params_, gradients + column * n_params_);
    }
    ++passes_;
  }
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "naive"; }

 private:
  static double dot(const Observation& obs, const double* theta) {
    double eta = 0.0;
    for (const auto& [j, x] : obs.entries) eta += x * theta[j];
    return eta;
  }
  static double probability(double eta) { return 1.0 / (1.0 + std::exp(-eta)); }
  static double curvature(const Observation& obs, const double* theta) {
    const double p = probability(dot(obs, theta));
    return obs.w * p * (1.0 - p);
  }
  double evaluate(const double* theta, double* gradient) const {
    std::fill(gradient, gradient + n_params_, 0.0);
    double value = 0.0;
    for (const auto& obs : observations_) {
      const double eta = dot(obs, theta);
      value += obs.w * (std::max(eta, 0.0) + std::log1p(std::exp(-std::fabs(eta))) - obs.y * eta);
      const double r = obs.w * (probability(eta) - obs.y);
      for (const auto& [j, x] : obs.entries) gradient[j] += r * x;
    }
    return value;
  }

  std::vector<Observation> observations_;
  std::size_t n_params_;
  std::vector<double> current_;
  std::size_t passes_ = 0;
};

std::unique_ptr<Objective> naive_bradley_terry(const Comparisons& data, bool home_advantage) {
  std::vector<Observation> observations;
  for (std::size_t k = 0; k < data.size(); ++k) {
    Observation obs;
    obs.entries = {{data.a[k], 1.0}, {data.b[k], -1.0}};
    if (home_advantage && data.has_home_flags() && data.at_home[k] != 0)
      obs.entries.emplace_back(data.n_items(), 1.0);
    obs.y = data.y(k);
    obs.w = data.w(k);
    observations.push_back(std::move(obs));
  }
  return std::make_unique<NaiveObjective>(std::move(observations), data.n_items() + (home_advantage ? 1 : 0));
}

std::unique_ptr<Objective> naive_logistic(const Rows& data, bool intercept) {
  const std::size_t offset = intercept ? 1 : 0;
  std::vector<Observation> observations;
  for (std::size_t i = 0; i < data.n_rows; ++i) {
    Observation obs;
    if (intercept) obs.entries.emplace_back(0, 1.0);
    if (data.sparse) {
      for (auto e = data.row_ptr[i]; e < data.row_ptr[i + 1]; ++e)
        obs.entries.emplace_back(offset + data.col[e], data.val[e]);
    } else {
      for (std::size_t j = 0; j < data.n_features; ++j)
        obs.entries.emplace_back(offset + j, data.dense[i * data.n_features + j]);
    }
    obs.y = data.label[i];
    obs.w = data.w(i);
    observations.push_back(std::move(obs));
  }
  return std::make_unique<NaiveObjective>(std::move(observations), data.n_features + offset);
}

// ---------------------------------------------------------------------------------------
// Comparing two objectives

double norm(const std::vector<double>& x) {
  double sum = 0.0;
  for (const double v : x) sum += v * v;
  return std::sqrt(sum);
}

// ||x - reference|| / ||reference|| (0 when both are 0).
double relative_error(const std::vector<double>& x, const std::vector<double>& reference) {
  std::vector<double> difference(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) difference[i] = x[i] - reference[i];
  const double scale = norm(reference);
  return scale > 0.0 ? norm(difference) / scale : norm(difference);
}

double relative_error(double x, double reference) {
  return reference != 0.0 ? std::fabs(x - reference) / std::fabs(reference) : std::fabs(x);
}

std::vector<double> random_vector(std::size_t n, double sd, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, sd);
  std::vector<double> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

std::vector<double> column(const std::vector<double>& matrix, std::size_t n_rows, std::size_t k) {
  return {matrix.begin() + static_cast<std::ptrdiff_t>(k * n_rows),
          matrix.begin() + static_cast<std::ptrdiff_t>((k + 1) * n_rows)};
}

// The one test body: `tested` against `reference` at random points around theta_sd.
void expect_matches(Objective& tested, Objective& reference, double theta_sd, std::uint64_t seed) {
  ASSERT_EQ(tested.n_params(), reference.n_params());
  const std::size_t p = tested.n_params();
  std::mt19937_64 rng(seed);
  const std::size_t passes_before = tested.passes();
  std::size_t calls = 0;

  // value_gradient
  const std::vector<double> theta = random_vector(p, theta_sd, rng);
  std::vector<double> gradient(p), gradient_ref(p);
  const double value = tested.value_gradient(theta.data(), gradient.data());
  const double value_ref = reference.value_gradient(theta.data(), gradient_ref.data());
  ++calls;
  EXPECT_LE(relative_error(value, value_ref), kTolerance) << "value " << value << " vs " << value_ref;
  EXPECT_LE(relative_error(gradient, gradient_ref), kTolerance) << "gradient";

  // hessian_vector and hessian_diagonal at that point
  const std::vector<double> v = random_vector(p, 1.0, rng);
  std::vector<double> hv(p), hv_ref(p);
  tested.hessian_vector(v.data(), hv.data());
  reference.hessian_vector(v.data(), hv_ref.data());
  ++calls;
  EXPECT_LE(relative_error(hv, hv_ref), kTolerance) << "Hessian-vector product";
  std::vector<double> diag(p), diag_ref(p);
  tested.hessian_diagonal(diag.data());
  reference.hessian_diagonal(diag_ref.data());
  ++calls;
  EXPECT_LE(relative_error(diag, diag_ref), kTolerance) << "Hessian diagonal";

  // value_gradient_batch: P x K column-major, one pass each
  for (const std::size_t k : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
    const std::vector<double> thetas = random_vector(p * k, theta_sd, rng);
    std::vector<double> values(k), values_ref(k), gradients(p * k), gradients_ref(p * k);
    tested.value_gradient_batch(thetas.data(), k, values.data(), gradients.data());
    reference.value_gradient_batch(thetas.data(), k, values_ref.data(), gradients_ref.data());
    ++calls;
    for (std::size_t c = 0; c < k; ++c) {
      EXPECT_LE(relative_error(values[c], values_ref[c]), kTolerance)
          << "batch value, K = " << k << ", vector " << c;
      EXPECT_LE(relative_error(column(gradients, p, c), column(gradients_ref, p, c)), kTolerance)
          << "batch gradient, K = " << k << ", vector " << c;
    }
  }
  // The batch left the current point alone: H v is still the one at theta.
  tested.hessian_vector(v.data(), hv.data());
  ++calls;
  EXPECT_LE(relative_error(hv, hv_ref), kTolerance) << "Hessian-vector product after a batch";
  EXPECT_EQ(tested.passes() - passes_before, calls) << "passes()";

  // hessian_vector_batch: K products with the Hessian at the current point (still theta),
  // P x K column-major. K = 1 and 3 are below or at the CPU test's thread count, 16 above it.
  for (const std::size_t k : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
    const std::vector<double> vs = random_vector(p * k, 1.0, rng);
    std::vector<double> hvs(p * k, std::nan("")), hvs_ref(p * k);
    tested.hessian_vector_batch(vs.data(), k, hvs.data());
    reference.hessian_vector_batch(vs.data(), k, hvs_ref.data());
    for (std::size_t c = 0; c < k; ++c) {
      EXPECT_LE(relative_error(column(hvs, p, c), column(hvs_ref, p, c)), kTolerance)
          << "batch Hessian-vector product, K = " << k << ", vector " << c;
    }
  }

  // Finite differences of the tested objective itself, along a random direction d:
  // (f(theta + h d) - f(theta - h d)) / 2h ~ g . d and the same of g ~ H d.
  const std::vector<double> direction = random_vector(p, 1.0, rng);
  const double step = 1e-5;
  std::vector<double> plus(p), minus(p), gradient_plus(p), gradient_minus(p);
  for (std::size_t j = 0; j < p; ++j) {
    plus[j] = theta[j] + step * direction[j];
    minus[j] = theta[j] - step * direction[j];
  }
  const double value_plus = tested.value_gradient(plus.data(), gradient_plus.data());
  const double value_minus = tested.value_gradient(minus.data(), gradient_minus.data());
  double slope = 0.0;
  for (std::size_t j = 0; j < p; ++j) slope += gradient[j] * direction[j];
  const double scale = std::max({std::fabs(slope), std::fabs(value) * 1e-6, 1e-8});
  EXPECT_NEAR((value_plus - value_minus) / (2 * step), slope, 1e-6 * scale) << "finite-difference slope";
  tested.value_gradient(theta.data(), gradient.data());
  std::vector<double> h_direction(p), difference(p);
  tested.hessian_vector(direction.data(), h_direction.data());
  for (std::size_t j = 0; j < p; ++j) difference[j] = (gradient_plus[j] - gradient_minus[j]) / (2 * step);
  EXPECT_LE(relative_error(difference, h_direction), 1e-6) << "finite-difference Hessian-vector product";
}

// ---------------------------------------------------------------------------------------
// Backends

enum class Backend {
  cpu,
  cuda,                // the default CUDA objective (atomic scatter; fused dense rows)
  cuda_deterministic,  // Bradley-Terry: sorted-by-item segmented reduction
  cuda_gemv,           // logistic: dense rows through two cuBLAS gemv calls
};

std::string backend_name(Backend backend) {
  switch (backend) {
    case Backend::cpu:
      return "cpu";
    case Backend::cuda:
      return "cuda";
    case Backend::cuda_deterministic:
      return "cuda_deterministic";
    case Backend::cuda_gemv:
      return "cuda_gemv";
  }
  return "unknown";
}

void PrintTo(Backend backend, std::ostream* os) {
  *os << backend_name(backend);
}

// Empty when the CUDA backend can run here, else why not.
std::string cuda_unavailable_reason() {
  std::string why;
  if (cuda_device_available(&why)) return "";
  return why.empty() ? "no usable device" : why;
}

#define BTFIT_SKIP_WITHOUT_CUDA(backend)                           \
  do {                                                             \
    if ((backend) != Backend::cpu) {                               \
      const std::string why = cuda_unavailable_reason();           \
      if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why; \
    }                                                              \
  } while (0)

// ---------------------------------------------------------------------------------------
// Bradley-Terry

struct ComparisonCase {
  const char* name;
  std::size_t n_items;
  std::size_t n_comparisons;
  bool weights;         // random weights in [0.1, 3], one in 20 set to 0
  bool ties;            // one in 5 a tie
  bool home_flags;      // the data carry home flags
  bool home_advantage;  // the model has h
  std::uint64_t seed;
};

void PrintTo(const ComparisonCase& spec, std::ostream* os) {
  *os << spec.name;
}

Comparisons make_comparisons(const ComparisonCase& spec) {
  std::mt19937_64 rng(spec.seed);
  std::uniform_int_distribution<std::uint32_t> item(0, static_cast<std::uint32_t>(spec.n_items - 1));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Comparisons data;
  for (std::size_t i = 0; i < spec.n_items; ++i) data.item_names.push_back("item" + std::to_string(i));
  for (std::size_t k = 0; k < spec.n_comparisons; ++k) {
    const std::uint32_t a = item(rng);
    std::uint32_t b = item(rng);
    while (b == a) b = item(rng);
    data.a.push_back(a);
    data.b.push_back(b);
    const double u = uniform(rng);
    data.outcome2.push_back(spec.ties && u < 0.2 ? 1 : (u < 0.6 ? 2 : 0));
    if (spec.weights) data.weight.push_back(uniform(rng) < 0.05 ? 0.0 : 0.1 + 2.9 * uniform(rng));
    if (spec.home_flags) data.at_home.push_back(uniform(rng) < 0.7 ? 1 : 0);
  }
  return data;
}

const ComparisonCase kComparisonCases[] = {
    {"n1", 2, 1, false, false, false, false, 11},
    {"n255_weights", 10, 255, true, false, false, false, 12},
    {"n255_unplayed_items", 700, 255, false, true, false, false, 13},
    {"n1000_ties", 50, 1000, false, true, false, false, 14},
    {"n1000_flags_without_home", 40, 1000, true, false, true, false, 15},
    {"n1000_home_without_flags", 40, 1000, false, false, false, true, 16},
    {"n4099_home", 300, 4099, false, false, true, true, 17},
    {"n4099_weights_ties_home", 257, 4099, true, true, true, true, 18},
};

std::unique_ptr<Objective> bradley_terry_under_test(Backend backend, const Comparisons& data, bool home) {
  switch (backend) {
    case Backend::cpu: {
      BackendChoice choice = make_bradley_terry_objective(data, home, Device::cpu, kCpuThreads);
      EXPECT_EQ(choice.device, "cpu");
      return std::move(choice.objective);
    }
    case Backend::cuda: {
      BackendChoice choice = make_bradley_terry_objective(data, home, Device::cuda, kCpuThreads);
      EXPECT_EQ(choice.device, "cuda");
      EXPECT_FALSE(choice.reason.empty());
      return std::move(choice.objective);
    }
    case Backend::cuda_deterministic:
#if BTFIT_TEST_HAS_CUDA_BACKEND
      return cuda::make_bradley_terry_objective(data, home, cuda::BradleyTerryCudaOptions{true});
#else
      return nullptr;
#endif
    case Backend::cuda_gemv:
      return nullptr;
  }
  return nullptr;
}

class BradleyTerryBackend : public ::testing::TestWithParam<std::tuple<Backend, ComparisonCase>> {};

TEST_P(BradleyTerryBackend, MatchesReference) {
  const auto [backend, spec] = GetParam();
  BTFIT_SKIP_WITHOUT_CUDA(backend);
  const Comparisons data = make_comparisons(spec);
  std::unique_ptr<Objective> tested = bradley_terry_under_test(backend, data, spec.home_advantage);
  ASSERT_NE(tested, nullptr) << backend_name(backend) << " is not in this build";
  EXPECT_STREQ(tested->device_name(), backend == Backend::cpu ? "cpu" : "cuda");
  std::unique_ptr<Objective> reference;
  if (backend == Backend::cpu) {
    reference = naive_bradley_terry(data, spec.home_advantage);
  } else {
    reference = std::make_unique<BradleyTerryCpuObjective>(data, spec.home_advantage, kCpuThreads);
  }
  expect_matches(*tested, *reference, 1.0, spec.seed * 7919);
}

// The CPU objective and the deterministic CUDA variant give the same bits on every run.
class BradleyTerryRepeatBackend : public ::testing::TestWithParam<std::tuple<Backend, ComparisonCase>> {};

TEST_P(BradleyTerryRepeatBackend, SameBitsEveryRun) {
  const auto [backend, spec] = GetParam();
  BTFIT_SKIP_WITHOUT_CUDA(backend);
  const Comparisons data = make_comparisons(spec);
  std::unique_ptr<Objective> tested = bradley_terry_under_test(backend, data, spec.home_advantage);
  ASSERT_NE(tested, nullptr) << backend_name(backend) << " is not in this build";
  std::mt19937_64 rng(spec.seed);
  const std::vector<double> theta = random_vector(tested->n_params(), 1.0, rng);
  std::vector<double> first(tested->n_params()), second(tested->n_params());
  const double value_first = tested->value_gradient(theta.data(), first.data());
  const double value_second = tested->value_gradient(theta.data(), second.data());
  EXPECT_EQ(value_first, value_second);
  EXPECT_EQ(first, second);
  tested->hessian_vector(theta.data(), first.data());
  tested->hessian_vector(theta.data(), second.data());
  EXPECT_EQ(first, second);
}

INSTANTIATE_TEST_SUITE_P(Backends, BradleyTerryRepeatBackend,
                         ::testing::Combine(::testing::Values(Backend::cpu, Backend::cuda_deterministic),
                                            ::testing::ValuesIn(kComparisonCases)),
                         [](const auto& info) {
                           return backend_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
                         });

INSTANTIATE_TEST_SUITE_P(Backends, BradleyTerryBackend,
                         ::testing::Combine(::testing::Values(Backend::cpu, Backend::cuda,
                                                              Backend::cuda_deterministic),
                                            ::testing::ValuesIn(kComparisonCases)),
                         [](const auto& info) {
                           return backend_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
                         });

// Newman's sums (host/newman.cpp), by a naive loop: per comparison p = sigmoid(eta), and
// A_a += w y (1 - p), B_a += w (1 - y) p, A_b += w (1 - y) p, B_b += w y (1 - p); A_h and B_h
// over the home games as for a.
std::vector<double> naive_newman_sums(const Comparisons& data, bool home_advantage, const double* x) {
  const std::size_t n_items = data.n_items();
  std::vector<double> sums(2 * (n_items + (home_advantage ? 1 : 0)), 0.0);
  for (std::size_t k = 0; k < data.size(); ++k) {
    const bool at_home = home_advantage && data.has_home_flags() && data.at_home[k] != 0;
    const double eta = x[data.a[k]] - x[data.b[k]] + (at_home ? x[n_items] : 0.0);
    const double p = 1.0 / (1.0 + std::exp(-eta));
    const double u = data.w(k) * data.y(k) * (1.0 - p);
    const double v = data.w(k) * (1.0 - data.y(k)) * p;
    sums[2 * data.a[k]] += u;
    sums[2 * data.a[k] + 1] += v;
    sums[2 * data.b[k]] += v;
    sums[2 * data.b[k] + 1] += u;
    if (at_home) {
      sums[2 * n_items] += u;
      sums[2 * n_items + 1] += v;
    }
  }
  return sums;
}

// The CUDA objective offers Newman's sums (the default, atomic one); they match the naive loop
// and leave the current point alone. The CPU objective and the deterministic variant offer none.
TEST_P(BradleyTerryBackend, NewmanSums) {
  const auto [backend, spec] = GetParam();
  BTFIT_SKIP_WITHOUT_CUDA(backend);
  const Comparisons data = make_comparisons(spec);
  std::unique_ptr<Objective> tested = bradley_terry_under_test(backend, data, spec.home_advantage);
  ASSERT_NE(tested, nullptr) << backend_name(backend) << " is not in this build";
  if (backend != Backend::cuda) {
    EXPECT_FALSE(tested->has_newman_sums());
    std::vector<double> x(tested->n_params(), 0.0), sums(2 * tested->n_params());
    EXPECT_THROW(tested->newman_sums(x.data(), sums.data()), BackendError);
    return;
  }
  ASSERT_TRUE(tested->has_newman_sums());
  const std::size_t p = tested->n_params();
  std::mt19937_64 rng(spec.seed * 31);
  const std::vector<double> theta = random_vector(p, 1.0, rng);
  const std::vector<double> v = random_vector(p, 1.0, rng);
  std::vector<double> gradient(p), hv_before(p), hv_after(p);
  tested->value_gradient(theta.data(), gradient.data());
  tested->hessian_vector(v.data(), hv_before.data());
  for (const double sd : {0.0, 1.0, 8.0}) {  // 8: margins where one side's probability underflows
    const std::vector<double> x = random_vector(p, sd, rng);
    std::vector<double> sums(2 * p, std::nan(""));
    const std::size_t passes_before = tested->passes();
    tested->newman_sums(x.data(), sums.data());
    EXPECT_EQ(tested->passes(), passes_before + 1);
    EXPECT_LE(relative_error(sums, naive_newman_sums(data, spec.home_advantage, x.data())), kTolerance)
        << "strengths of sd " << sd;
  }
  tested->hessian_vector(v.data(), hv_after.data());
  // Atomics add in a varying order: the same product to rounding, not to the bit.
  EXPECT_LE(relative_error(hv_after, hv_before), kTolerance) << "newman_sums moved the current point";
}

// An objective that offers Newman's sums from the naive loop and delegates everything else to
// the CPU objective: Newman's iteration through device_sums, checked where there is no GPU.
class NaiveNewmanSums : public Objective {
 public:
  NaiveNewmanSums(const Comparisons& data, bool home_advantage)
      : data_(data), home_(home_advantage), inner_(data, home_advantage, kCpuThreads) {}
  std::size_t n_params() const override { return inner_.n_params(); }
  double value_gradient(const double* theta, double* gradient) override {
    return inner_.value_gradient(theta, gradient);
  }
  void hessian_vector(const double* v, double* hv) override { inner_.hessian_vector(v, hv); }
  void hessian_diagonal(double* diag) override { inner_.hessian_diagonal(diag); }
  void value_gradient_batch(const double* theta, std::size_t k, double* values, double* gradients) override {
    inner_.value_gradient_batch(theta, k, values, gradients);
  }
  bool has_newman_sums() const override { return true; }
  void newman_sums(const double* x, double* sums) override {
    const std::vector<double> naive = naive_newman_sums(data_, home_, x);
    std::copy(naive.begin(), naive.end(), sums);
    ++sums_passes_;
  }
  std::size_t passes() const override { return inner_.passes() + sums_passes_; }
  const char* device_name() const override { return "naive"; }

 private:
  const Comparisons& data_;
  bool home_;
  BradleyTerryCpuObjective inner_;
  std::size_t sums_passes_ = 0;
};

// minimize_newman with device_sums reaches the optimum of the host passes: the same point, in
// as many passes, with and without penalty terms (L2, a prior on h, pseudo-comparisons).
TEST(NewmanDeviceSums, SameOptimumAsTheHostPasses) {
  for (const ComparisonCase& spec : {kComparisonCases[3], kComparisonCases[6], kComparisonCases[7]}) {
    for (const bool penalized : {false, true}) {
      const Comparisons data = make_comparisons(spec);
      const std::size_t p = data.n_items() + (spec.home_advantage ? 1 : 0);
      DiagonalPenalty penalty(p);
      for (std::size_t j = 0; j < data.n_items(); ++j) {
        penalty.l2[j] = penalized ? 0.5 : 0.0;
        penalty.pseudo[j] = penalized ? 0.25 : 0.0;
      }
      if (penalized && spec.home_advantage) {
        penalty.prior_mean[p - 1] = 0.3;
        penalty.prior_precision[p - 1] = 4.0;
      }
      OptimizerSettings settings;
      settings.tolerance = 1e-11;
      std::vector<double> host(p, 0.0), device(p, 0.0);
      const OptimizerResult on_host =
          minimize_newman(data, spec.home_advantage, penalty, host.data(), settings, kCpuThreads);
      NaiveNewmanSums sums(data, spec.home_advantage);
      const OptimizerResult on_device =
          minimize_newman(data, spec.home_advantage, penalty, device.data(), settings, kCpuThreads, &sums);
      SCOPED_TRACE(std::string(spec.name) + (penalized ? ", penalized" : ""));
      ASSERT_EQ(on_host.status, OptimizerStatus::converged);
      ASSERT_EQ(on_device.status, OptimizerStatus::converged);
      EXPECT_LE(relative_error(device, host), 1e-8);
      EXPECT_NEAR(static_cast<double>(on_device.passes), static_cast<double>(on_host.passes), 2.0);
      EXPECT_EQ(sums.passes(), on_device.passes) << "every pass through device_sums";
      EXPECT_TRUE(std::isnan(on_device.data_value));
    }
  }
  // An objective without the sums is refused.
  const Comparisons data = make_comparisons(kComparisonCases[3]);
  BradleyTerryCpuObjective cpu(data, false, 1);
  std::vector<double> theta(data.n_items(), 0.0);
  EXPECT_THROW(minimize_newman(data, false, DiagonalPenalty(data.n_items()), theta.data(), OptimizerSettings{}, 1,
                               &cpu),
               UsageError);
}

// ---------------------------------------------------------------------------------------
// Logistic regression

struct RowCase {
  const char* name;
  std::size_t n_rows;
  std::size_t n_features;
  bool sparse;
  double density;  // sparse: the chance that an entry is stored
  bool weights;    // random weights in [0.1, 3], one in 20 set to 0
  bool intercept;
  std::uint64_t seed;
};

void PrintTo(const RowCase& spec, std::ostream* os) {
  *os << spec.name;
}

Rows make_rows(const RowCase& spec) {
  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Rows data;
  data.n_rows = spec.n_rows;
  data.n_features = spec.n_features;
  data.sparse = spec.sparse;
  for (std::size_t j = 0; j < spec.n_features; ++j) data.feature_names.push_back("x" + std::to_string(j));
  if (spec.sparse) data.row_ptr.push_back(0);
  for (std::size_t i = 0; i < spec.n_rows; ++i) {
    for (std::size_t j = 0; j < spec.n_features; ++j) {
      if (!spec.sparse) {
        data.dense.push_back(normal(rng));
      } else if (uniform(rng) < spec.density) {
        data.col.push_back(static_cast<std::uint32_t>(j));
        data.val.push_back(normal(rng));
      }
    }
    if (spec.sparse) data.row_ptr.push_back(data.val.size());
    data.label.push_back(uniform(rng) < 0.4 ? 1.0 : 0.0);
    if (spec.weights) data.weight.push_back(uniform(rng) < 0.05 ? 0.0 : 0.1 + 2.9 * uniform(rng));
  }
  return data;
}

const RowCase kRowCases[] = {
    {"dense_n1", 1, 3, false, 1.0, false, true, 21},
    {"dense_n255_weights", 255, 7, false, 1.0, true, true, 22},
    {"dense_n1000_no_intercept", 1000, 33, false, 1.0, false, false, 23},
    {"dense_n4099_wide", 4099, 130, false, 1.0, true, true, 24},
    {"dense_n37_beyond_shared_columns", 37, 4100, false, 1.0, false, true, 25},
    {"sparse_n255", 255, 20, true, 0.3, false, true, 26},
    {"sparse_n1000_empty_rows", 1000, 20, true, 0.02, true, true, 27},
    {"sparse_n1000_long_rows", 1000, 200, true, 0.2, false, false, 28},
    {"sparse_n4099_weights", 4099, 500, true, 0.02, true, true, 29},
};

std::unique_ptr<Objective> logistic_under_test(Backend backend, const Rows& data, bool intercept) {
  switch (backend) {
    case Backend::cpu: {
      BackendChoice choice = make_logistic_objective(data, intercept, Device::cpu, kCpuThreads);
      EXPECT_EQ(choice.device, "cpu");
      return std::move(choice.objective);
    }
    case Backend::cuda: {
      BackendChoice choice = make_logistic_objective(data, intercept, Device::cuda, kCpuThreads);
      EXPECT_EQ(choice.device, "cuda");
      return std::move(choice.objective);
    }
    case Backend::cuda_gemv:
#if BTFIT_TEST_HAS_CUDA_BACKEND
      return cuda::make_logistic_objective(data, intercept, cuda::LogisticCudaOptions{false});
#else
      return nullptr;
#endif
    case Backend::cuda_deterministic:
      return nullptr;
  }
  return nullptr;
}

class LogisticBackend : public ::testing::TestWithParam<std::tuple<Backend, RowCase>> {};

TEST_P(LogisticBackend, MatchesReference) {
  const auto [backend, spec] = GetParam();
  BTFIT_SKIP_WITHOUT_CUDA(backend);
  const Rows data = make_rows(spec);
  std::unique_ptr<Objective> tested = logistic_under_test(backend, data, spec.intercept);
  ASSERT_NE(tested, nullptr) << backend_name(backend) << " is not in this build";
  EXPECT_STREQ(tested->device_name(), backend == Backend::cpu ? "cpu" : "cuda");
  std::unique_ptr<Objective> reference;
  if (backend == Backend::cpu) {
    reference = naive_logistic(data, spec.intercept);
  } else {
    reference = std::make_unique<LogisticCpuObjective>(data, spec.intercept, kCpuThreads);
  }
  // Coefficients of sd 1/sqrt(P) keep the margins of wide rows away from saturation.
  const double theta_sd = 1.0 / std::sqrt(static_cast<double>(tested->n_params()));
  expect_matches(*tested, *reference, theta_sd, spec.seed * 7919);
}

INSTANTIATE_TEST_SUITE_P(Backends, LogisticBackend,
                         ::testing::Combine(::testing::Values(Backend::cpu, Backend::cuda,
                                                              Backend::cuda_gemv),
                                            ::testing::ValuesIn(kRowCases)),
                         [](const auto& info) {
                           return backend_name(std::get<0>(info.param)) + "_" + std::get<1>(info.param).name;
                         });

// ---------------------------------------------------------------------------------------
// Whole fits on the GPU: every solver there reaches the CPU's fit (same objective to 1e-10,
// estimates to 1e-6), and the automatic solver runs Newman's iteration with its passes on the
// device. Skipped without a device.

TEST(BackendFits, BradleyTerryOnCudaMatchesTheCpu) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  struct Case {
    Comparisons data;
    bool home;
    double l2;
  };
  ComparisonSimulation simulation;
  simulation.n_items = 1000;
  simulation.n_comparisons = 60000;
  simulation.seed = 41;
  const Case cases[] = {{simulate_comparisons(simulation, nullptr), false, 0.0},
                        {make_comparisons(kComparisonCases[7]), true, 0.1}};
  for (const Case& c : cases) {
    BradleyTerryOptions options;
    options.home_advantage = c.home;
    options.l2 = c.l2;
    options.solver.device = Device::cpu;
    options.solver.tolerance = 1e-10;
    const BradleyTerryFit cpu = fit_bradley_terry(c.data, options);
    ASSERT_EQ(cpu.status, FitStatus::converged) << cpu.diagnosis.message;
    for (const Solver solver : {Solver::automatic, Solver::newton, Solver::lbfgs}) {
      options.solver.device = Device::cuda;
      options.solver.solver = solver;
      const BradleyTerryFit gpu = fit_bradley_terry(c.data, options);
      SCOPED_TRACE(gpu.solver + (c.home ? ", home" : ""));
      ASSERT_EQ(gpu.status, FitStatus::converged);
      EXPECT_EQ(gpu.device, "cuda");
      if (solver == Solver::automatic) {
        EXPECT_EQ(gpu.solver, "newman");
        for (const auto& note : gpu.notes) EXPECT_EQ(note.find("runs on the CPU"), std::string::npos) << note;
        // Each pass counted once: as many as on the CPU, give or take the reported value's.
        EXPECT_NEAR(static_cast<double>(gpu.passes), static_cast<double>(cpu.passes), 3.0);
      }
      EXPECT_LE(relative_error(gpu.objective, cpu.objective), 1e-10);
      EXPECT_LE(relative_error(gpu.strength, cpu.strength), 1e-6);
      EXPECT_LE(relative_error(gpu.se, cpu.se), 1e-6);
      if (c.home) EXPECT_NEAR(gpu.home, cpu.home, 1e-6);
    }
  }
  // Above the dense limit the SEs come through the objective (conjugate gradients with
  // Hessian-vector products on the device, after Newman's iteration there).
  BradleyTerryOptions options;
  options.solver.tolerance = 1e-10;
  options.solver.dense_limit = 100;
  options.large_scale_se.top = 5;
  options.solver.device = Device::cpu;
  const BradleyTerryFit cpu = fit_bradley_terry(cases[0].data, options);
  options.solver.device = Device::cuda;
  const BradleyTerryFit gpu = fit_bradley_terry(cases[0].data, options);
  ASSERT_EQ(gpu.status, FitStatus::converged);
  EXPECT_EQ(gpu.solver, "newman");
  ASSERT_EQ(gpu.se.size(), cpu.se.size());
  std::size_t with_se = 0;
  for (std::size_t i = 0; i < cpu.se.size(); ++i) {
    EXPECT_EQ(std::isfinite(gpu.se[i]), std::isfinite(cpu.se[i])) << "item " << i;
    if (!std::isfinite(cpu.se[i]) || !std::isfinite(gpu.se[i])) continue;
    ++with_se;
    EXPECT_LE(relative_error(gpu.se[i], cpu.se[i]), 1e-6) << "item " << i;
  }
  EXPECT_GE(with_se, 5u);
}

TEST(BackendFits, LogisticOnCudaMatchesTheCpu) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << "no CUDA device: " << why;
  RowSimulation simulation;
  simulation.n_rows = 5000;
  simulation.n_features = 12;
  simulation.seed = 43;
  const Rows rows = simulate_rows(simulation, nullptr);
  LogisticOptions options;
  options.solver.device = Device::cpu;
  options.solver.tolerance = 1e-10;
  const LogisticFit cpu = fit_logistic(rows, options);
  ASSERT_EQ(cpu.status, FitStatus::converged) << cpu.diagnosis;
  for (const Solver solver : {Solver::automatic, Solver::newton, Solver::lbfgs}) {
    options.solver.device = Device::cuda;
    options.solver.solver = solver;
    const LogisticFit gpu = fit_logistic(rows, options);
    SCOPED_TRACE(gpu.solver);
    ASSERT_EQ(gpu.status, FitStatus::converged);
    EXPECT_EQ(gpu.device, "cuda");
    EXPECT_LE(relative_error(gpu.objective, cpu.objective), 1e-10);
    EXPECT_LE(relative_error(gpu.estimate, cpu.estimate), 1e-6);
    EXPECT_LE(relative_error(gpu.se, cpu.se), 1e-6);
  }
}

// ---------------------------------------------------------------------------------------
// Choosing a device

Comparisons small_comparisons() {
  return make_comparisons({"small", 5, 40, false, false, false, false, 31});
}

Rows small_rows() {
  return make_rows({"small", 40, 3, false, 1.0, false, true, 32});
}

TEST(BackendChoice, CpuRunsOnTheCpu) {
  const Comparisons comparisons = small_comparisons();
  const BackendChoice bt = make_bradley_terry_objective(comparisons, false, Device::cpu, 1);
  EXPECT_EQ(bt.device, "cpu");
  EXPECT_STREQ(bt.objective->device_name(), "cpu");
  const Rows rows = small_rows();
  const BackendChoice lg = make_logistic_objective(rows, true, Device::cpu, 1);
  EXPECT_EQ(lg.device, "cpu");
  EXPECT_STREQ(lg.objective->device_name(), "cpu");
}

TEST(BackendChoice, CudaWithoutDeviceThrowsWithTheReason) {
  const std::string why = cuda_unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present: this checks the message given without one";
  const Comparisons comparisons = small_comparisons();
  try {
    make_bradley_terry_objective(comparisons, false, Device::cuda, 1);
    FAIL() << "expected BackendError";
  } catch (const BackendError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("--device cuda"), std::string::npos) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
  }
  const Rows rows = small_rows();
  EXPECT_THROW(make_logistic_objective(rows, true, Device::cuda, 1), BackendError);
}

TEST(BackendChoice, AutomaticFallsBackToTheCpuAndSaysWhy) {
  const std::string why = cuda_unavailable_reason();
  const Comparisons comparisons = small_comparisons();
  const BackendChoice choice = make_bradley_terry_objective(comparisons, false, Device::automatic, 1);
  EXPECT_EQ(choice.device, "cpu");
  EXPECT_STREQ(choice.objective->device_name(), "cpu");
  EXPECT_NE(choice.reason.find("CPU"), std::string::npos) << choice.reason;
  if (!why.empty()) {
    EXPECT_NE(choice.reason.find(why), std::string::npos) << choice.reason;
  } else {
    EXPECT_NE(choice.reason.find("too small"), std::string::npos) << choice.reason;
  }
  const Rows rows = small_rows();
  const BackendChoice logistic = make_logistic_objective(rows, true, Device::automatic, 1);
  EXPECT_EQ(logistic.device, "cpu");
  EXPECT_NE(logistic.reason.find("CPU"), std::string::npos) << logistic.reason;
}

#if BTFIT_TEST_HAS_CUDA_BACKEND
// The error checks name the call, the file and the line, and CUDA's name for the error;
// they need no device.
TEST(BackendCudaCheck, NamesCallFileAndLine) {
  const int check_line = __LINE__ + 2;
  try {
    BTFIT_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "expected BackendError";
  } catch (const BackendError& error) {
    const std::string message = error.what();
    const int line = check_line;
    EXPECT_NE(message.find("cudaErrorInvalidValue"), std::string::npos) << message;
    EXPECT_NE(message.find("test_backends.cpp:" + std::to_string(line)), std::string::npos) << message;
    EXPECT_NE(message.find("CUDA call"), std::string::npos) << message;
  }
  try {
    BTFIT_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
    FAIL() << "expected BackendError";
  } catch (const BackendError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << message;
    EXPECT_NE(message.find("cuBLAS call"), std::string::npos) << message;
  }
}

TEST(BackendCudaCheck, DeviceCountGivesAReasonWhenZero) {
  std::string why = "unset";
  const int count = cuda::device_count(&why);
  if (count == 0) {
    EXPECT_FALSE(why.empty());
    EXPECT_NE(why, "unset");
  } else {
    EXPECT_TRUE(why.empty()) << why;
  }
  EXPECT_EQ(cuda::device_count(nullptr), count);  // a null reason is allowed
}
#endif

}  // namespace
}  // namespace btfit
