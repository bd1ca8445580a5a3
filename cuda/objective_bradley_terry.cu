// Bradley-Terry negative log-likelihood on the device (Bradley and Terry 1952):
//
//   f(s, h)   = sum_k w_k [softplus(eta_k) - y_k eta_k],   eta_k = s[a_k] - s[b_k] + h home_k
//   df/ds_i   = sum_{k: a_k = i} r_k - sum_{k: b_k = i} r_k,   df/dh = sum_k home_k r_k
//   (H v)_i   = the same scatter of u_k = c_k (v[a_k] - v[b_k] + v_h home_k)
//   diag(H)_i = sum_{k: a_k = i or b_k = i} c_k,               diag(H)_h = sum_k home_k c_k
// with r_k = w_k (sigmoid(eta_k) - y_k) and c_k = w_k sigmoid(eta_k) sigmoid(-eta_k), taken
// from btfit/detail/maths.h as on the CPU. H is a weighted graph Laplacian plus the home row
// and column.
//
// The sums onto items are a scatter, done one of two ways (BradleyTerryCudaOptions):
//   atomic:        each term is atomicAdd-ed onto its two items during the one pass;
//   deterministic: the pass writes each comparison's term to a buffer, then a CUB segmented
//                  reduction sums, for every item, the terms of its comparison endpoints,
//                  which were sorted by item once at construction (a stable CUB radix sort).
// The value and the home-advantage sum are one number each: every block reduces its share
// (CUB BlockReduce) and the host adds the per-block partials in block order, in both modes.
//
// Batched evaluation of K vectors reads the comparisons once per tile of up to 256 vectors:
// theta (P x K, column-major) is transposed to parameter-major order (cuBLAS geam) so that
// the width threads that share a comparison read neighbouring values, and a block of
// (width x rows) threads takes `rows` comparisons at a time, thread x serving vector
// column_begin + x. The deterministic mode holds the terms of a tile (n x tile doubles), so its
// tiles are as wide as a fixed budget of device memory allows.
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <cstdint>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <memory>
#include <string>
#include <vector>

#include "block_partials.cuh"
#include "btfit/detail/maths.h"
#include "btfit/error.h"
#include "cuda_check.cuh"
#include "device_resources.cuh"
#include "objective_cuda.h"

namespace btfit::cuda {

namespace {

using ::btfit::detail::bernoulli_terms;
using ::btfit::detail::bt_margin;
using ::btfit::detail::outcome_y;

// An endpoint of a comparison in the item-sorted incidence list: the comparison's index,
// with the top bit set for its b side (whose gradient terms are negated).
constexpr std::uint32_t kSideB = 0x80000000u;
constexpr std::uint32_t kComparisonMask = 0x7fffffffu;

// Device memory the deterministic mode may use for the terms of one batched tile.
constexpr std::size_t kDeterministicTileBytes = std::size_t{1} << 30;

// The device copy of the comparisons, passed to kernels by value.
struct ComparisonsView {
  const std::uint32_t* a = nullptr;        // n
  const std::uint32_t* b = nullptr;        // n
  const std::uint8_t* outcome2 = nullptr;  // n; 2y
  const double* weight = nullptr;          // n, or nullptr: every weight is 1
  const std::uint8_t* at_home = nullptr;   // n, or nullptr: no home-advantage term
  std::int64_t n = 0;
  std::uint32_t home_index = 0;  // the parameter index of h (n_items)

