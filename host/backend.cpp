// Chooses the backend for a data objective: the one place that knows whether btfit was
// built with CUDA.
#include "btfit/backend.h"

#include <string>

#include "btfit/error.h"
#include "objective_cpu.h"

#if defined(BTFIT_WITH_CUDA)
#include "objective_cuda.h"
#endif

namespace btfit {

namespace {
// Below these sizes the CPU is as fast as a device round trip (per pass).
constexpr std::size_t kAutoMinComparisons = 2000000;
constexpr std::size_t kAutoMinRowEntries = 20000000;
}  // namespace

bool built_with_cuda() {
#if defined(BTFIT_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

bool cuda_device_available(std::string* reason) {
#if defined(BTFIT_WITH_CUDA)
  return cuda::device_count(reason) > 0;
#else
  if (reason) *reason = "btfit was built without CUDA support";
  return false;
#endif
}

DeviceFloors cuda_floors(std::size_t copy_bytes) {
  std::string reason;
  if (!cuda_device_available(&reason)) throw BackendError("no CUDA device: " + reason);
  DeviceFloors floors;
#if defined(BTFIT_WITH_CUDA)
  floors.copy_bandwidth = cuda::copy_bandwidth(copy_bytes);
  floors.fp64_rate = cuda::fp64_rate();
  floors.bernoulli_rate = cuda::bernoulli_rate();
#else
  (void)copy_bytes;
#endif
  return floors;
}

namespace {

// Decides cpu or cuda; for cuda, checks that the data fit in device memory.
std::string choose(Device device, std::size_t work, std::size_t min_work, std::size_t device_bytes_needed,
                   std::string* reason) {
  if (device == Device::cpu) {
    *reason = "";
    return "cpu";
  }
  std::string why;
  const bool available = cuda_device_available(&why);
  if (!available) {
    if (device == Device::cuda) throw BackendError("--device cuda: " + why);
    *reason = "device auto: running on the CPU (" + why + ")";
    return "cpu";
  }
#if defined(BTFIT_WITH_CUDA)
  std::size_t free_bytes = 0, total_bytes = 0;
  cuda::device_memory(&free_bytes, &total_bytes);
  if (device_bytes_needed > free_bytes) {
    const std::string msg = "the data need " + std::to_string(device_bytes_needed >> 20) + " MiB on the device, " +
                            std::to_string(free_bytes >> 20) + " MiB are free";
    if (device == Device::cuda) throw BackendError("--device cuda: " + msg);
    *reason = "device auto: running on the CPU (" + msg + ")";
    return "cpu";
  }
  if (device == Device::automatic && work < min_work) {
    *reason = "device auto: running on the CPU (the data are too small for the GPU to gain)";
    return "cpu";
  }
  *reason = "running on " + cuda::device_description();
  return "cuda";
#else
  (void)work;
  (void)min_work;
  (void)device_bytes_needed;
  return "cpu";
#endif
}

}  // namespace

BackendChoice make_bradley_terry_objective(const Comparisons& data, bool home_advantage, Device device,
                                           int threads, bool deterministic) {
  BackendChoice choice;
  std::size_t bytes = 0;
#if defined(BTFIT_WITH_CUDA)
  const cuda::BradleyTerryCudaOptions cuda_options{deterministic};
  if (device != Device::cpu) bytes = cuda::bradley_terry_device_bytes(data, home_advantage, cuda_options);
#else
  (void)deterministic;  // the CPU objective always sums in a fixed order
#endif
  choice.device = choose(device, data.size(), kAutoMinComparisons, bytes, &choice.reason);
#if defined(BTFIT_WITH_CUDA)
  if (choice.device == "cuda") {
    choice.objective = cuda::make_bradley_terry_objective(data, home_advantage, cuda_options);
    return choice;
  }
#endif
  choice.objective = std::make_unique<BradleyTerryCpuObjective>(data, home_advantage, threads);
  return choice;
}

BackendChoice make_logistic_objective(const Rows& data, bool intercept, Device device, int threads) {
  BackendChoice choice;
  std::size_t bytes = 0;
#if defined(BTFIT_WITH_CUDA)
  if (device != Device::cpu) bytes = cuda::logistic_device_bytes(data, intercept);
#endif
  choice.device = choose(device, data.nnz(), kAutoMinRowEntries, bytes, &choice.reason);
#if defined(BTFIT_WITH_CUDA)
  if (choice.device == "cuda") {
    choice.objective = cuda::make_logistic_objective(data, intercept);
    return choice;
  }
#endif
  choice.objective = std::make_unique<LogisticCpuObjective>(data, intercept, threads);
  return choice;
}

}  // namespace btfit
