// The one seam between the optimizers and the data: an Objective.
//
// Call-order contract (LIBLINEAR's): value_gradient(theta) evaluates f and its gradient at
// theta and records theta as the current point; hessian_vector and hessian_diagonal then
// use the curvature at that current point until the next value_gradient call.
// value_gradient_batch evaluates K parameter vectors in one pass over the data and does not
// change the current point. Buffers are plain double arrays:
//   theta, gradient:            n_params
//   batched theta, gradients:   n_params x K, column-major (vector k starts at k*n_params)
//   batched values:             K
#pragma once

#include <cstddef>
#include <memory>

namespace btfit {

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::size_t n_params() const = 0;
  // f(theta); writes the gradient; makes theta the current point.
  virtual double value_gradient(const double* theta, double* gradient) = 0;
  // hv = H(current point) * v.
  virtual void hessian_vector(const double* v, double* hv) = 0;
  // diag = diagonal of H(current point) (the Jacobi preconditioner).
  virtual void hessian_diagonal(double* diag) = 0;
  // K evaluations in one pass; the current point is unchanged.
  virtual void value_gradient_batch(const double* theta, std::size_t k, double* values,
                                    double* gradients) = 0;
  // Passes over the data made so far (value_gradient, hessian_vector and batch calls count
  // one each; the batch counts one however large K is).
  virtual std::size_t passes() const = 0;
  // Which backend evaluates this objective ("cpu", "cuda").
  virtual const char* device_name() const = 0;
};

}  // namespace btfit
