// Logistic regression negative log-likelihood on the device (the function of LIBLINEAR's
// l2r_lr_fun without its penalty; Lin, Weng and Keerthi 2008):
//
//   f(beta)   = sum_i w_i [softplus(eta_i) - y_i eta_i],    eta_i = beta_0 + x_i . beta
//   grad      = Xt^T r,                  r_i = w_i (sigmoid(eta_i) - y_i)
//   H v       = Xt^T (c o (Xt v)),       c_i = w_i sigmoid(eta_i) sigmoid(-eta_i)
//   diag(H)_j = sum_i c_i xt_ij^2
// with Xt = [1 X] when there is an intercept, else X; the per-row terms come from
// btfit/detail/maths.h, as on the CPU. Every pass has the form  sum_i factor_i xt_i  (factor
// = r_i, c_i (xt_i . v) or c_i with squared entries), so one kernel per row layout serves all
// three.
//
// Dense rows (row-major), fused (LogisticCudaOptions::fused, the default): X is read once
// per pass. A block takes tiles of kTileRows rows; its warps compute the tile's margins (a
// warp per row, CUB WarpReduce), then its threads, one per column, add
// sum_{i in tile} factor_i x_ij to the block's column sums while the tile is still in cache.
// The column sums (in shared memory when they fit, else in the block's own row of device
// memory) are added over blocks in block order: no atomics, the same bits on every run.
// Unfused: cuBLAS gemv (X beta), a residual kernel, gemv (X^T r): X is read twice, as in
// cuML's quasi-Newton solvers.
//
// Sparse rows (CSR): a group of lanes per row (4 for short rows, 32 for long ones) computes
// the margin, then scatters factor_i x_ij onto the column sums with atomicAdd.
//
// Batched evaluation of K vectors (theta P x K, column-major), dense rows, in chunks of rows:
//   Eta = X_chunk B (cuBLAS DGEMM),  R = residuals of Eta (a kernel),  G += X_chunk^T R (DGEMM);
// sparse rows: one read of the rows per tile of up to 256 vectors, with blocks of
// (width x rows) threads as in the Bradley-Terry batch.
#include <algorithm>
#include <cstdint>
#include <cub/warp/warp_reduce.cuh>
#include <limits>
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

// Rows per tile of the fused dense kernel.
constexpr int kTileRows = 32;
constexpr int kWarpThreads = 32;
constexpr int kWarpsPerBlock = kBlockThreads / kWarpThreads;
// Columns whose per-block sums the fused dense kernel keeps in shared memory (32 KiB).
constexpr std::size_t kMaxSharedColumns = 4096;
// Device memory for the per-block column sums of the fused dense kernel.
constexpr std::size_t kAccumulatorBytes = std::size_t{256} << 20;
// Device memory for the margins of one chunk of rows in the dense batch (rows x K doubles).
constexpr std::size_t kBatchChunkBytes = std::size_t{1} << 30;
// Average nonzeros per row from which a sparse row gets a whole warp instead of 4 lanes.
constexpr std::size_t kLongSparseRow = 16;

// What a pass adds up: sum_i factor_i xt_i (xt_ij^2 for the diagonal).
enum class Pass { value_gradient, hessian_vector, diagonal };

// The device copy of the rows, passed to kernels by value.
struct RowsView {
  const double* dense = nullptr;           // n_rows x n_features, row-major (dense only)
  const std::uint64_t* row_ptr = nullptr;  // n_rows + 1 (sparse only)
  const std::uint32_t* col = nullptr;      // nnz (sparse only)
  const double* val = nullptr;             // nnz (sparse only)
  const double* label = nullptr;           // n_rows
  const double* weight = nullptr;          // n_rows, or nullptr: every weight is 1
  std::int64_t n_rows = 0;
  std::int64_t n_features = 0;

  __device__ double w(std::int64_t i) const { return weight != nullptr ? weight[i] : 1.0; }
};

