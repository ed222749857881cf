// A one-line progress bar for a terminal: bar, percent, step, running loss, samples/s, ETA,
// redrawn in place at most ten times a second. Only used when stdout is a terminal; logs and
// pipes get the plain evaluation lines instead.
#pragma once

#include <chrono>
#include <cstdint>

namespace embcomp::cli {

class ProgressBar {
 public:
  /// Redraws the bar for `step` of `total` steps (total 0: unknown), with the running training
  /// loss and samples/s so far; skips the redraw when the last one is under 0.1 s old.
  void update(std::uint64_t step, std::uint64_t total, double loss, double samples_per_second);
  /// Erases the bar so the next line starts clean.
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
  bool drawn_ = false;
};

}  // namespace embcomp::cli
