// Finding and describing the CUDA device: whether one is usable, and if not, why not.
#include <cuda_runtime.h>

#include <string>

#include "cuda_check.cuh"
#include "objective_cuda.h"

#define BTFIT_STRINGIFY_LIST(...) #__VA_ARGS__
#define BTFIT_STRINGIFY(x) BTFIT_STRINGIFY_LIST(x)

namespace btfit::cuda {

namespace {

// An empty kernel: asking for its attributes tells whether this build holds code (machine
// code or PTX) that device 0 can run.
__global__ void probe_kernel() {}

// "13.0" from CUDA's integer version 13000.
std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

// The architectures this file was compiled for, as nvcc lists them ("900" for sm_90).
const char* built_architectures() {
#if defined(__CUDA_ARCH_LIST__)
  return BTFIT_STRINGIFY(__CUDA_ARCH_LIST__);
#else
  return "unknown";
#endif
}

std::string error_text(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

int usable_device_count(std::string* reason) {
  int driver_version = 0;
  int runtime_version = 0;
  // Both only report versions; cudaDriverGetVersion gives 0 when no driver is installed.
  static_cast<void>(cudaDriverGetVersion(&driver_version));
  static_cast<void>(cudaRuntimeGetVersion(&runtime_version));
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    static_cast<void>(cudaGetLastError());  // clear it: it is reported here, as the reason
    if (driver_version == 0) {
      *reason = "no CUDA driver is installed (" + error_text(status) + ")";
    } else if (status == cudaErrorInsufficientDriver) {
      *reason = "the CUDA driver supports CUDA " + version_text(driver_version) + ", older than the CUDA " +
                version_text(runtime_version) + " runtime btfit was built with: update the driver";
    } else if (status == cudaErrorNoDevice) {
      *reason = "no CUDA device is present (" + error_text(status) + ")";
    } else {
      *reason = "cudaGetDeviceCount failed: " + error_text(status);
    }
    return 0;
  }
  if (count == 0) {
    *reason = "no CUDA device is present";
    return 0;
  }
  cudaDeviceProp properties{};
  const cudaError_t properties_status = cudaGetDeviceProperties(&properties, 0);
  if (properties_status != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    *reason = "cudaGetDeviceProperties(0) failed: " + error_text(properties_status);
    return 0;
  }
  const std::string device = std::string(properties.name) + ", compute capability " +
                             std::to_string(properties.major) + "." + std::to_string(properties.minor);
  if (properties.major < 6) {
    *reason = "device 0 (" + device +
              ") is older than compute capability 6.0, which the "
              "double-precision atomics of the CUDA backend need";
    return 0;
  }
  cudaFuncAttributes attributes{};
  const cudaError_t probe_status = cudaFuncGetAttributes(&attributes, probe_kernel);
  if (probe_status != cudaSuccess) {
    static_cast<void>(cudaGetLastError());
    if (probe_status == cudaErrorNoKernelImageForDevice || probe_status == cudaErrorInvalidDeviceFunction) {
      *reason = "btfit was built for CUDA architectures " + std::string(built_architectures()) +
                ", which cannot run on device 0 (" + device +
                "): rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + std::to_string(properties.major) +
                std::to_string(properties.minor);
    } else {
      *reason = "device 0 (" + device + ") cannot run kernels: " + error_text(probe_status);
    }
    return 0;
  }
  reason->clear();
  return count;
}

}  // namespace

int device_count(std::string* reason) {
  std::string why;
  int count = 0;
  try {
    count = usable_device_count(&why);
  } catch (...) {  // only an allocation of the message can throw; report no device
    why = "the CUDA device query failed";
    count = 0;
  }
  if (reason != nullptr) *reason = std::move(why);
  return count;
}

void device_memory(std::size_t* free_bytes, std::size_t* total_bytes) {
  BTFIT_CUDA_CHECK(cudaSetDevice(0));
  std::size_t free_now = 0;
  std::size_t total = 0;
  BTFIT_CUDA_CHECK(cudaMemGetInfo(&free_now, &total));
  if (free_bytes != nullptr) *free_bytes = free_now;
  if (total_bytes != nullptr) *total_bytes = total;
}

double copy_bandwidth(std::size_t bytes) {
  BTFIT_CUDA_CHECK(cudaSetDevice(0));
  void* source = nullptr;
  void* target = nullptr;
  BTFIT_CUDA_CHECK(cudaMalloc(&source, bytes));
  BTFIT_CUDA_CHECK(cudaMalloc(&target, bytes));
  cudaEvent_t start{}, stop{};
  BTFIT_CUDA_CHECK(cudaEventCreate(&start));
  BTFIT_CUDA_CHECK(cudaEventCreate(&stop));
  BTFIT_CUDA_CHECK(cudaMemset(source, 1, bytes));
  BTFIT_CUDA_CHECK(cudaMemcpy(target, source, bytes, cudaMemcpyDeviceToDevice));  // warm-up
  float best_ms = 1e30f;
  for (int r = 0; r < 5; ++r) {
    BTFIT_CUDA_CHECK(cudaEventRecord(start));
    BTFIT_CUDA_CHECK(cudaMemcpy(target, source, bytes, cudaMemcpyDeviceToDevice));
    BTFIT_CUDA_CHECK(cudaEventRecord(stop));
    BTFIT_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    BTFIT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best_ms = ms < best_ms ? ms : best_ms;
  }
  BTFIT_CUDA_CHECK(cudaEventDestroy(start));
  BTFIT_CUDA_CHECK(cudaEventDestroy(stop));
  BTFIT_CUDA_CHECK(cudaFree(source));
  BTFIT_CUDA_CHECK(cudaFree(target));
  return 2.0 * static_cast<double>(bytes) / (1e-3 * static_cast<double>(best_ms));
}

std::string device_description() {
  cudaDeviceProp properties{};
  BTFIT_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  int driver_version = 0;
  BTFIT_CUDA_CHECK(cudaDriverGetVersion(&driver_version));
  return std::string(properties.name) + " (compute capability " + std::to_string(properties.major) + "." +
         std::to_string(properties.minor) + ", " + std::to_string(properties.totalGlobalMem >> 30) +
         " GiB, driver for CUDA " + version_text(driver_version) + ")";
}

}  // namespace btfit::cuda