// The factor of row i once its margin part  dot = x_i . coef  is known (not for the diagonal).
// value_gradient also adds to f and records the curvature.
template <Pass kPass>
__device__ inline double row_factor(const RowsView& rows, std::int64_t i, double dot, double shift,
                                    double* curvature, double* value) {
  if constexpr (kPass == Pass::value_gradient) {
    const auto terms = bernoulli_terms(dot + shift, rows.label[i], rows.w(i));
    *value += terms.value;
    curvature[i] = terms.curvature;
    return terms.residual;
  } else {
    return curvature[i] * (dot + shift);
  }
}

// Fused dense pass (see the file comment). coef: beta or v without the intercept; shift: the
// intercept's entry (0 without). accumulators: gridDim.x rows of (2 + n_features):
// [f, sum_i factor_i, column sums]. Dynamic shared memory: kTileRows doubles, plus
// n_features when shared_columns.
template <Pass kPass>
__global__ void __launch_bounds__(kBlockThreads)
    dense_tiles_kernel(RowsView rows, const double* coef, double shift, double* curvature,
                       double* accumulators, bool shared_columns) {
  using WarpReduce = cub::WarpReduce<double>;
  __shared__ typename WarpReduce::TempStorage warp_storage[kWarpsPerBlock];
  extern __shared__ double dense_scratch[];
  const std::int64_t nf = rows.n_features;
  double* factors = dense_scratch;
  double* block_row = accumulators + static_cast<std::int64_t>(blockIdx.x) * (2 + nf);
  double* column_sums = shared_columns ? dense_scratch + kTileRows : block_row + 2;
  // Thread t owns columns t, t + blockDim.x, ...: in this loop and in the tile loop below.
  for (std::int64_t j = threadIdx.x; j < nf; j += blockDim.x) column_sums[j] = 0.0;

  const int warp = static_cast<int>(threadIdx.x) / kWarpThreads;
  const int lane = static_cast<int>(threadIdx.x) % kWarpThreads;
  double value = 0.0;       // lane 0 of each warp
  double factor_sum = 0.0;  // lane 0 of each warp: the intercept's component
  const std::int64_t n_tiles = (rows.n_rows + kTileRows - 1) / kTileRows;
  for (std::int64_t tile = blockIdx.x; tile < n_tiles; tile += gridDim.x) {
    const std::int64_t first = tile * kTileRows;
    const int tile_rows = static_cast<int>(std::min<std::int64_t>(kTileRows, rows.n_rows - first));
    // Margins and factors, a warp per row.
    for (int r = warp; r < kTileRows; r += kWarpsPerBlock) {
      double factor = 0.0;
      if (r < tile_rows) {  // the same for the whole warp
        const std::int64_t i = first + r;
        if constexpr (kPass == Pass::diagonal) {
          factor = curvature[i];
        } else {
          const double* x = rows.dense + i * nf;
          double dot = 0.0;
          for (std::int64_t j = lane; j < nf; j += kWarpThreads) dot += x[j] * coef[j];
          dot = WarpReduce(warp_storage[warp]).Sum(dot);  // valid in lane 0
          __syncwarp();                                   // the warp's storage is reused for its next row
          if (lane == 0) factor = row_factor<kPass>(rows, i, dot, shift, curvature, &value);
        }
      }
      if (lane == 0) {
        factors[r] = factor;
        factor_sum += factor;
      }
    }
    __syncthreads();
    // The tile's share of sum_i factor_i x_ij (x_ij^2 for the diagonal), a thread per column.
    const double* tile_x = rows.dense + first * nf;
    for (std::int64_t j = threadIdx.x; j < nf; j += blockDim.x) {
      double sum = 0.0;
      for (int r = 0; r < tile_rows; ++r) {
        const double x = tile_x[r * nf + j];
        sum += factors[r] * (kPass == Pass::diagonal ? x * x : x);
      }
      column_sums[j] += sum;
    }
    __syncthreads();  // factors is rewritten by the next tile
  }
  write_block_sums(value, factor_sum, block_row);
  if (shared_columns) {
    for (std::int64_t j = threadIdx.x; j < nf; j += blockDim.x) block_row[2 + j] = column_sums[j];
  }
}

