#include "progress.hpp"

#include <cstdio>
#include <string>

namespace embcomp::cli {

namespace {

constexpr int kBarWidth = 30;

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

}  // namespace

void ProgressBar::update(std::uint64_t step, std::uint64_t total, double loss,
                         double samples_per_second) {
  const Clock::time_point now = Clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && step != total) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < kBarWidth) bar += '>';
  bar.resize(kBarWidth, ' ');
  const std::string eta =
      step > 0 && total > step ? format_duration(elapsed * static_cast<double>(total - step) /
                                                 static_cast<double>(step))
                               : "-";
  std::printf("\r[%s] %3.0f%%  step %llu/%llu  loss %.5f  %.0f samples/s  eta %s\x1b[K",
              bar.c_str(), 100.0 * fraction, static_cast<unsigned long long>(step),
              static_cast<unsigned long long>(total), loss, samples_per_second, eta.c_str());
  std::fflush(stdout);
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::printf("\r\x1b[K");
  std::fflush(stdout);
  drawn_ = false;
}

}  // namespace embcomp::cli
