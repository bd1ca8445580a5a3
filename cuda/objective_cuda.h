// The CUDA backend's host-visible entry points (compiles with the host compiler; the
// kernels live in .cu files). Declared here, defined in cuda/*.cu, called only from
// host/backend.cpp (and from the backend tests, which also reach the variants below).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "btfit/data.h"
#include "btfit/objective.h"

namespace btfit::cuda {

// Number of usable CUDA devices; 0 with a reason (no driver, driver too old, no device,
// no code in this build for the device). Never throws.
int device_count(std::string* reason);

// Free and total memory of device 0, in bytes.
void device_memory(std::size_t* free_bytes, std::size_t* total_bytes);

// Device name and compute capability of device 0, for summaries.
std::string device_description();

// Device-to-device copy bandwidth of device 0 over a buffer of `bytes` (bytes read plus
// written per second, best of several cudaMemcpy calls timed with events): the ceiling a
// pass that streams its data is measured against.
double copy_bandwidth(std::size_t bytes);

// The compute floors of a pass (cuda/floors.cu), for benchmarks: the double-precision rate
// of device 0 in flops per second (fused multiply-adds, two flops each, on every
// multiprocessor, measured), and the evaluations per second of the per-comparison maths
// (btfit::detail::bernoulli_terms: value, residual and curvature) with no data to read.
double fp64_rate();
double bernoulli_rate();

// How the Bradley-Terry gradient, Hessian-vector product and diagonal, each a scatter of
// per-comparison terms onto the items, are summed.
struct BradleyTerryCudaOptions {
  // false (default): one atomicAdd per comparison and endpoint. The order of the additions
  // varies between runs, so the last bits of a gradient may too.
  // true: the comparison endpoints are sorted by item once (a CUB radix sort at
  // construction), per-comparison terms are written out and summed per item by a CUB
  // segmented reduction: the same bits on every run on the same device. 16 more bytes per
  // comparison on the device (the sorted endpoints and the terms), 32 more while sorting.
  // Needs fewer than 2^31 comparisons.
  bool deterministic = false;
};

// How dense logistic rows are read.
struct LogisticCudaOptions {
  // true (default): value+gradient and Hessian-vector products read X once: each block takes
  // a tile of rows, computes their margins, then adds their share of X^T r while the tile is
  // in cache. false: two cuBLAS gemv calls (X beta, then X^T r), reading X twice. Sparse
  // (CSR) rows are always read once; their gradient is summed with atomics.
  bool fused = true;
};

// Bytes the device copy of the data needs (to check it fits before copying).
std::size_t bradley_terry_device_bytes(const Comparisons& data, bool home_advantage,
                                       const BradleyTerryCudaOptions& options = {});
std::size_t logistic_device_bytes(const Rows& data, bool intercept, const LogisticCudaOptions& options = {});

// Objectives whose data live on device 0 for their lifetime (the data are copied at
// construction; `data` is not referenced afterwards). Throw BackendError when a CUDA call
// fails (naming the call, file and line).
std::unique_ptr<Objective> make_bradley_terry_objective(const Comparisons& data, bool home_advantage,
                                                        const BradleyTerryCudaOptions& options = {});
std::unique_ptr<Objective> make_logistic_objective(const Rows& data, bool intercept,
                                                   const LogisticCudaOptions& options = {});

}  // namespace btfit::cuda