// out[j] = sum over blocks b < n_blocks, in order, of rows[b * width + j], for j < width.
__global__ void sum_block_rows_kernel(const double* block_rows, std::int64_t n_blocks, std::int64_t width,
                                      double* out) {
  for (std::int64_t j = first_thread(); j < width; j += thread_stride()) {
    double sum = 0.0;
    for (std::int64_t b = 0; b < n_blocks; ++b) sum += block_rows[b * width + j];
    out[j] = sum;
  }
}

// Unfused passes, between two gemv calls: margins[i] holds x_i . coef on entry and the
// factor on exit. partials: (f, sum_i factor_i) per block.
template <Pass kPass>
__global__ void __launch_bounds__(kBlockThreads)
    row_factors_kernel(RowsView rows, double shift, double* margins, double* curvature, double* partials) {
  double value = 0.0;
  double factor_sum = 0.0;
  for (std::int64_t i = first_thread(); i < rows.n_rows; i += thread_stride()) {
    const double factor = row_factor<kPass>(rows, i, margins[i], shift, curvature, &value);
    margins[i] = factor;
    factor_sum += factor;
  }
  write_block_partials(value, factor_sum, partials);
}

// Sparse pass: a group of kLanes lanes per row. column_sums (n_features, zeroed before)
// receives the scatter; partials: (f, sum_i factor_i) per block.
template <Pass kPass, int kLanes>
__global__ void __launch_bounds__(kBlockThreads)
    sparse_rows_kernel(RowsView rows, const double* coef, double shift, double* curvature,
                       double* column_sums, double* partials) {
  constexpr int kGroups = kBlockThreads / kLanes;
  using GroupReduce = cub::WarpReduce<double, kLanes>;
  __shared__ typename GroupReduce::TempStorage group_storage[kGroups];
  const int group = static_cast<int>(threadIdx.x) / kLanes;
  const int lane = static_cast<int>(threadIdx.x) % kLanes;
  double value = 0.0;
  double factor_sum = 0.0;
  // The loop bound is the same for the whole block, so all lanes of a warp reach the group
  // reduction and the shuffle together; rows past the end have no entries and factor 0.
  for (std::int64_t base = static_cast<std::int64_t>(blockIdx.x) * kGroups; base < rows.n_rows;
       base += static_cast<std::int64_t>(gridDim.x) * kGroups) {
    const std::int64_t i = base + group;
    const bool valid = i < rows.n_rows;
    const std::uint64_t begin = valid ? rows.row_ptr[i] : 0;
    const std::uint64_t end = valid ? rows.row_ptr[i + 1] : 0;
    double factor = 0.0;
    if constexpr (kPass == Pass::diagonal) {
      if (valid) factor = curvature[i];
    } else {
      double dot = 0.0;
      for (std::uint64_t e = begin + lane; e < end; e += kLanes) dot += rows.val[e] * coef[rows.col[e]];
      dot = GroupReduce(group_storage[group]).Sum(dot);  // valid in the group's lane 0
      __syncwarp();                                      // the group's storage is reused for its next row
      if (lane == 0 && valid) factor = row_factor<kPass>(rows, i, dot, shift, curvature, &value);
      factor = __shfl_sync(0xffffffffu, factor, 0, kLanes);
    }
    if (lane == 0) factor_sum += factor;
    for (std::uint64_t e = begin + lane; e < end; e += kLanes) {
      const double x = rows.val[e];
      atomicAdd(column_sums + rows.col[e], factor * (kPass == Pass::diagonal ? x * x : x));
    }
  }
  write_block_partials(value, factor_sum, partials);
}

