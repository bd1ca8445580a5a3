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

// The CUDA device's copy bandwidth (bytes read plus written per second) over a buffer of
// `bytes`, for benchmarks. Throws BackendError without CUDA support or a usable device.
double cuda_copy_bandwidth(std::size_t bytes);

}  // namespace btfit
