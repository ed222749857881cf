// The exceptions embcomp throws. Every message says what was wrong and what would be valid.
#pragma once

#include <stdexcept>
#include <string>

namespace embcomp {

/// Base of every embcomp error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A caller passed something invalid: a bad id, shape, option or factory string.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// A method cannot fit the memory budget it was given. `limit_ratio` is the most extreme
/// compression ratio the method can reach for this schema (the smallest feasible budget).
class InfeasibleBudget : public Error {
 public:
  InfeasibleBudget(const std::string& message, double limit_ratio)
      : Error(message), limit_ratio_(limit_ratio) {}
  double limit_ratio() const { return limit_ratio_; }

 private:
  double limit_ratio_;
};

/// A checkpoint file is truncated, damaged, foreign or from an incompatible version.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

/// A gradient holds NaN or Inf; the optimizer refused the step and changed nothing.
class NonFiniteGradient : public Error {
 public:
  using Error::Error;
};

}  // namespace embcomp