// Dense batch, between the two DGEMMs: eta (chunk_rows x K, column-major) holds X_chunk B on
// entry and the residuals on exit. partials: (f, sum_i r_i) for vector k and block b at
// 2 * (k * gridDim.x + b).
__global__ void __launch_bounds__(kBlockThreads)
    batch_residuals_kernel(RowsView rows, std::int64_t first_row, std::int64_t chunk_rows,
                           const double* theta, std::int64_t n_params, bool intercept, std::int64_t n_vectors,
                           double* eta, double* partials) {
  for (std::int64_t k = blockIdx.y; k < n_vectors; k += gridDim.y) {
    const double shift = intercept ? theta[k * n_params] : 0.0;
    double* column = eta + k * chunk_rows;
    double value = 0.0;
    double residual_sum = 0.0;
    for (std::int64_t i = first_thread(); i < chunk_rows; i += thread_stride()) {
      const std::int64_t row = first_row + i;
      const auto terms = bernoulli_terms(column[i] + shift, rows.label[row], rows.w(row));
      value += terms.value;
      residual_sum += terms.residual;
      column[i] = terms.residual;
    }
    write_block_sums(value, residual_sum, partials + 2 * (k * gridDim.x + blockIdx.x));
  }
}

// Sparse batch: thread (x, y) of a (width x rows) block takes rows y, y + rows, ... of the
// block's share for vector column_begin + x. theta_t and gradient_t: P x n_vectors,
// row-major (gradient_t zeroed before). partials: (f, sum_i r_i) per block and tile column.
__global__ void __launch_bounds__(kBlockThreads)
    sparse_batch_kernel(RowsView rows, const double* theta_t, std::int64_t n_vectors,
                        std::int64_t column_begin, std::int64_t columns, std::int64_t offset,
                        double* gradient_t, double* partials) {
  const std::int64_t column = threadIdx.x;
  const std::int64_t k = column_begin + column;
  double value = 0.0;
  double residual_sum = 0.0;
  if (column < columns) {
    const double shift = offset != 0 ? theta_t[k] : 0.0;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.y;
    for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; i < rows.n_rows;
         i += stride) {
      const std::uint64_t begin = rows.row_ptr[i];
      const std::uint64_t end = rows.row_ptr[i + 1];
      double dot = 0.0;
      for (std::uint64_t e = begin; e < end; ++e)
        dot += rows.val[e] * theta_t[(offset + rows.col[e]) * n_vectors + k];
      const auto terms = bernoulli_terms(dot + shift, rows.label[i], rows.w(i));
      value += terms.value;
      residual_sum += terms.residual;
      for (std::uint64_t e = begin; e < end; ++e) {
        atomicAdd(gradient_t + (offset + rows.col[e]) * n_vectors + k, rows.val[e] * terms.residual);
      }
    }
  }
  write_column_partials(value, residual_sum, partials);
}

class LogisticCudaObjective final : public Objective {
 public:
  LogisticCudaObjective(const Rows& data, bool intercept, const LogisticCudaOptions& options);

  std::size_t n_params() const override { return n_params_; }
  double value_gradient(const double* theta, double* gradient) override;
  void hessian_vector(const double* v, double* hv) override;
  void hessian_diagonal(double* diag) override;
  void value_gradient_batch(const double* theta, std::size_t k, double* values, double* gradients) override;
  std::size_t passes() const override { return passes_; }
  const char* device_name() const override { return "cuda"; }

 private:
  RowsView view() const;
  // One pass of kind kPass with coef (on the device, n_features) and shift; leaves
  // [f, sum_i factor_i, column sums] in sums_ (2 + n_features).
  template <Pass kPass>
  void run_pass(const double* coef, double shift);
  template <Pass kPass>
  void run_dense_fused(const double* coef, double shift);
  template <Pass kPass>
  void run_dense_gemv(const double* coef, double shift);
  template <Pass kPass>
  void run_sparse(const double* coef, double shift);
  // Copies sums_ back: out gets [sum_i factor_i if intercept, column sums]; returns f.
  double finish(double* out);
  void batch_dense(std::size_t k_vectors, double* values, double* intercepts);
  void batch_sparse(std::size_t k_vectors, double* values, double* intercepts);

