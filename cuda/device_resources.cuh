// Owners of device resources (memory, a stream, a cuBLAS handle) and the launch geometry
// shared by the kernels. Every call is checked; destructors release without throwing.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "cuda_check.cuh"

namespace btfit::cuda {

// Threads per block of every kernel in this backend.
constexpr int kBlockThreads = 256;
// Resident blocks per multiprocessor aimed for by grid-stride kernels.
constexpr int kBlocksPerMultiprocessor = 8;

// An array of `size` elements of T in device memory.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t size) { resize(size); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  // Makes room for exactly `size` elements; the contents are lost when the size changes.
  void resize(std::size_t size) {
    if (size == size_) return;
    release();
    if (size > 0) BTFIT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), size * sizeof(T)));
    size_ = size;
  }
  // Makes room for at least `size` elements; the contents are lost when it grows.
  void reserve(std::size_t size) {
    if (size > size_) resize(size);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

  // Copies count elements from host memory to the start of the buffer, on `stream`.
  void upload(const T* host, std::size_t count, cudaStream_t stream) {
    if (count == 0) return;
    BTFIT_CUDA_CHECK(cudaMemcpyAsync(data_, host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  // Copies the first count elements to host memory, on `stream`; the caller synchronizes.
  void download(T* host, std::size_t count, cudaStream_t stream, std::size_t offset = 0) const {
    if (count == 0) return;
    BTFIT_CUDA_CHECK(
        cudaMemcpyAsync(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  }
  // Sets the first count elements to zero bits (0.0 for doubles), on `stream`.
  void zero(std::size_t count, cudaStream_t stream) {
    if (count == 0) return;
    BTFIT_CUDA_CHECK(cudaMemsetAsync(data_, 0, count * sizeof(T), stream));
  }

 private:
  void release() noexcept {
    // A destructor cannot throw: a failed free means the context is already broken, and the
    // call that broke it has thrown.
    if (data_ != nullptr) static_cast<void>(cudaFree(data_));
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// A device buffer holding a copy of a host vector (empty stays empty).
template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host, cudaStream_t stream) {
  DeviceBuffer<T> buffer(host.size());
  buffer.upload(host.data(), host.size(), stream);
  return buffer;
}

// A non-blocking stream on the current device.
class Stream {
 public:
  Stream() { BTFIT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { static_cast<void>(cudaStreamDestroy(stream_)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const { BTFIT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

// A cuBLAS handle bound to one stream, with scalars passed from the host.
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream) {
    BTFIT_CUBLAS_CHECK(cublasCreate(&handle_));
    BTFIT_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    BTFIT_CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
  }
  ~CublasHandle() { static_cast<void>(cublasDestroy(handle_)); }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

// Selects device 0 (the device that device_count, device_memory and device_description
// describe) and returns its multiprocessor count.
inline int select_device() {
  BTFIT_CUDA_CHECK(cudaSetDevice(0));
  int multiprocessors = 0;
  BTFIT_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0));
  return multiprocessors;
}

// Blocks for a grid-stride kernel over `work` items of `per_block` items each: enough to
// fill the device, never more than the work needs, at least one. A result depends only on
// the work and the device, so sums of per-block partials are repeatable.
inline int grid_blocks(std::size_t work, std::size_t per_block, int multiprocessors) {
  const std::size_t needed = (work + per_block - 1) / per_block;
  const std::size_t resident =
      static_cast<std::size_t>(std::max(multiprocessors, 1)) * kBlocksPerMultiprocessor;
  return static_cast<int>(std::max<std::size_t>(1, std::min(needed, resident)));
}

// The grid-stride loop of a one-dimensional launch: for (i = first_thread(); i < n; i += thread_stride()).
__device__ inline std::int64_t first_thread() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t thread_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

// dst (cols x rows, column-major) = the transpose of src (rows x cols, column-major), on the
// handle's stream (cuBLAS geam).
inline void transpose(cublasHandle_t handle, const double* src, std::size_t rows, std::size_t cols,
                      double* dst) {
  if (rows == 0 || cols == 0) return;
  const double one = 1.0;
  const double zero = 0.0;
  const int m = static_cast<int>(cols);
  const int n = static_cast<int>(rows);
  // beta = 0: the second operand is not read; src is passed in its place.
  BTFIT_CUBLAS_CHECK(
      cublasDgeam(handle, CUBLAS_OP_T, CUBLAS_OP_T, m, n, &one, src, n, &zero, src, n, dst, m));
}

// Host sums of per-block partials written as (first, second) pairs: partials[2b], [2b+1].
struct PartialSums {
  double first = 0.0;
  double second = 0.0;
};
inline PartialSums sum_partials(const std::vector<double>& partials, std::size_t blocks) {
  PartialSums sums;
  for (std::size_t block = 0; block < blocks; ++block) {
    sums.first += partials[2 * block];
    sums.second += partials[2 * block + 1];
  }
  return sums;
}

}  // namespace btfit::cuda
