// Error checks for CUDA runtime and cuBLAS calls. A failed call throws btfit::BackendError
// naming the call, the file and line, and CUDA's own name and description of the error:
//   BTFIT_CUDA_CHECK(cudaMalloc(&p, bytes));
//   BTFIT_CUBLAS_CHECK(cublasDgemv(...));
//   kernel<<<grid, block, 0, stream>>>(...); BTFIT_CUDA_CHECK_LAUNCH();
// Kernels run asynchronously: a fault inside one surfaces at the next call that waits on the
// stream (a copy back or a synchronize), which is checked like any other call.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "btfit/error.h"

namespace btfit::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw BackendError(std::string("CUDA call ") + call + " failed at " + file + ":" + std::to_string(line) +
                     ": " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file,
                                            int line) {
  throw BackendError(std::string("cuBLAS call ") + call + " failed at " + file + ":" + std::to_string(line) +
                     ": " + cublasGetStatusName(status) + ": " + cublasGetStatusString(status));
}

}  // namespace btfit::cuda

#define BTFIT_CUDA_CHECK(call)                                                        \
  do {                                                                                \
    const cudaError_t btfit_cuda_status_ = (call);                                    \
    if (btfit_cuda_status_ != cudaSuccess)                                            \
      ::btfit::cuda::throw_cuda_error(btfit_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define BTFIT_CUBLAS_CHECK(call)                                                          \
  do {                                                                                    \
    const cublasStatus_t btfit_cublas_status_ = (call);                                   \
    if (btfit_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::btfit::cuda::throw_cublas_error(btfit_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad launch configuration, or a fault left by earlier work.
#define BTFIT_CUDA_CHECK_LAUNCH() BTFIT_CUDA_CHECK(cudaGetLastError())