  std::size_t n_rows_;
  std::size_t n_features_;
  std::size_t offset_;  // 1 with an intercept, else 0
  std::size_t n_params_;
  bool sparse_;
  bool fused_;
  int multiprocessors_;
  int row_blocks_;    // of the per-row kernels (unfused and sparse passes)
  int dense_blocks_;  // of the fused dense kernel
  bool shared_columns_;
  bool long_rows_;  // sparse: a warp per row rather than 4 lanes
  Stream stream_;
  CublasHandle cublas_;
  DeviceBuffer<double> dense_;
  DeviceBuffer<std::uint64_t> row_ptr_;
  DeviceBuffer<std::uint32_t> col_;
  DeviceBuffer<double> val_;
  DeviceBuffer<double> label_, weight_;
  DeviceBuffer<double> curvature_;     // n_rows: c_i at the current point
  DeviceBuffer<double> margins_;       // n_rows: the unfused passes' margins and factors
  DeviceBuffer<double> accumulators_;  // dense_blocks_ x (2 + n_features)
  DeviceBuffer<double> partials_;      // 2 x row_blocks_
  DeviceBuffer<double> vector_in_, sums_;
  DeviceBuffer<double> batch_theta_, batch_theta_t_, batch_gradient_t_, batch_gradient_, batch_eta_,
      batch_partials_;
  std::vector<double> host_sums_, host_partials_;
  std::size_t passes_ = 0;
};

LogisticCudaObjective::LogisticCudaObjective(const Rows& data, bool intercept,
                                             const LogisticCudaOptions& options)
    : n_rows_(data.n_rows),
      n_features_(data.n_features),
      offset_(intercept ? 1 : 0),
      n_params_(data.n_features + (intercept ? 1 : 0)),
      sparse_(data.sparse),
      fused_(options.fused),
      multiprocessors_(select_device()),
      row_blocks_(grid_blocks(data.n_rows, kBlockThreads, multiprocessors_)),
      dense_blocks_(grid_blocks(data.n_rows, kTileRows, multiprocessors_)),
      shared_columns_(data.n_features <= kMaxSharedColumns),
      long_rows_(data.n_rows > 0 && data.nnz() / data.n_rows >= kLongSparseRow),
      cublas_(stream_.get()) {
  if (!sparse_ && !fused_ && n_rows_ > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw BackendError(
        "the unfused (gemv) CUDA logistic objective takes at most 2^31 - 1 rows; this data set has " +
        std::to_string(n_rows_));
  }
  const cudaStream_t stream = stream_.get();
  if (sparse_) {
    row_ptr_ = to_device(data.row_ptr, stream);
    col_ = to_device(data.col, stream);
    val_ = to_device(data.val, stream);
  } else {
    dense_ = to_device(data.dense, stream);
  }
  label_ = to_device(data.label, stream);
  if (!data.weight.empty()) weight_ = to_device(data.weight, stream);
  curvature_.resize(n_rows_);
  curvature_.zero(n_rows_, stream);  // H = 0 until the first value_gradient, as on the CPU
  if (!sparse_ && !fused_) margins_.resize(n_rows_);
  if (!sparse_) {
    const std::size_t row_bytes = (2 + n_features_) * sizeof(double);
    const auto fit = static_cast<int>(std::max<std::size_t>(1, kAccumulatorBytes / row_bytes));
    dense_blocks_ = std::min(dense_blocks_, fit);
    accumulators_.resize(static_cast<std::size_t>(dense_blocks_) * (2 + n_features_));
  }
  partials_.resize(2 * static_cast<std::size_t>(row_blocks_));
  vector_in_.resize(std::max<std::size_t>(n_params_, 1));
  sums_.resize(2 + n_features_);
  host_sums_.resize(2 + n_features_);
  stream_.synchronize();
}

RowsView LogisticCudaObjective::view() const {
  RowsView v;
  v.dense = dense_.data();
  v.row_ptr = row_ptr_.data();
  v.col = col_.data();
  v.val = val_.data();
  v.label = label_.data();
  v.weight = weight_.size() > 0 ? weight_.data() : nullptr;
  v.n_rows = static_cast<std::int64_t>(n_rows_);
  v.n_features = static_cast<std::int64_t>(n_features_);
  return v;
}

