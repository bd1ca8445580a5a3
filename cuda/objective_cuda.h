// The CUDA backend's host-visible entry points (compiles with the host compiler; the
// kernels live in .cu files). Declared here, defined in cuda/*.cu, called only from
// host/backend.cpp.
#pragma once

#include <memory>
#include <string>

#include "btfit/data.h"
#include "btfit/objective.h"

namespace btfit::cuda {

// Number of usable CUDA devices; 0 with a reason (no driver, driver too old, no device).
int device_count(std::string* reason);

// Free and total memory of device 0, in bytes.
void device_memory(std::size_t* free_bytes, std::size_t* total_bytes);

// Device name and compute capability of device 0, for summaries.
std::string device_description();

// Bytes the device copy of the data needs (to check it fits before copying).
std::size_t bradley_terry_device_bytes(const Comparisons& data, bool home_advantage);
std::size_t logistic_device_bytes(const Rows& data, bool intercept);

// Objectives whose data live on the device for their lifetime. Throw BackendError when a
// CUDA call fails (naming the call, file and line).
std::unique_ptr<Objective> make_bradley_terry_objective(const Comparisons& data, bool home_advantage);
std::unique_ptr<Objective> make_logistic_objective(const Rows& data, bool intercept);

}  // namespace btfit::cuda