  __device__ double w(std::int64_t k) const { return weight != nullptr ? weight[k] : 1.0; }
  __device__ bool home(std::int64_t k) const { return at_home != nullptr && at_home[k] != 0; }
};

// f, the gradient and the curvature at theta. kAtomic: the gradient is scattered onto
// `gradient` (zeroed before); otherwise r_k goes to residual[k]. partials: (f, df/dh) per block.
template <bool kAtomic>
__global__ void __launch_bounds__(kBlockThreads)
    value_gradient_kernel(ComparisonsView data, const double* theta, double* gradient, double* residual,
                          double* curvature, double* partials) {
  const double home = data.at_home != nullptr ? theta[data.home_index] : 0.0;
  double value = 0.0;
  double home_gradient = 0.0;
  for (std::int64_t k = first_thread(); k < data.n; k += thread_stride()) {
    const std::uint32_t a = data.a[k];
    const std::uint32_t b = data.b[k];
    const bool at_home = data.home(k);
    const auto terms =
        bernoulli_terms(bt_margin(theta, a, b, home, at_home), outcome_y(data.outcome2[k]), data.w(k));
    value += terms.value;
    if (at_home) home_gradient += terms.residual;
    curvature[k] = terms.curvature;
    if constexpr (kAtomic) {
      atomicAdd(gradient + a, terms.residual);
      atomicAdd(gradient + b, -terms.residual);
    } else {
      residual[k] = terms.residual;
    }
  }
  write_block_partials(value, home_gradient, partials);
}

// H v at the current point: u_k = c_k (v[a] - v[b] + v_h home_k), scattered like the
// gradient (kAtomic) or written to product[k]. partials: (0, (H v)_h) per block.
template <bool kAtomic>
__global__ void __launch_bounds__(kBlockThreads)
    hessian_vector_kernel(ComparisonsView data, const double* v, const double* curvature, double* hv,
                          double* product, double* partials) {
  const double v_home = data.at_home != nullptr ? v[data.home_index] : 0.0;
  double home_sum = 0.0;
  for (std::int64_t k = first_thread(); k < data.n; k += thread_stride()) {
    const std::uint32_t a = data.a[k];
    const std::uint32_t b = data.b[k];
    const bool at_home = data.home(k);
    const double u = curvature[k] * bt_margin(v, a, b, v_home, at_home);
    if (at_home) home_sum += u;
    if constexpr (kAtomic) {
      atomicAdd(hv + a, u);
      atomicAdd(hv + b, -u);
    } else {
      product[k] = u;
    }
  }
  write_block_partials(0.0, home_sum, partials);
}

// diag(H): c_k onto both items (kAtomic; otherwise the curvature buffer itself is reduced by
// item). partials: (0, diag(H)_h) per block.
template <bool kAtomic>
__global__ void __launch_bounds__(kBlockThreads)
    hessian_diagonal_kernel(ComparisonsView data, const double* curvature, double* diag, double* partials) {
  double home_sum = 0.0;
  for (std::int64_t k = first_thread(); k < data.n; k += thread_stride()) {
    const double c = curvature[k];
    if (data.home(k)) home_sum += c;
    if constexpr (kAtomic) {
      atomicAdd(diag + data.a[k], c);
      atomicAdd(diag + data.b[k], c);
    }
  }
  write_block_partials(0.0, home_sum, partials);
}

// K vectors in one read of the comparisons (see the file comment for the thread layout).
// theta_t: P x n_vectors, row-major (parameter j of vector k at j * n_vectors + k).
// kAtomic: gradient_t (same layout, zeroed before) receives the scatter; otherwise
// residuals[c * columns + x] = r for comparison c and tile column x.
// partials: (f, df/dh) per block and tile column, as write_column_partials lays them out.
template <bool kAtomic>
__global__ void __launch_bounds__(kBlockThreads)
    value_gradient_batch_kernel(ComparisonsView data, const double* theta_t, std::int64_t n_vectors,
                                std::int64_t column_begin, std::int64_t columns, double* gradient_t,
                                double* residuals, double* partials) {
  const std::int64_t column = threadIdx.x;
  const std::int64_t k = column_begin + column;
  double value = 0.0;
  double home_gradient = 0.0;
  if (column < columns) {
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.y;
    for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; c < data.n;
         c += stride) {
      const std::int64_t a_at = static_cast<std::int64_t>(data.a[c]) * n_vectors + k;
      const std::int64_t b_at = static_cast<std::int64_t>(data.b[c]) * n_vectors + k;
      const bool at_home = data.home(c);
      // bt_margin, read from the parameter-major copy.
      const double eta =
          theta_t[a_at] - theta_t[b_at] +
          (at_home ? theta_t[static_cast<std::int64_t>(data.home_index) * n_vectors + k] : 0.0);
      const auto terms = bernoulli_terms(eta, outcome_y(data.outcome2[c]), data.w(c));
      value += terms.value;
      if (at_home) home_gradient += terms.residual;
      if constexpr (kAtomic) {
        atomicAdd(gradient_t + a_at, terms.residual);
        atomicAdd(gradient_t + b_at, -terms.residual);
      } else {
        residuals[c * columns + column] = terms.residual;
      }
    }
  }
  write_column_partials(value, home_gradient, partials);
}

// Newman's sums at x (host/newman.cpp): for comparison k with p = sigmoid(eta), q = 1 - p
// (one exp, no cancellation), u = w y q and v = w (1 - y) p go to A_a, B_b (u) and B_a, A_b
// (v) in sums (2 per item, A then B, zeroed before), by atomics. partials: (A_h, B_h) per block.
__global__ void __launch_bounds__(kBlockThreads)
    newman_sums_kernel(ComparisonsView data, const double* x, double* sums, double* partials) {
  const double home = data.at_home != nullptr ? x[data.home_index] : 0.0;
  double home_a = 0.0;
  double home_b = 0.0;
  for (std::int64_t k = first_thread(); k < data.n; k += thread_stride()) {
    const std::uint32_t a = data.a[k];
    const std::uint32_t b = data.b[k];
    const bool at_home = data.home(k);
    const double eta = bt_margin(x, a, b, home, at_home);
    const double e = exp(-fabs(eta));
    const double inv = 1.0 / (1.0 + e);
    const double p = eta >= 0.0 ? inv : e * inv;
    const double q = eta >= 0.0 ? e * inv : inv;
    const double w = data.w(k);
    const double win = 0.5 * w * static_cast<double>(data.outcome2[k]);  // w y
    const double u = win * q;                                             // a's wins weighted by P(a loses)
    const double v = (w - win) * p;                                       // a's losses weighted by P(a wins)
    if (u != 0.0) {
      atomicAdd(sums + 2 * static_cast<std::size_t>(a), u);
      atomicAdd(sums + 2 * static_cast<std::size_t>(b) + 1, u);
    }
    if (v != 0.0) {
      atomicAdd(sums + 2 * static_cast<std::size_t>(a) + 1, v);
      atomicAdd(sums + 2 * static_cast<std::size_t>(b), v);
    }
    if (at_home) {
      home_a += u;
      home_b += v;
    }
  }
  write_block_partials(home_a, home_b, partials);
}

// The unsorted incidence list: entry k < n is comparison k's a side, entry n + k its b side.
__global__ void incidence_entries_kernel(std::uint32_t* entries, std::int64_t n) {
  for (std::int64_t e = first_thread(); e < 2 * n; e += thread_stride()) {
    entries[e] = e < n ? static_cast<std::uint32_t>(e) : (static_cast<std::uint32_t>(e - n) | kSideB);
  }
}

// offsets[i] = the first position of item i in the sorted item list (n_entries past the
// last item), for i in [0, n_segments]: item i's entries are [offsets[i], offsets[i + 1]).
__global__ void item_offsets_kernel(const std::uint32_t* sorted_items, std::int64_t n_entries,
                                    std::int64_t n_segments, std::uint32_t* offsets) {
  for (std::int64_t e = first_thread(); e <= n_entries; e += thread_stride()) {
    const std::int64_t item = e < n_entries ? static_cast<std::int64_t>(sorted_items[e]) : n_segments;
    const std::int64_t previous = e > 0 ? static_cast<std::int64_t>(sorted_items[e - 1]) : -1;
    for (std::int64_t i = previous + 1; i <= item; ++i) offsets[i] = static_cast<std::uint32_t>(e);
  }
}

// The segmented reduction's input: position p of `columns` back-to-back copies of the
// incidence list gives the term of its comparison in that copy's column, negated on the b
// side when signed_terms (gradient, H v) and not (diagonal).
struct EndpointTerm {
  const std::uint32_t* incidence;  // n_entries, sorted by item
  const double* terms;             // n x columns, comparison-major
  std::int64_t n_entries;
  std::int64_t columns;
  bool signed_terms;