template <Pass kPass>
void LogisticCudaObjective::run_pass(const double* coef, double shift) {
  if (sparse_) {
    run_sparse<kPass>(coef, shift);
  } else if constexpr (kPass == Pass::diagonal) {
    run_dense_fused<kPass>(coef, shift);  // one read of X in either form
  } else if (fused_) {
    run_dense_fused<kPass>(coef, shift);
  } else {
    run_dense_gemv<kPass>(coef, shift);
  }
}

template <Pass kPass>
void LogisticCudaObjective::run_dense_fused(const double* coef, double shift) {
  const cudaStream_t stream = stream_.get();
  const std::size_t shared = (kTileRows + (shared_columns_ ? n_features_ : 0)) * sizeof(double);
  dense_tiles_kernel<kPass><<<dense_blocks_, kBlockThreads, shared, stream>>>(
      view(), coef, shift, curvature_.data(), accumulators_.data(), shared_columns_);
  BTFIT_CUDA_CHECK_LAUNCH();
  const auto width = static_cast<std::int64_t>(2 + n_features_);
  sum_block_rows_kernel<<<grid_blocks(2 + n_features_, kBlockThreads, multiprocessors_), kBlockThreads, 0,
                          stream>>>(accumulators_.data(), dense_blocks_, width, sums_.data());
  BTFIT_CUDA_CHECK_LAUNCH();
}

template <Pass kPass>
void LogisticCudaObjective::run_dense_gemv(const double* coef, double shift) {
  const cudaStream_t stream = stream_.get();
  const double one = 1.0;
  const double zero = 0.0;
  const int nf = static_cast<int>(n_features_);
  const int n = static_cast<int>(n_rows_);
  // margins = X coef: X is row-major n x nf, i.e. column-major nf x n, so op T.
  if (nf > 0 && n > 0) {
    BTFIT_CUBLAS_CHECK(cublasDgemv(cublas_.get(), CUBLAS_OP_T, nf, n, &one, dense_.data(), nf, coef, 1, &zero,
                                   margins_.data(), 1));
  } else {
    margins_.zero(n_rows_, stream);
  }
  row_factors_kernel<kPass><<<row_blocks_, kBlockThreads, 0, stream>>>(view(), shift, margins_.data(),
                                                                       curvature_.data(), partials_.data());
  BTFIT_CUDA_CHECK_LAUNCH();
  // column sums = X^T factors.
  if (nf > 0 && n > 0) {
    BTFIT_CUBLAS_CHECK(cublasDgemv(cublas_.get(), CUBLAS_OP_N, nf, n, &one, dense_.data(), nf,
                                   margins_.data(), 1, &zero, sums_.data() + 2, 1));
  } else {
    sums_.zero(2 + n_features_, stream);
  }
  sum_block_rows_kernel<<<1, kBlockThreads, 0, stream>>>(partials_.data(), row_blocks_, 2, sums_.data());
  BTFIT_CUDA_CHECK_LAUNCH();
}

template <Pass kPass>
void LogisticCudaObjective::run_sparse(const double* coef, double shift) {
  const cudaStream_t stream = stream_.get();
  sums_.zero(2 + n_features_, stream);
  if (long_rows_) {
    sparse_rows_kernel<kPass, 32><<<row_blocks_, kBlockThreads, 0, stream>>>(
        view(), coef, shift, curvature_.data(), sums_.data() + 2, partials_.data());
  } else {
    sparse_rows_kernel<kPass, 4><<<row_blocks_, kBlockThreads, 0, stream>>>(
        view(), coef, shift, curvature_.data(), sums_.data() + 2, partials_.data());
  }
  BTFIT_CUDA_CHECK_LAUNCH();
  sum_block_rows_kernel<<<1, kBlockThreads, 0, stream>>>(partials_.data(), row_blocks_, 2, sums_.data());
  BTFIT_CUDA_CHECK_LAUNCH();
}

double LogisticCudaObjective::finish(double* out) {
  sums_.download(host_sums_.data(), host_sums_.size(), stream_.get());
  stream_.synchronize();
  if (offset_ != 0) out[0] = host_sums_[1];
  std::copy(host_sums_.begin() + 2, host_sums_.end(), out + offset_);
  return host_sums_[0];
}

