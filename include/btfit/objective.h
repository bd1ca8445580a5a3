// The one seam between the optimizers and the data: an Objective.
//
// Call-order contract (LIBLINEAR's): value_gradient(theta) evaluates f and its gradient at
// theta and records theta as the current point; hessian_vector and hessian_diagonal then
// use the curvature at that current point until the next value_gradient call.
// value_gradient_batch evaluates K parameter vectors in one pass over the data and does not
// change the current point; hessian_vector_batch applies the current point's Hessian to K
// vectors in one pass.
// Bootstrap replicates (the *_replicates calls) evaluate K parameter vectors, vector j on the
// data reweighted for replicate batch.first + j: row r of weight w_r gets the weight
// counter_poisson(w_r, batch.seed, batch.first + j, r) (btfit/detail/rng.h; CONVENTIONS.md),
// computed where it is needed, never stored as a replicates x rows matrix.
// value_gradient_replicates records each vector as the current point of its replicate;
// hessian_vector_replicates and hessian_diagonal_replicates then use the curvature there until
// the next value_gradient_replicates call (which must name the same batch). None of them
// changes the current point of value_gradient. Buffers are plain double arrays:
//   theta, gradient:            n_params
//   batched theta, gradients:   n_params x K, column-major (vector k starts at k*n_params)
//   batched values:             K
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "btfit/error.h"

namespace btfit {

// K bootstrap replicates evaluated together: replicates first .. first + count - 1 of `seed`.
struct ReplicateBatch {
  std::uint64_t seed = 0;
  std::uint64_t first = 0;
  std::size_t count = 0;  // K >= 1
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::size_t n_params() const = 0;
  // f(theta); writes the gradient; makes theta the current point.
  virtual double value_gradient(const double* theta, double* gradient) = 0;
  // f(theta) alone, for reporting: a backend may compute it more cheaply than value_gradient
  // (no gradient, no curvature kept). This default calls value_gradient, which makes theta
  // the current point; an override leaves the current point as it was.
  virtual double value(const double* theta) {
    std::vector<double> gradient(n_params());
    return value_gradient(theta, gradient.data());
  }
  // hv = H(current point) * v.
  virtual void hessian_vector(const double* v, double* hv) = 0;
  // diag = diagonal of H(current point) (the Jacobi preconditioner).
  virtual void hessian_diagonal(double* diag) = 0;
  // K evaluations in one pass; the current point is unchanged.
  virtual void value_gradient_batch(const double* theta, std::size_t k, double* values,
                                    double* gradients) = 0;
  // hv_j = H(current point) v_j for K vectors (n_params x K). This default makes K
  // hessian_vector calls; a backend overrides it with one pass.
  virtual void hessian_vector_batch(const double* v, std::size_t k, double* hv) {
    const std::size_t p = n_params();
    for (std::size_t j = 0; j < k; ++j) hessian_vector(v + j * p, hv + j * p);
  }
  // Whether this backend implements the three replicate calls below (the defaults throw).
  virtual bool supports_replicates() const { return false; }
  // values_j, gradient_j of the NLL of replicate batch.first + j at column j of theta, all K in
  // one pass; makes column j the current point of that replicate. values may be null: then
  // only the gradients (and the curvature) are computed, which saves a log per row.
  virtual void value_gradient_replicates(const ReplicateBatch& batch, const double* theta, double* values,
                                         double* gradients) {
    (void)batch, (void)theta, (void)values, (void)gradients;
    throw BackendError(std::string(device_name()) + " objective: bootstrap replicate batches are not implemented");
  }
  // hv_j = H_j v_j, H_j the Hessian of replicate j at its current point (n_params x K).
  virtual void hessian_vector_replicates(const ReplicateBatch& batch, const double* v, double* hv) {
    (void)batch, (void)v, (void)hv;
    throw BackendError(std::string(device_name()) + " objective: bootstrap replicate batches are not implemented");
  }
  // diag_j = diagonal of H_j at replicate j's current point (n_params x K).
  virtual void hessian_diagonal_replicates(const ReplicateBatch& batch, double* diag) {
    (void)batch, (void)diag;
    throw BackendError(std::string(device_name()) + " objective: bootstrap replicate batches are not implemented");
  }
  // Newman's sums for a Bradley-Terry objective (host/newman.cpp), where a backend computes
  // them next to its data (the CUDA backend): at strengths x (then h), sums[2j] = A_j and
  // sums[2j + 1] = B_j over the data, without penalty terms (2 n_params doubles). One pass;
  // the current point is unchanged. The default offers none.
  virtual bool has_newman_sums() const { return false; }
  virtual void newman_sums(const double* x, double* sums) {
    (void)x, (void)sums;
    throw BackendError(std::string(device_name()) + " objective: Newman's sums are not implemented");
  }
  // Passes over the data made so far (value_gradient, hessian_vector and batch calls count
  // one each; the batch counts one however large K is).
  virtual std::size_t passes() const = 0;
  // Which backend evaluates this objective ("cpu", "cuda").
  virtual const char* device_name() const = 0;
};

}  // namespace btfit