  __host__ __device__ double operator()(std::int64_t position) const {
    const std::int64_t column = position / n_entries;
    const std::uint32_t entry = incidence[position - column * n_entries];
    const double term = terms[static_cast<std::int64_t>(entry & kComparisonMask) * columns + column];
    return signed_terms && (entry & kSideB) != 0 ? -term : term;
  }
};

// Segment s = column * n_params + j holds parameter j's entries in that column's copy:
// it begins at SegmentOffset{offsets} and ends at SegmentOffset{offsets + 1}.
struct SegmentOffset {
  const std::uint32_t* item_offsets;  // n_params + 1
  std::int64_t n_params;
  std::int64_t n_entries;

  __host__ __device__ std::int64_t operator()(std::int64_t segment) const {
    const std::int64_t column = segment / n_params;
    return column * n_entries + item_offsets[segment - column * n_params];
  }
};

class BradleyTerryCudaObjective final : public Objective {
 public:
  BradleyTerryCudaObjective(const Comparisons& data, bool home_advantage,
                            const BradleyTerryCudaOptions& options);

  std::size_t n_params() const override { return n_params_; }
  double value_gradient(const double* theta, double* gradient) override;
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values, double* gradients) override;
  // Newman's sums by atomics: offered by the default (atomic) objective only, since their
  // order of addition varies between runs.
  bool has_newman_sums() const override { return !deterministic_; }
  void newman_sums(const double* x, double* sums) override;
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cuda"; }