double LogisticCudaObjective::value_gradient(const double* theta, double* gradient) {
  vector_in_.upload(theta, n_params_, stream_.get());
  const double intercept = offset_ != 0 ? theta[0] : 0.0;
  run_pass<Pass::value_gradient>(vector_in_.data() + offset_, intercept);
  ++passes_;
  return finish(gradient);
}

void LogisticCudaObjective::hessian_vector(const double* v, double* hv) {
  vector_in_.upload(v, n_params_, stream_.get());
  const double v0 = offset_ != 0 ? v[0] : 0.0;
  run_pass<Pass::hessian_vector>(vector_in_.data() + offset_, v0);
  ++passes_;
  finish(hv);
}

void LogisticCudaObjective::hessian_diagonal(double* diag) {
  run_pass<Pass::diagonal>(nullptr, 0.0);
  ++passes_;
  finish(diag);
}

void LogisticCudaObjective::value_gradient_batch(const double* theta, std::size_t k_vectors, double* values,
                                                 double* gradients) {
  ++passes_;
  const std::size_t p = n_params_;
  const std::size_t kv = k_vectors;
  if (kv == 0) return;
  const cudaStream_t stream = stream_.get();
  batch_theta_.reserve(p * kv);
  batch_gradient_.reserve(p * kv);
  batch_theta_.upload(theta, p * kv, stream);
  std::vector<double> intercepts(kv, 0.0);
  std::fill(values, values + kv, 0.0);
  if (sparse_) {
    batch_sparse(kv, values, intercepts.data());
  } else {
    batch_dense(kv, values, intercepts.data());
  }
  batch_gradient_.download(gradients, p * kv, stream);
  stream_.synchronize();
  if (offset_ != 0) {
    for (std::size_t k = 0; k < kv; ++k) gradients[k * p] = intercepts[k];
  }
}

