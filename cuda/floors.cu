// The compute floors a pass is judged against in benchmarks (btfit_bench passes): the
// device's double-precision rate, and the rate at which it evaluates the per-comparison
// maths of btfit/detail/maths.h with no data to read. Each is the best of several timed
// launches (CUDA events) on device 0.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block_partials.cuh"
#include "btfit/detail/maths.h"
#include "btfit/error.h"
#include "cuda_check.cuh"
#include "device_resources.cuh"
#include "objective_cuda.h"

namespace btfit::cuda {

namespace {

// Independent multiply-add chains per thread: enough to hide the FMA latency.
constexpr int kChains = 8;

// x <- x * m + c, kChains chains of `iterations` fused multiply-adds per thread; each
// thread's sum is written so that none of the work can be left out.
__global__ void __launch_bounds__(kBlockThreads) fma_kernel(int iterations, double m, double c, double* out) {
  double x[kChains];
#pragma unroll
  for (int j = 0; j < kChains; ++j) x[j] = 1e-3 * (threadIdx.x + j);
  for (int i = 0; i < iterations; ++i) {
#pragma unroll
    for (int j = 0; j < kChains; ++j) x[j] = fma(x[j], m, c);
  }
  double sum = 0.0;
#pragma unroll
  for (int j = 0; j < kChains; ++j) sum += x[j];
  out[first_thread()] = sum;
}

// bernoulli_terms (value, residual and curvature) at n margins made from the index; one sum
// per block.
__global__ void __launch_bounds__(kBlockThreads) bernoulli_kernel(std::int64_t n, double* partials) {
  double total = 0.0;
  for (std::int64_t k = first_thread(); k < n; k += thread_stride()) {
    const double eta = 1e-6 * static_cast<double>(k & 0xfffff) - 0.5;
    const auto terms = ::btfit::detail::bernoulli_terms(eta, 1.0, 1.0);
    total += terms.value + terms.residual + terms.curvature;
  }
  write_block_partials(total, 0.0, partials);
}

// Best of `repeat` timed launches of `launch` (after one untimed), in seconds.
template <class Launch>
double best_launch_seconds(int repeat, Launch&& launch) {
  cudaEvent_t start{}, stop{};
  BTFIT_CUDA_CHECK(cudaEventCreate(&start));
  BTFIT_CUDA_CHECK(cudaEventCreate(&stop));
  launch();
  BTFIT_CUDA_CHECK(cudaDeviceSynchronize());
  float best_ms = 1e30f;
  for (int r = 0; r < repeat; ++r) {
    BTFIT_CUDA_CHECK(cudaEventRecord(start));
    launch();
    BTFIT_CUDA_CHECK(cudaEventRecord(stop));
    BTFIT_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    BTFIT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = std::min(best_ms, ms);
  }
  BTFIT_CUDA_CHECK(cudaEventDestroy(start));
  BTFIT_CUDA_CHECK(cudaEventDestroy(stop));
  return 1e-3 * static_cast<double>(best_ms);
}

}  // namespace

double fp64_rate() {
  const int multiprocessors = select_device();
  const int blocks = multiprocessors * kBlocksPerMultiprocessor;
  const int iterations = 1 << 14;
  DeviceBuffer<double> out(static_cast<std::size_t>(blocks) * kBlockThreads);
  const double seconds = best_launch_seconds(3, [&] {
    fma_kernel<<<blocks, kBlockThreads>>>(iterations, 0.999999, 1e-7, out.data());
    BTFIT_CUDA_CHECK_LAUNCH();
  });
  const double fmas = static_cast<double>(blocks) * kBlockThreads * kChains * iterations;
  return 2.0 * fmas / seconds;
}

double bernoulli_rate() {
  const int multiprocessors = select_device();
  const std::int64_t n = std::int64_t{1} << 28;
  const int blocks = grid_blocks(static_cast<std::size_t>(n), kBlockThreads, multiprocessors);
  DeviceBuffer<double> partials(2 * static_cast<std::size_t>(blocks));
  const double seconds = best_launch_seconds(3, [&] {
    bernoulli_kernel<<<blocks, kBlockThreads>>>(n, partials.data());
    BTFIT_CUDA_CHECK_LAUNCH();
  });
  std::vector<double> host(partials.size());
  BTFIT_CUDA_CHECK(cudaMemcpy(host.data(), partials.data(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  if (!(sum_partials(host, static_cast<std::size_t>(blocks)).first > 0.0)) {
    throw BackendError("bernoulli_rate: the sum of the evaluated terms is not positive");
  }
  return static_cast<double>(n) / seconds;
}

}  // namespace btfit::cuda