 private:
  ComparisonsView view() const;
  void build_incidence();
  // out (n_params x columns, column-major) = the per-item sums of terms (n x columns,
  // comparison-major), by the segmented reduction over the sorted incidence list.
  void sum_by_item(const double* terms, std::size_t columns, bool signed_terms, double* out);
  // Copies vector_out_ to `out` and returns the sums of the per-block partials.
  PartialSums finish_single(double* out);

  std::size_t n_;
  std::size_t n_items_;
  std::size_t n_params_;
  bool home_;
  bool deterministic_;
  int multiprocessors_;
  int blocks_;  // of the single-vector kernels; fixed, so their partial sums repeat
  Stream stream_;
  CublasHandle cublas_;
  DeviceBuffer<std::uint32_t> a_, b_;
  DeviceBuffer<std::uint8_t> outcome2_, at_home_;
  DeviceBuffer<double> weight_;
  DeviceBuffer<double> curvature_;  // n: c_k at the current point
  DeviceBuffer<double> vector_in_, vector_out_, partials_;
  DeviceBuffer<double> newman_sums_;  // 2 n_params, on first use
  DeviceBuffer<double> terms_;                // deterministic: n (x tile columns)
  DeviceBuffer<std::uint32_t> incidence_;     // deterministic: 2n, sorted by item
  DeviceBuffer<std::uint32_t> item_offsets_;  // deterministic: n_params + 1
  DeviceBuffer<unsigned char> reduce_scratch_;
  DeviceBuffer<double> batch_theta_, batch_theta_t_, batch_gradient_t_, batch_gradient_, batch_partials_;
  std::vector<double> host_partials_;
  std::size_t passes_ = 0;
};

BradleyTerryCudaObjective::BradleyTerryCudaObjective(const Comparisons& data, bool home_advantage,
                                                     const BradleyTerryCudaOptions& options)
    : n_(data.size()),
      n_items_(data.n_items()),
      n_params_(data.n_items() + (home_advantage ? 1 : 0)),
      home_(home_advantage),
      deterministic_(options.deterministic),
      multiprocessors_(select_device()),
      blocks_(grid_blocks(data.size(), kBlockThreads, multiprocessors_)),
      cublas_(stream_.get()) {
  if (deterministic_ && n_ > kComparisonMask) {
    throw BackendError(
        "the deterministic CUDA Bradley-Terry objective supports fewer than 2^31 "
        "comparisons; this data set has " +
        std::to_string(n_));
  }
  const cudaStream_t stream = stream_.get();
  a_ = to_device(data.a, stream);
  b_ = to_device(data.b, stream);
  outcome2_ = to_device(data.outcome2, stream);
  if (data.has_weights()) weight_ = to_device(data.weight, stream);
  if (home_ && data.has_home_flags()) at_home_ = to_device(data.at_home, stream);
  curvature_.resize(n_);
  curvature_.zero(n_, stream);  // H = 0 until the first value_gradient, as on the CPU
  vector_in_.resize(n_params_);
  vector_out_.resize(n_params_);
  partials_.resize(2 * static_cast<std::size_t>(blocks_));
  host_partials_.resize(partials_.size());
  if (deterministic_) {
    build_incidence();
    terms_.resize(n_);
  }
  stream_.synchronize();
}

ComparisonsView BradleyTerryCudaObjective::view() const {
  ComparisonsView v;
  v.a = a_.data();
  v.b = b_.data();
  v.outcome2 = outcome2_.data();
  v.weight = weight_.size() > 0 ? weight_.data() : nullptr;
  v.at_home = at_home_.size() > 0 ? at_home_.data() : nullptr;
  v.n = static_cast<std::int64_t>(n_);
  v.home_index = static_cast<std::uint32_t>(n_items_);
  return v;
}