void LogisticCudaObjective::batch_dense(std::size_t kv, double* values, double* intercepts) {
  const cudaStream_t stream = stream_.get();
  const std::size_t p = n_params_;
  const std::size_t nf = n_features_;
  batch_gradient_.zero(p * kv, stream);
  if (n_rows_ == 0) return;
  const std::size_t chunk_rows =
      std::clamp<std::size_t>(kBatchChunkBytes / (sizeof(double) * kv), 1, n_rows_);
  batch_eta_.reserve(chunk_rows * kv);
  const int blocks = grid_blocks(chunk_rows, kBlockThreads, multiprocessors_);
  const unsigned vector_blocks = static_cast<unsigned>(std::min<std::size_t>(kv, 65535));
  const std::size_t partial_count = 2 * static_cast<std::size_t>(blocks) * kv;
  batch_partials_.reserve(partial_count);
  host_partials_.resize(std::max(host_partials_.size(), partial_count));
  const double one = 1.0;
  const double zero = 0.0;
  const double* theta = batch_theta_.data();
  for (std::size_t first = 0; first < n_rows_; first += chunk_rows) {
    const std::size_t rows = std::min(chunk_rows, n_rows_ - first);
    const double* x = dense_.data() + first * nf;
    // Eta (rows x K) = X_chunk (rows x nf; column-major nf x rows, so op T) B (nf x K, ld P).
    if (nf > 0) {
      BTFIT_CUBLAS_CHECK(cublasDgemm(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                                     static_cast<int>(kv), static_cast<int>(nf), &one, x,
                                     static_cast<int>(nf), theta + offset_, static_cast<int>(p), &zero,
                                     batch_eta_.data(), static_cast<int>(rows)));
    } else {
      batch_eta_.zero(rows * kv, stream);
    }
    batch_residuals_kernel<<<dim3(static_cast<unsigned>(blocks), vector_blocks), kBlockThreads, 0, stream>>>(
        view(), static_cast<std::int64_t>(first), static_cast<std::int64_t>(rows), theta,
        static_cast<std::int64_t>(p), offset_ != 0, static_cast<std::int64_t>(kv), batch_eta_.data(),
        batch_partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    // G (nf x K, ld P) += X_chunk^T (nf x rows) R (rows x K).
    if (nf > 0) {
      BTFIT_CUBLAS_CHECK(cublasDgemm(cublas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(nf),
                                     static_cast<int>(kv), static_cast<int>(rows), &one, x,
                                     static_cast<int>(nf), batch_eta_.data(), static_cast<int>(rows), &one,
                                     batch_gradient_.data() + offset_, static_cast<int>(p)));
    }
    batch_partials_.download(host_partials_.data(), partial_count, stream);
    stream_.synchronize();
    for (std::size_t k = 0; k < kv; ++k) {
      for (int b = 0; b < blocks; ++b) {
        values[k] += host_partials_[2 * (k * blocks + b)];
        intercepts[k] += host_partials_[2 * (k * blocks + b) + 1];
      }
    }
  }
}

void LogisticCudaObjective::batch_sparse(std::size_t kv, double* values, double* intercepts) {
  const cudaStream_t stream = stream_.get();
  const std::size_t p = n_params_;
  batch_theta_t_.reserve(p * kv);
  batch_gradient_t_.reserve(p * kv);
  transpose(cublas_.get(), batch_theta_.data(), p, kv, batch_theta_t_.data());
  batch_gradient_t_.zero(p * kv, stream);
  for (std::size_t begin = 0; begin < kv; begin += kBlockThreads) {
    const std::size_t columns = std::min<std::size_t>(kBlockThreads, kv - begin);
    const ColumnTile tile = column_tile(columns);
    const int blocks = grid_blocks(n_rows_, static_cast<std::size_t>(tile.rows), multiprocessors_);
    const std::size_t partial_count = 2 * static_cast<std::size_t>(blocks) * tile.width;
    batch_partials_.reserve(partial_count);
    host_partials_.resize(std::max(host_partials_.size(), partial_count));
    sparse_batch_kernel<<<blocks, dim3(static_cast<unsigned>(tile.width), static_cast<unsigned>(tile.rows)),
                          column_partials_shared_bytes(kBlockThreads), stream>>>(
        view(), batch_theta_t_.data(), static_cast<std::int64_t>(kv), static_cast<std::int64_t>(begin),
        static_cast<std::int64_t>(columns), static_cast<std::int64_t>(offset_), batch_gradient_t_.data(),
        batch_partials_.data());
    BTFIT_CUDA_CHECK_LAUNCH();
    batch_partials_.download(host_partials_.data(), partial_count, stream);
    stream_.synchronize();
    add_column_partials(host_partials_, static_cast<std::size_t>(blocks),
                        static_cast<std::size_t>(tile.width), columns, begin, values, intercepts);
  }
  transpose(cublas_.get(), batch_gradient_t_.data(), kv, p, batch_gradient_.data());
}

}  // namespace

std::size_t logistic_device_bytes(const Rows& data, bool intercept, const LogisticCudaOptions& options) {
  const std::size_t n = data.n_rows;
  std::size_t bytes = 0;
  if (data.sparse) {
    bytes += (n + 1) * sizeof(std::uint64_t) + data.nnz() * (sizeof(std::uint32_t) + sizeof(double));
  } else {
    bytes += n * data.n_features * sizeof(double);
    bytes += std::min(kAccumulatorBytes, (2 + data.n_features) * sizeof(double) * 4096);
    if (!options.fused) bytes += n * sizeof(double);  // margins
  }
  bytes += n * sizeof(double) * (data.weight.empty() ? 2 : 3);  // labels, curvature, weights
  bytes += (data.n_features + (intercept ? 1 : 0) + 2) * sizeof(double) * 2;
  // The margins of a batched pass (rows x K, K up to 256 at a time), within their budget.
  if (!data.sparse) bytes += std::min(kBatchChunkBytes, n * 256 * sizeof(double));
  constexpr std::size_t kSlack = std::size_t{64} << 20;  // partials, library scratch, context
  return bytes + kSlack;
}

std::unique_ptr<Objective> make_logistic_objective(const Rows& data, bool intercept,
                                                   const LogisticCudaOptions& options) {
  return std::make_unique<LogisticCudaObjective>(data, intercept, options);
}

}  // namespace btfit::cuda
