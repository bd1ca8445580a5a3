// Choosing the backend that evaluates a data objective. The only place that knows whether
// btfit was built with CUDA is its implementation (host/backend.cpp).
#pragma once

#include <memory>
#include <string>

#include "btfit/data.h"
#include "btfit/objective.h"
#include "btfit/options.h"

namespace btfit {

struct BackendChoice {
  std::unique_ptr<Objective> objective;
  std::string device;  // "cpu" or "cuda"
  std::string reason;  // why this device was chosen (and why another was not)
};

// Bradley-Terry NLL over parameters (s_0 .. s_{n_items-1}[, h]); h is present when
// home_advantage is set (the data must carry home flags).
BackendChoice make_bradley_terry_objective(const Comparisons& data, bool home_advantage,
                                           Device device, int threads, bool deterministic = false);

// Logistic NLL over parameters ([beta_0,] beta_1 .. beta_p).
BackendChoice make_logistic_objective(const Rows& data, bool intercept, Device device, int threads);

// Whether this build has the CUDA backend, and whether a usable device is present (with a
// reason when not).
bool built_with_cuda();
bool cuda_device_available(std::string* reason);

// What a pass over the data is measured against in benchmarks (btfit_bench passes): its
// bytes over the copy bandwidth, and its double-precision work over the device's rates.
struct DeviceFloors {
  double copy_bandwidth = 0.0;  // bytes read plus written per second by a device-to-device copy
  double fp64_rate = 0.0;       // double-precision flops per second (fused multiply-adds)
  double bernoulli_rate = 0.0;  // evaluations per second of the per-comparison maths
                                // (btfit/detail/maths.h bernoulli_terms) with no data read
};

// The CUDA device's floors, the copy over a buffer of `copy_bytes`, each measured now.
// Throws BackendError without CUDA support or a usable device.
DeviceFloors cuda_floors(std::size_t copy_bytes);

}  // namespace btfit