void BradleyTerryCudaObjective::build_incidence() {
  const cudaStream_t stream = stream_.get();
  const std::size_t n_entries = 2 * n_;
  incidence_.resize(n_entries);
  item_offsets_.resize(n_params_ + 1);
  if (n_entries > 0) {
    DeviceBuffer<std::uint32_t> items(n_entries);
    DeviceBuffer<std::uint32_t> sorted_items(n_entries);
    DeviceBuffer<std::uint32_t> entries(n_entries);
    BTFIT_CUDA_CHECK(cudaMemcpyAsync(items.data(), a_.data(), n_ * sizeof(std::uint32_t),
                                     cudaMemcpyDeviceToDevice, stream));
    BTFIT_CUDA_CHECK(cudaMemcpyAsync(items.data() + n_, b_.data(), n_ * sizeof(std::uint32_t),
                                     cudaMemcpyDeviceToDevice, stream));
    incidence_entries_kernel<<<grid_blocks(n_entries, kBlockThreads, multiprocessors_), kBlockThreads, 0,
                               stream>>>(entries.data(), static_cast<std::int64_t>(n_));
    BTFIT_CUDA_CHECK_LAUNCH();
    // Only the bits that item ids use are sorted; the sort is stable, so each item's entries
    // stay in comparison order and the reduction order is fixed by the data alone.
    int end_bit = 1;
    while (end_bit < 32 && (std::uint64_t{1} << end_bit) < n_items_) ++end_bit;
    std::size_t scratch_bytes = 0;
    BTFIT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        nullptr, scratch_bytes, items.data(), sorted_items.data(), entries.data(), incidence_.data(),
        static_cast<std::int64_t>(n_entries), 0, end_bit, stream));
    DeviceBuffer<unsigned char> scratch(std::max<std::size_t>(scratch_bytes, 1));  // null asks for the size
    BTFIT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        scratch.data(), scratch_bytes, items.data(), sorted_items.data(), entries.data(), incidence_.data(),
        static_cast<std::int64_t>(n_entries), 0, end_bit, stream));
    item_offsets_kernel<<<grid_blocks(n_entries + 1, kBlockThreads, multiprocessors_), kBlockThreads, 0,
                          stream>>>(sorted_items.data(), static_cast<std::int64_t>(n_entries),
                                    static_cast<std::int64_t>(n_params_), item_offsets_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    stream_.synchronize();  // before the temporaries are freed
  } else {
    item_offsets_.zero(n_params_ + 1, stream);
  }
}

void BradleyTerryCudaObjective::sum_by_item(const double* terms, std::size_t columns, bool signed_terms,
                                            double* out) {
  if (n_params_ == 0 || columns == 0) return;
  const auto n_entries = static_cast<std::int64_t>(2 * n_);
  const auto n_params = static_cast<std::int64_t>(n_params_);
  const thrust::counting_iterator<std::int64_t> counter(0);
  const auto input = thrust::make_transform_iterator(
      counter,
      EndpointTerm{incidence_.data(), terms, n_entries, static_cast<std::int64_t>(columns), signed_terms});
  const auto begins =
      thrust::make_transform_iterator(counter, SegmentOffset{item_offsets_.data(), n_params, n_entries});
  const auto ends =
      thrust::make_transform_iterator(counter, SegmentOffset{item_offsets_.data() + 1, n_params, n_entries});
  const auto segments = n_params * static_cast<std::int64_t>(columns);
  std::size_t scratch_bytes = 0;
  BTFIT_CUDA_CHECK(cub::DeviceSegmentedReduce::Sum(nullptr, scratch_bytes, input, out, segments, begins, ends,
                                                   stream_.get()));
  reduce_scratch_.reserve(std::max<std::size_t>(scratch_bytes, 1));  // null asks for the size
  BTFIT_CUDA_CHECK(cub::DeviceSegmentedReduce::Sum(reduce_scratch_.data(), scratch_bytes, input, out,
                                                   segments, begins, ends, stream_.get()));
}

PartialSums BradleyTerryCudaObjective::finish_single(double* out) {
  const cudaStream_t stream = stream_.get();
  vector_out_.download(out, n_params_, stream);
  partials_.download(host_partials_.data(), partials_.size(), stream);
  stream_.synchronize();
  return sum_partials(host_partials_, static_cast<std::size_t>(blocks_));
}

double BradleyTerryCudaObjective::value_gradient(const double* theta, double* gradient) {
  const cudaStream_t stream = stream_.get();
  vector_in_.upload(theta, n_params_, stream);
  if (deterministic_) {
    value_gradient_kernel<false><<<blocks_, kBlockThreads, 0, stream>>>(
        view(), vector_in_.data(), nullptr, terms_.data(), curvature_.data(), partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    sum_by_item(terms_.data(), 1, true, vector_out_.data());
  } else {
    vector_out_.zero(n_params_, stream);
    value_gradient_kernel<true><<<blocks_, kBlockThreads, 0, stream>>>(
        view(), vector_in_.data(), vector_out_.data(), nullptr, curvature_.data(), partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
  }
  const PartialSums sums = finish_single(gradient);
  if (home_) gradient[n_items_] = sums.second;
  ++passes_;
  return sums.first;
}

void BradleyTerryCudaObjective::hessian_vector(const double* v, double* hv) {
  const cudaStream_t stream = stream_.get();
  vector_in_.upload(v, n_params_, stream);
  if (deterministic_) {
    hessian_vector_kernel<false><<<blocks_, kBlockThreads, 0, stream>>>(
        view(), vector_in_.data(), curvature_.data(), nullptr, terms_.data(), partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    sum_by_item(terms_.data(), 1, true, vector_out_.data());
  } else {
    vector_out_.zero(n_params_, stream);
    hessian_vector_kernel<true><<<blocks_, kBlockThreads, 0, stream>>>(
        view(), vector_in_.data(), curvature_.data(), vector_out_.data(), nullptr, partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
  }
  const PartialSums sums = finish_single(hv);
  if (home_) hv[n_items_] = sums.second;
  ++passes_;
}

void BradleyTerryCudaObjective::hessian_diagonal(double* diag) {
  const cudaStream_t stream = stream_.get();
  if (deterministic_) {
    hessian_diagonal_kernel<false>
        <<<blocks_, kBlockThreads, 0, stream>>>(view(), curvature_.data(), nullptr, partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    sum_by_item(curvature_.data(), 1, false, vector_out_.data());
  } else {
    vector_out_.zero(n_params_, stream);
    hessian_diagonal_kernel<true><<<blocks_, kBlockThreads, 0, stream>>>(
        view(), curvature_.data(), vector_out_.data(), partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
  }
  const PartialSums sums = finish_single(diag);
  if (home_) diag[n_items_] = sums.second;
  ++passes_;
}

void BradleyTerryCudaObjective::newman_sums(const double* x, double* sums) {
  if (deterministic_) {
    throw BackendError("the deterministic CUDA Bradley-Terry objective does not offer Newman's sums");
  }
  const cudaStream_t stream = stream_.get();
  const std::size_t count = 2 * n_params_;
  newman_sums_.reserve(count);
  vector_in_.upload(x, n_params_, stream);
  newman_sums_.zero(count, stream);
  newman_sums_kernel<<<blocks_, kBlockThreads, 0, stream>>>(view(), vector_in_.data(), newman_sums_.data(),
                                                             partials_.data());
  BTFIT_CUDA_CHECK_LAUNCH();
  newman_sums_.download(sums, count, stream);
  partials_.download(host_partials_.data(), partials_.size(), stream);
  stream_.synchronize();
  const PartialSums home = sum_partials(host_partials_, static_cast<std::size_t>(blocks_));
  if (home_) {
    sums[2 * n_items_] = home.first;
    sums[2 * n_items_ + 1] = home.second;
  }
  ++passes_;
}

void BradleyTerryCudaObjective::value_gradient_batch(const double* theta, std::size_t k_vectors,
                                                     double* values, double* gradients) {
  ++passes_;
  const std::size_t p = n_params_;
  const std::size_t kv = k_vectors;
  if (kv == 0) return;
  const cudaStream_t stream = stream_.get();
  batch_theta_.reserve(p * kv);
  batch_theta_t_.reserve(p * kv);
  batch_gradient_.reserve(p * kv);
  batch_theta_.upload(theta, p * kv, stream);
  transpose(cublas_.get(), batch_theta_.data(), p, kv, batch_theta_t_.data());
  if (!deterministic_) {
    batch_gradient_t_.reserve(p * kv);
    batch_gradient_t_.zero(p * kv, stream);
  }
  std::size_t tile_limit = kBlockThreads;
  if (deterministic_) {
    const std::size_t fit = kDeterministicTileBytes / (sizeof(double) * std::max<std::size_t>(n_, 1));
    tile_limit = std::clamp<std::size_t>(fit, 1, kBlockThreads);
  }
  std::vector<double> home_gradients(kv, 0.0);
  for (std::size_t begin = 0; begin < kv; begin += tile_limit) {
    const std::size_t columns = std::min(tile_limit, kv - begin);
    const ColumnTile tile = column_tile(columns);
    const int blocks = grid_blocks(n_, static_cast<std::size_t>(tile.rows), multiprocessors_);
    const std::size_t partial_count = 2 * static_cast<std::size_t>(blocks) * tile.width;
    batch_partials_.reserve(partial_count);
    const dim3 block(static_cast<unsigned>(tile.width), static_cast<unsigned>(tile.rows));
    const std::size_t shared = column_partials_shared_bytes(kBlockThreads);
    const auto n_vectors = static_cast<std::int64_t>(kv);
    if (deterministic_) {
      terms_.reserve(n_ * columns);
      value_gradient_batch_kernel<false><<<blocks, block, shared, stream>>>(
          view(), batch_theta_t_.data(), n_vectors, static_cast<std::int64_t>(begin),
          static_cast<std::int64_t>(columns), nullptr, terms_.data(), batch_partials_.data());
      BTFIT_CUDA_CHECK_LAUNCH();
      sum_by_item(terms_.data(), columns, true, batch_gradient_.data() + begin * p);
    } else {
      value_gradient_batch_kernel<true><<<blocks, block, shared, stream>>>(
          view(), batch_theta_t_.data(), n_vectors, static_cast<std::int64_t>(begin),
          static_cast<std::int64_t>(columns), batch_gradient_t_.data(), nullptr, batch_partials_.data());
      BTFIT_CUDA_CHECK_LAUNCH();
    }
    host_partials_.resize(std::max(host_partials_.size(), partial_count));
    batch_partials_.download(host_partials_.data(), partial_count, stream);
    stream_.synchronize();
    add_column_partials(host_partials_, static_cast<std::size_t>(blocks),
                        static_cast<std::size_t>(tile.width), columns, begin, values, home_gradients.data());
  }
  if (!deterministic_) transpose(cublas_.get(), batch_gradient_t_.data(), kv, p, batch_gradient_.data());
  batch_gradient_.download(gradients, p * kv, stream);
  stream_.synchronize();
  if (home_) {
    for (std::size_t k = 0; k < kv; ++k) gradients[k * p + n_items_] = home_gradients[k];
  }
}

}  // namespace

std::size_t bradley_terry_device_bytes(const Comparisons& data, bool home_advantage,
                                       const BradleyTerryCudaOptions& options) {
  const std::size_t n = data.size();
  const std::size_t p = data.n_items() + (home_advantage ? 1 : 0);
  std::size_t per_comparison =
      2 * sizeof(std::uint32_t) + sizeof(std::uint8_t) + sizeof(double);  // + curvature
  if (data.has_weights()) per_comparison += sizeof(double);
  if (home_advantage && data.has_home_flags()) per_comparison += sizeof(std::uint8_t);
  // While the incidence list is sorted: items in and out, entries in and out, 2n of each
  // (32 bytes per comparison, 8 of which stay), CUB's sort scratch (about as much again as
  // the keys and values, 16 bytes), plus the terms buffer.
  if (options.deterministic) per_comparison += 2 * 4 * sizeof(std::uint32_t) + 16 + sizeof(double);
  const std::size_t per_param = 2 * sizeof(double) + sizeof(std::uint32_t);
  constexpr std::size_t kSlack = std::size_t{64} << 20;  // partials, library scratch, context
  return n * per_comparison + p * per_param + kSlack;
}

std::unique_ptr<Objective> make_bradley_terry_objective(const Comparisons& data, bool home_advantage,
                                                        const BradleyTerryCudaOptions& options) {
  return std::make_unique<BradleyTerryCudaObjective>(data, home_advantage, options);
}

}  // namespace btfit::cuda
